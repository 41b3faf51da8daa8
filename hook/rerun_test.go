package hook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/fixup"
	"github.com/ovlfix/ovlfix/proto"
)

func shaOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// earlierRun recognises only this CRIU process's own completed post-dump
// of this tree, with files.img and the backup as it left them.
func TestEarlierRun(t *testing.T) {
	orig, repaired := []byte("CRIU's files.img"), []byte("ovlfix's repair")
	repairReport := func(dir string) fixup.Report {
		return fixup.Report{Version: fixup.ReportVersion, ImagesDir: dir, RootPID: 42,
			Changes: []fixup.Change{{FileID: 2, Object: "fd 3", OldMntID: 91, NewMntID: 71}},
			Backup:  dir + "/" + fixup.BackupFile, OriginalSHA256: shaOf(orig), FoundSHA256: shaOf(orig), FilesSHA256: shaOf(repaired)}
	}
	rightReport := func(dir string) fixup.Report {
		return fixup.Report{Version: fixup.ReportVersion, ImagesDir: dir, RootPID: 42, Checked: 4,
			OriginalSHA256: shaOf(orig), FoundSHA256: shaOf(orig), FilesSHA256: shaOf(orig)}
	}
	for _, tc := range []struct {
		name      string
		files     []byte
		backup    []byte // nil: none
		report    func(dir string) fixup.Report
		edit      func(r *fixup.Report)
		rawReport string // instead of report
		want      bool
		wantErr   bool
	}{
		{name: "repaired by an earlier run", files: repaired, backup: orig, report: repairReport, want: true},
		{name: "right at an earlier run", files: orig, report: rightReport, want: true},
		{name: "no report", files: orig},
		{name: "a new dump into the directory", files: []byte("another dump's files.img"), backup: orig, report: repairReport},
		{name: "another CRIU's report", files: repaired, backup: orig, report: repairReport, edit: func(r *fixup.Report) { r.ImagesDir = "/proc/1/fd/3" }},
		{name: "another tree", files: repaired, backup: orig, report: repairReport, edit: func(r *fixup.Report) { r.RootPID = 43 }},
		{name: "backup replaced", files: repaired, backup: []byte("not the original"), report: repairReport},
		{name: "unrepairable earlier run", files: orig, report: rightReport, edit: func(r *fixup.Report) {
			r.Problems = []fixup.Problem{{FileID: 2, Object: "fd 3", What: "no confirmed path"}}
		}},
		{name: "dry run", files: orig, report: rightReport, edit: func(r *fixup.Report) { r.DryRun = true }},
		{name: "not a report", files: orig, rawReport: "{", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			images, env := criuLinkEnv(t)
			link := env.ImageDir
			write := func(name string, b []byte) {
				if err := os.WriteFile(filepath.Join(images, name), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			write(proto.FilesImg, tc.files)
			if tc.backup != nil {
				write(fixup.BackupFile, tc.backup)
			}
			switch {
			case tc.rawReport != "":
				write(fixup.ReportFile, []byte(tc.rawReport))
			case tc.report != nil:
				r := tc.report(link)
				if tc.edit != nil {
					tc.edit(&r)
				}
				var buf bytes.Buffer
				if err := r.WriteJSON(&buf); err != nil {
					t.Fatal(err)
				}
				write(fixup.ReportFile, buf.Bytes())
			}
			done, what, err := earlierRun(env)
			if done != tc.want || (err != nil) != tc.wantErr {
				t.Fatalf("earlierRun = %v %q %v, want %v (error %v)", done, what, err, tc.want, tc.wantErr)
			}
			var log bytes.Buffer
			if got := repeatedPostDump(env, NewLogger(&log)); got != tc.want || tc.want != strings.Contains(log.String(), "a no-op") {
				t.Errorf("repeatedPostDump = %v, log %q", got, log.String())
			}
		})
	}
}
