package fixup

import (
	"bytes"
	"context"
	"errors"
	"github.com/ovlfix/ovlfix/internal/testenv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/internal/fixuptest"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/proto"
	"golang.org/x/sys/unix"
	gproto "google.golang.org/protobuf/proto"
)

// reportWith is a report file as a run writes it (Report.WriteJSON).
func reportWith(t *testing.T, original, found, files []byte) []byte {
	t.Helper()
	rep := &Report{Version: ReportVersion, OriginalSHA256: sha256Hex(original), FoundSHA256: sha256Hex(found), FilesSHA256: sha256Hex(files)}
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestCheckBackup: which backups are taken as the original of files.img.
// The images are real CRIU 3.17 files.img of two dumps (testdata/criu).
func TestCheckBackup(t *testing.T) {
	orig := testenv.ReadFile(t, filepath.Join("..", "testdata", "criu", "basic", proto.FilesImg))
	other := testenv.ReadFile(t, filepath.Join("..", "testdata", "criu", "rawname", proto.FilesImg)) // another dump
	repaired := append(append([]byte(nil), orig...), 0, 0, 0, 0)                                     // stands for ovlfix's output
	repaired2 := append(append([]byte(nil), repaired...), 0, 0, 0, 0)
	v1Report := []byte(`{"version": 1, "images_dir": "/d", "changes": [], "problems": [], "backup": "/d/files.img.ovlfix-orig"}`)
	const fifo = "\x00fifo" // marker: make a FIFO
	for _, tc := range []struct {
		name                  string
		files, backup, report []byte // nil backup/report: absent
		ok                    bool
		want                  []string // in the error
		badFile               bool     // also wraps proto.ErrBadImageFile
	}{
		{"no backup", orig, nil, nil, true, nil, false},
		{"no backup, another dump's report", orig, nil, reportWith(t, other, other, other), true, nil, false},
		{"stopped before the rename", orig, orig, reportWith(t, orig, orig, repaired), true, nil, false},
		{"repaired", repaired, orig, reportWith(t, orig, orig, repaired), true, nil, false},
		{"re-repair stopped before the rename", repaired, orig, reportWith(t, orig, repaired, repaired2), true, nil, false},
		{"re-repaired", repaired2, orig, reportWith(t, orig, repaired, repaired2), true, nil, false},
		{"second dump into the same directory", other, orig, reportWith(t, orig, orig, repaired), false,
			[]string{"files.img (SHA-256 " + sha256Hex(other), "a new dump", "fresh images directory", BackupFile, ReportFile}, false},
		{"backup without a report", orig, orig, nil, false, []string{"ovlfix-fixup.json does not"}, false},
		{"report of an older ovlfix (no digests)", repaired, orig, v1Report, false, []string{"records no original_sha256"}, false},
		{"report of another backup", repaired, orig, reportWith(t, other, orig, repaired), false, []string{"records the original as " + sha256Hex(other)}, false},
		{"report not JSON", repaired, orig, []byte("{not json"), false, []string{"is not a fixup report"}, false},
		{"backup is a FIFO", orig, []byte(fifo), reportWith(t, orig, orig, repaired), false, []string{"files.img.ovlfix-orig is a FIFO, not a regular file"}, true},
		{"report is a FIFO", orig, orig, []byte(fifo), false, []string{"ovlfix-fixup.json is a FIFO, not a regular file"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			put := func(name string, b []byte) {
				if b == nil {
					return
				}
				var err error
				if string(b) == fifo {
					err = unix.Mkfifo(filepath.Join(dir, name), 0o600)
				} else {
					err = os.WriteFile(filepath.Join(dir, name), b, 0o600)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			put(proto.FilesImg, tc.files)
			put(BackupFile, tc.backup)
			put(ReportFile, tc.report)
			st, err := testenv.WithDeadline(t, 10*time.Second, func() (backupState, error) { return checkBackup(dir, tc.files) })
			if tc.ok {
				want := sha256Hex(tc.files)
				if tc.backup != nil {
					want = sha256Hex(tc.backup)
				}
				if err != nil || st.exists != (tc.backup != nil) || st.originalSHA != want {
					t.Fatalf("state %+v err %v; want exists=%v original %s", st, err, tc.backup != nil, want)
				}
				return
			}
			if !errors.Is(err, ErrBackupMismatch) || errors.Is(err, proto.ErrBadImageFile) != tc.badFile {
				t.Fatalf("err %v; want ErrBackupMismatch (bad file: %v)", err, tc.badFile)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestRunRefusesAnotherDumpsBackup is class 5 of the "do no harm" issue:
// an images directory reused for a second dump keeps the first dump's
// backup and report, CRIU overwrites files.img. fixup must not take the
// first dump's backup for the second's original: it refuses, writes
// nothing, and the second dump's files.img survives byte for byte.
func TestRunRefusesAnotherDumpsBackup(t *testing.T) {
	first := fixuptest.Build(t, scenariotest.StartT(t, "", fixuptest.NestedSpec))
	if _, err := Run(context.Background(), first.Dir, Options{RootPID: first.RootPID}); err != nil {
		t.Fatal(err)
	}
	second := fixuptest.Build(t, scenariotest.StartT(t, "", fixuptest.NestedSpec))
	if bytes.Equal(first.Original, second.Original) {
		t.Fatal("the two dumps have the same files.img")
	}
	// CRIU's second dump into the first one's directory.
	for _, name := range testenv.DirNames(t, second.Dir) {
		if err := os.WriteFile(filepath.Join(first.Dir, name), testenv.ReadFile(t, filepath.Join(second.Dir, name)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	before := testenv.DirFiles(t, first.Dir)
	for _, dry := range []bool{true, false} {
		rep, err := Run(context.Background(), first.Dir, Options{RootPID: second.RootPID, DryRun: dry})
		if !errors.Is(err, ErrBackupMismatch) || rep != nil {
			t.Fatalf("dry run %v: report %v, err %v; want ErrBackupMismatch", dry, rep != nil, err)
		}
		for _, w := range []string{BackupFile, ReportFile, "a new dump", "fresh images directory", "nothing written"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not say %q", err, w)
			}
		}
	}
	assertSameDir(t, first.Dir, before)
	if !bytes.Equal(readFile(t, first.Dir, proto.FilesImg), second.Original) {
		t.Error("the second dump's files.img is gone")
	}
}

// TestRepairOfARepairedFileKeepsTheOriginal: a run that finds files.img
// already repaired (the backup vouched for by the report) and changes it
// again keeps CRIU's original as the backup and as original_sha256, and
// records the file it started from and the one it wrote.
func TestRepairOfARepairedFileKeepsTheOriginal(t *testing.T) {
	dir := t.TempDir()
	orig := testenv.ReadFile(t, filepath.Join("..", "testdata", "criu", "basic", proto.FilesImg))
	first := synthetic(t, "/a/f", 23)
	var b bytes.Buffer
	if err := first.Files.Encode(&b); err != nil {
		t.Fatal(err)
	}
	repaired := b.Bytes()
	for name, content := range map[string][]byte{proto.FilesImg: repaired, BackupFile: orig, ReportFile: reportWith(t, orig, orig, repaired)} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st, err := checkBackup(dir, repaired)
	if err != nil {
		t.Fatal(err)
	}
	d := synthetic(t, "/a/f", 23)
	d.Raw, d.Perm, d.Backup = repaired, 0o600, st
	fe := d.Entries[0]
	fe.GetReg().MntId = gproto.Int32(31)
	if err := d.Files.SetEntry(0, fe); err != nil {
		t.Fatal(err)
	}
	rep := &Report{Version: ReportVersion, ImagesDir: dir}
	if err := writeRepair(dir, d, rep, func(string) {}); err != nil {
		t.Fatal(err)
	}
	now := readFile(t, dir, proto.FilesImg)
	if bytes.Equal(now, repaired) || !bytes.Equal(readFile(t, dir, BackupFile), orig) {
		t.Fatal("files.img not rewritten, or the backup replaced")
	}
	rd := readDigests(t, dir)
	if rd.Original != sha256Hex(orig) || rd.Found != sha256Hex(repaired) || rd.Files != sha256Hex(now) {
		t.Errorf("report records %+v", rd)
	}
	if st, err := checkBackup(dir, now); err != nil || !st.exists || st.originalSHA != sha256Hex(orig) {
		t.Errorf("the next run refuses: %+v %v", st, err)
	}
}
