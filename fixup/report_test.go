package fixup

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// forgedDiffLine is a whole line of the diff, to be smuggled in by a name.
const forgedDiffLine = "files.img id 1 (pid 1 fd 1): mnt_id 1 -> 2, name unchanged"

// WriteDiff shows every name, problem and note as one quoted token: a
// hostile name or a reason that embeds one adds no line, and each quoted
// token unquotes to the exact bytes.
func TestWriteDiffQuotesUntrustedStrings(t *testing.T) {
	oldName := []byte("/a\n" + forgedDiffLine)
	newName := []byte("/b \"\t\xff")
	rep := &Report{Checked: 3,
		Changes:  []Change{{FileID: 7, VPID: 1, HostPID: 1, Object: "fd 3", OldName: oldName, NewName: newName, OldMntID: 23, NewMntID: 31}},
		Problems: []Problem{{FileID: 8, Object: "fd 4", What: "CRIU's name does not exist: open /x\n" + forgedDiffLine}},
		Notes:    []Problem{{FileID: 9, Object: "cwd", What: "ambiguous\r\n" + forgedDiffLine}},
		Backup:   "/proc/1/fd/3/" + BackupFile,
	}
	var out bytes.Buffer
	if err := rep.WriteDiff(&out); err != nil {
		t.Fatal(err)
	}
	t.Logf("diff:\n%s", out.String())
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4 (change, problem, note, summary)", len(lines))
	}
	for i, l := range lines {
		if l == forgedDiffLine {
			t.Errorf("line %d is forged", i+1)
		}
	}
	q := `("(?:[^"\\]|\\.)*")`
	m := regexp.MustCompile(`^files\.img id 7 \(pid 1 fd 3\): mnt_id 23 -> 31, name ` + q + ` -> ` + q + `$`).FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("change line %q", lines[0])
	}
	if o, err := strconv.Unquote(m[1]); err != nil || o != string(oldName) {
		t.Errorf("old name shown as %s", m[1])
	}
	if n, err := strconv.Unquote(m[2]); err != nil || n != string(newName) {
		t.Errorf("new name shown as %s", m[2])
	}
	for i, prefix := range []string{"problem: files.img id 8 (fd 4): ", "note: files.img id 9 (cwd): "} {
		l := lines[i+1]
		what, ok := strings.CutPrefix(l, prefix)
		if !ok {
			t.Errorf("line %q lacks %q", l, prefix)
			continue
		}
		if _, err := strconv.Unquote(what); err != nil {
			t.Errorf("%q is not one quoted token: %v", what, err)
		}
	}
	if strings.Contains(out.String(), "/proc/1/fd/3") {
		t.Error("the diff names the images dir link")
	}
}
