package dump_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/dump"
)

// TestReportTextExactBytes: the text report shows a path that is not valid
// UTF-8 and holds a newline from its exact bytes, as one quoted token, and
// the JSON report carries those bytes in path_b64 only (the raw fields are
// not in it). A report decoded from its JSON still writes its text.
func TestReportTextExactBytes(t *testing.T) {
	name := filepath.Join(t.TempDir(), "odd\xff\nname")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := dump.Run(os.Getpid(), dump.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep := d.Report(nil)
	var obj *dump.ObjectReport
	for i, o := range rep.Processes[0].Objects {
		if o.FD == int(f.Fd()) && o.Kind == "fd" {
			obj = &rep.Processes[0].Objects[i]
		}
	}
	if obj == nil {
		t.Fatalf("fd %d not in the report", f.Fd())
	}
	if !bytes.Equal(obj.RawPath, []byte(name)) {
		t.Fatalf("fd %d: raw path %q, want %q (verdict %s: %s)", f.Fd(), obj.RawPath, name, obj.Verdict, obj.Reason)
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	label, want := "fd "+strconv.Itoa(int(f.Fd()))+" ", strconv.Quote(name)
	var line string
	for _, l := range strings.Split(text.String(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), label) {
			line = l
		}
	}
	if !strings.Contains(line, want) {
		t.Errorf("text line of fd %d %q does not show %s:\n%s", f.Fd(), line, want, text.String())
	}

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if s := js.String(); strings.Contains(s, "RawPath") || strings.Contains(s, "RawLink") {
		t.Errorf("the raw fields are in the JSON report")
	}
	var back dump.Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	for _, o := range back.Processes[0].Objects {
		if o.FD != int(f.Fd()) || o.Kind != "fd" {
			continue
		}
		if b, err := base64.StdEncoding.DecodeString(o.PathB64); err != nil || !bytes.Equal(b, []byte(name)) {
			t.Errorf("path_b64 %q decodes to %q (%v), want %q", o.PathB64, b, err, name)
		}
	}
	var text2 bytes.Buffer
	if err := back.WriteText(&text2); err != nil {
		t.Fatal(err)
	}
	if want := strconv.Quote(strings.ToValidUTF8(name, "\uFFFD")); !strings.Contains(text2.String(), want) {
		t.Errorf("text of the decoded report does not show the readable path %s:\n%s", want, text2.String())
	}
}
