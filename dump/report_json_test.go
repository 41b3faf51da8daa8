package dump_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/ovlfix/ovlfix/dump"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
)

// wholeJSON is how the report was written before it was streamed: the
// whole value through one indenting encoder. WriteJSON must match it byte
// for byte (the schema is docs/report.md; readers may diff reports).
func wholeJSON(t *testing.T, rep *dump.Report) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func checkStreamed(t *testing.T, name string, rep *dump.Report) {
	t.Helper()
	var got bytes.Buffer
	if err := rep.WriteJSON(&got); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if want := wholeJSON(t, rep); !bytes.Equal(got.Bytes(), want) {
		t.Errorf("%s: streamed JSON differs from the whole encoding\ngot:\n%s\nwant:\n%s", name, got.Bytes(), want)
	}
}

// nasty holds what encoding/json escapes: control bytes, quotes, HTML,
// U+2028, an invalid UTF-8 byte.
const nasty = "a\nb\t\"c\\<d>&e\u2028f\xffg\x01"

// fullObject sets every member of ObjectReport.
func fullObject() dump.ObjectReport {
	wd := int32(7)
	return dump.ObjectReport{Kind: "watch", FD: 3, WD: &wd, Range: "1000-2000", Link: nasty, LinkB64: "YQ==",
		KernelMntID: 5, Verdict: "fixed", Path: nasty, PathB64: "YQ==", MntID: 6, Mountpoint: nasty,
		FSType: "overlay", Dev: "0:42", Ino: 9, Deleted: true, Reason: nasty,
		Evidence: []string{nasty, ""}, Error: nasty, FileID: 11,
		RawLink: []byte("a"), RawPath: []byte("a")} // json:"-": set, so the shapes test shows they stay out
}

// TestWriteJSONShapes covers every optional and empty member, and strings
// that encoding/json escapes (control bytes, HTML, U+2028, invalid UTF-8).
func TestWriteJSONShapes(t *testing.T) {
	full := fullObject()
	for name, rep := range map[string]*dump.Report{
		"zero":          {},
		"no processes":  {Version: 1, Kernel: "6.18", RootPID: 1, Counts: map[string]int{}},
		"empty process": {Counts: map[string]int{"ok": 1}, Processes: []dump.ProcessReport{{PID: 1, Objects: []dump.ObjectReport{}}}},
		"nil objects":   {Processes: []dump.ProcessReport{{PID: 1}}},
		"zero object":   {Processes: []dump.ProcessReport{{Objects: []dump.ObjectReport{{}}}}},
		"all members": {Version: 1, Kernel: nasty, RootPID: 2, Images: nasty, Counts: map[string]int{"ok": 1, "fixed": 2},
			Processes: []dump.ProcessReport{
				{PID: 2, TGID: 2, PPID: 1, Comm: nasty, FilesID: 1, MntNS: 1, MntNSIno: 4026531840, Objects: []dump.ObjectReport{full, {Kind: "fd"}, {Kind: "cwd", FD: -1, KernelMntID: -1, MntID: -1, Evidence: []string{}}}},
				{PID: 3, Objects: []dump.ObjectReport{full}},
			},
			LeftOut: []dump.LeftOutTask{{PID: 4, TGID: 4, Reason: nasty}}},
	} {
		checkStreamed(t, name, rep)
	}
}

// TestWriteJSONLive streams the report of a real process (every kind of
// object the demo scenario holds) and compares it with the whole encoding.
func TestWriteJSONLive(t *testing.T) {
	c := scenariotest.StartT(t, "", scenario.Demo)
	d, err := dump.Run(c.PID, dump.Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkStreamed(t, "live", d.Report(nil))
}

// TestWriteJSONEveryObjectMember guards the hand-written object encoder:
// the fully populated object of TestWriteJSONShapes must set every member
// of ObjectReport, so a member added later without an encoder line fails
// here instead of going missing from reports.
func TestWriteJSONEveryObjectMember(t *testing.T) {
	o := reflect.ValueOf(fullObject())
	for i := range o.NumField() {
		if o.Field(i).IsZero() {
			t.Errorf("fullObject leaves ObjectReport.%s zero: set it (and encode it in appendObjectReport)", o.Type().Field(i).Name)
		}
	}
}

// TestWriteJSONStrings compares the string escaping with encoding/json on
// every single byte, every rune class it treats apart, and random bytes.
func TestWriteJSONStrings(t *testing.T) {
	var cases []string
	for b := range 256 {
		cases = append(cases, string([]byte{byte(b)}), "x"+string([]byte{byte(b)})+"y")
	}
	cases = append(cases, "", "\u2028\u2029", "é\u00a0€𝄞", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x80", "a\xe2\x80\xa8b")
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, rnd.IntN(12))
		for i := range b {
			b[i] = byte(rnd.IntN(256))
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		o := dump.ObjectReport{Kind: s, Link: s, Path: s, Reason: s, Evidence: []string{s}}
		checkStreamed(t, fmt.Sprintf("%q", s), &dump.Report{Processes: []dump.ProcessReport{{Objects: []dump.ObjectReport{o}}}})
	}
}
