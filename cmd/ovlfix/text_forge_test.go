package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/dump"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
)

// forgedRow is a whole row of the dump's text table, tabs included (the
// old writer put cells through a tabwriter, so they would even align).
const forgedRow = "  fd 99\tfd\t/etc/shadow\t1\t/\text4\tok\tforged"

// forgeSpec: a container mounts a tmpfs on a mountpoint whose name holds a
// newline and a forged row, and opens a file under it whose name forges a
// second one; a third fd holds a name with a quote, a tab and bad UTF-8.
func forgeSpec(base string) scenario.Spec {
	mp := "m\n" + forgedRow
	file := mp + "/f\n  fd 98\tfd\t/x\t1\t/\text4\tok\tforged"
	odd := mp + "/q\"\t\xff"
	return scenario.Spec{Base: base, Steps: []scenario.Step{
		{Do: "tmpfs", Path: b(mp), Label: "forge"},
		{Do: "write", Path: b(file), Content: "f"},
		{Do: "open", Path: b(file), Label: "forged-name"},
		{Do: "write", Path: b(odd), Content: "q"},
		{Do: "open", Path: b(odd), Label: "odd-name"},
	}}
}

// goString matches one Go string literal as internal/quote writes it.
const goString = `"(?:[^"\\]|\\.)*"`

var (
	headerLine  = regexp.MustCompile(`^pid \d+ comm ` + goString + ` files_id \d+ mnt_ns \d+$`)
	columnLine  = regexp.MustCompile(`^  OBJECT +KIND +PATH +MNT_ID +MOUNTPOINT +FS +VERDICT +NOTE$`)
	objectLine  = regexp.MustCompile(`^  (fd \d+|fd \d+ wd \d+|[0-9a-f]+-[0-9a-f]+|cwd|root|exe) +(fd|watch|map|cwd|root|exe) +(` + goString + `|-) +(\d+(?: \(kernel: \d+\))?|-) +(` + goString + `|-) +(` + goString + `|-) +(ok|fixed|ambiguous|unresolved|skipped) +(` + goString + `|-)$`)
	summaryLine = regexp.MustCompile(`^summary: [a-z0-9 ,]*$`)
)

// TestDumpTextReportCannotBeForged dumps a live target whose mountpoint
// and file names hold newlines, tabs and whole fake rows: every line of the
// text report must be one of its four line kinds, with exactly one row per
// object of the JSON report, and every quoted field must unquote to the
// exact bytes the target used.
func TestDumpTextReportCannotBeForged(t *testing.T) {
	c := scenariotest.StartT(t, binary, forgeSpec)
	text := ovlfix(t, "dump", fmt.Sprint(c.PID))
	expect(t, text, exitOK, "")
	js := ovlfix(t, "dump", "-o", "json", fmt.Sprint(c.PID))
	expect(t, js, exitOK, "")
	var rep dump.Report
	if err := json.Unmarshal([]byte(js.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	t.Logf("text report:\n%s", text.stdout)

	lines := strings.Split(strings.TrimSuffix(text.stdout, "\n"), "\n")
	// In any format: a header and a column line per process, a line per
	// object, the summary; and no line starts like a forged row.
	if want := 2*len(rep.Processes) + len(rep.Processes[0].Objects) + 1; len(lines) != want {
		t.Errorf("%d lines, want %d for %d objects: names added lines", len(lines), want, len(rep.Processes[0].Objects))
	}
	for i, line := range lines {
		if strings.HasPrefix(line, "  fd 99") || strings.HasPrefix(line, "  fd 98") {
			t.Errorf("line %d is a forged row: %q", i+1, line)
		}
	}
	rows := map[string][]string{} // OBJECT -> submatches
	nrows := 0
	for i, line := range lines {
		switch m := objectLine.FindStringSubmatch(line); {
		case m != nil:
			nrows++
			rows[m[1]] = m
			for _, f := range []string{m[3], m[5], m[6], m[8]} {
				if f != "-" {
					if _, err := strconv.Unquote(f); err != nil {
						t.Errorf("line %d: field %s does not unquote: %v", i+1, f, err)
					}
				}
			}
		case headerLine.MatchString(line), columnLine.MatchString(line), summaryLine.MatchString(line):
		default:
			t.Errorf("line %d is no line of the report (forged?): %q", i+1, line)
		}
	}
	if want := len(rep.Processes[0].Objects); nrows != want {
		t.Errorf("%d object rows, but the JSON report has %d objects", nrows, want)
	}
	for _, fake := range []string{"fd 99", "fd 98"} {
		if _, ok := rows[fake]; ok {
			t.Errorf("a forged row %q made it into the table", fake)
		}
	}
	mp := c.Mounts["forge"].Mountpoint
	for _, h := range c.Held {
		m := rows[fmt.Sprintf("fd %d", h.FD)]
		if m == nil {
			t.Errorf("no row for %s (fd %d)", h.Label, h.FD)
			continue
		}
		path, err1 := strconv.Unquote(m[3])
		mount, err2 := strconv.Unquote(m[5])
		if err1 != nil || err2 != nil || path != string(h.Path) || mount != mp {
			t.Errorf("%s: row shows path %s on %s, want %q on %q", h.Label, m[3], m[5], h.Path, mp)
		}
	}
}
