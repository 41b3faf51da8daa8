package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ovlfix/ovlfix/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/fixup"
	"github.com/ovlfix/ovlfix/internal/fixuptest"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/proto"
	"golang.org/x/sys/unix"
)

// TestFixupCommand runs `ovlfix fixup` on images laid out for a live
// nested-overlay target (fixuptest): --dry-run prints the changes and
// leaves the directory byte-identical; a real run repairs files.img.
func TestFixupCommand(t *testing.T) {
	c := scenariotest.StartT(t, binary, fixuptest.NestedSpec)
	f := fixuptest.Build(t, c)
	pid := strconv.Itoa(f.RootPID)
	before := testenv.DirFiles(t, f.Dir)

	r := ovlfix(t, "fixup", "-D", f.Dir, "--pid", pid, "--dry-run")
	expect(t, r, exitOK, "")
	lower := f.IDs["lower"]
	mA, mB := c.Mounts["A"].ID, c.Mounts["B"].ID
	wantLine := fmt.Sprintf("files.img id %d (pid %d fd %d): mnt_id %d -> %d, name unchanged", lower, f.RootPID, heldFD(c, "lower"), mA, mB)
	if !strings.Contains(r.stdout, wantLine) || !strings.Contains(r.stdout, "dry run") {
		t.Errorf("dry-run output lacks %q:\n%s", wantLine, r.stdout)
	}
	if got := testenv.DirFiles(t, f.Dir); !sameDir(got, before) {
		t.Errorf("--dry-run changed the directory: %v -> %v", testenv.Names(before), testenv.Names(got))
	}

	r = ovlfix(t, "fixup", "-D", f.Dir, "--pid", pid, "--dry-run", "-o", "json")
	expect(t, r, exitOK, "")
	var rep fixup.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if len(rep.Changes) != len(f.Wrong) || !rep.DryRun || rep.Version != fixup.ReportVersion {
		t.Errorf("json report: %+v", rep)
	}
	for _, ch := range rep.Changes {
		if tr := f.Truth[ch.FileID]; !f.Wrong[ch.FileID] || string(ch.NewName) != tr.Name || ch.NewMntID != tr.Mnt {
			t.Errorf("change %+v, truth %+v", ch, tr)
		}
	}
	if got := testenv.DirFiles(t, f.Dir); !sameDir(got, before) {
		t.Error("--dry-run -o json changed the directory")
	}

	r = ovlfix(t, "fixup", "-D", f.Dir, "--pid", pid)
	expect(t, r, exitOK, "")
	if !strings.Contains(r.stdout, wantLine) || !strings.Contains(r.stdout, "original kept as files.img.ovlfix-orig") {
		t.Errorf("output:\n%s", r.stdout)
	}
	after := testenv.DirFiles(t, f.Dir)
	if !bytes.Equal(after[fixup.BackupFile], f.Original) || bytes.Equal(after[proto.FilesImg], f.Original) {
		t.Error("files.img not repaired, or backup is not the original")
	}
	if _, ok := after[fixup.ReportFile]; !ok {
		t.Error("no report file")
	}
}

func TestFixupUsageAndExitCodes(t *testing.T) {
	expect(t, ovlfix(t, "fixup", "--pid", "1"), exitUsage, "-D DIR")
	expect(t, ovlfix(t, "fixup", "-D", t.TempDir()), exitUsage, "--pid PID")
	expect(t, ovlfix(t, "fixup", "-D", t.TempDir(), "--pid", "1", "-o", "xml"), exitUsage, "text or json")
	expect(t, ovlfix(t, "fixup", "-D", t.TempDir(), "--pid", "1", "extra"), exitUsage, "takes no arguments")

	// Real CRIU images and a pid that no longer exists: exit 3.
	dir := testenv.CopyFiles(t, filepath.Join("..", "..", "testdata", "criu", "basic"))
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	expect(t, ovlfix(t, "fixup", "-D", dir, "--pid", strconv.Itoa(gone.Process.Pid), "--dry-run"), exitNoProcess, "no such process")

	// A corrupt files.img: exit 1, the file named, nothing written.
	b, _ := os.ReadFile(filepath.Join(dir, proto.FilesImg))
	os.WriteFile(filepath.Join(dir, proto.FilesImg), b[:len(b)-5], 0o600)
	before := testenv.DirFiles(t, dir)
	expect(t, ovlfix(t, "fixup", "-D", dir, "--pid", strconv.Itoa(os.Getpid())), exitFailure, "files.img: entry 32 at offset")
	if !sameDir(testenv.DirFiles(t, dir), before) {
		t.Error("a failed fixup changed the directory")
	}
}

// TestFixupOutputNotWritable: a read-only images directory (a read-only
// bind mount, so root cannot write either) is exit 6, before any work.
func TestFixupOutputNotWritable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a read-only bind mount")
	}
	dir := testenv.CopyFiles(t, filepath.Join("..", "..", "testdata", "criu", "basic"))
	script := fmt.Sprintf(`mount --bind %[1]s %[1]s && mount -o remount,bind,ro %[1]s && exec %[2]s fixup -D %[1]s --pid %[3]d`, dir, binary, os.Getpid())
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script)
	expect(t, run(t, cmd), exitOutput, "cannot be written")
}

// TestFixupErrorCodes: fixup's sentinel maps to exit 9, documented in docs/cli.md.
func TestFixupErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{fmt.Errorf("%w: files.img id 7: CRIU's mnt_id 23 is in no mountinfo", fixup.ErrUnrepairable), exitUnrepairable},
		{fmt.Errorf("atomic write of x: %w", unix.EROFS), exitOutput},
		{errors.New("images in d: pstree.img: header at offset 0: truncated"), exitFailure},
		{nil, exitOK},
	} {
		if got := exitCode(fixupError(tc.err)); got != tc.code {
			t.Errorf("%v: exit %d, want %d", tc.err, got, tc.code)
		}
	}
	if exitUnrepairable != 9 {
		t.Errorf("exitUnrepairable = %d, documented as 9", exitUnrepairable)
	}
}

func heldFD(c *scenario.Child, label string) int {
	for _, h := range c.Held {
		if h.Label == label {
			return h.FD
		}
	}
	return -1
}

func sameDir(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for n, x := range a {
		if y, ok := b[n]; !ok || !bytes.Equal(x, y) {
			return false
		}
	}
	return true
}

// A files.img that is not a regular file is an error about the images, not
// a usage error: never exit 2 (docs/cli.md reserves 10 for it). The hook
// lets the dump stand.
func TestBadImageFileIsNotUsage(t *testing.T) {
	dir := testenv.CopyFiles(t, filepath.Join("..", "..", "testdata", "criu", "basic"))
	img := filepath.Join(dir, proto.FilesImg)
	os.Remove(img)
	if err := os.Symlink("/etc/hostname", img); err != nil {
		t.Fatal(err)
	}
	r := ovlfix(t, "fixup", "-D", dir, "--pid", strconv.Itoa(os.Getpid()), "--dry-run")
	t.Logf("fixup: exit %d, stderr %q", r.code, r.stderr)
	if r.code == exitOK || r.code == exitUsage || !strings.Contains(r.stderr, "files.img") {
		t.Errorf("symlinked files.img: exit %d, stderr %q; want a non-usage error naming files.img", r.code, r.stderr)
	}
	if fi, err := os.Lstat(img); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("files.img changed: %v %v", fi, err)
	}
	criu := startCRIUStandIn(t, t.TempDir(), dir)
	h := runHookAs(t, criu.workDir, map[string]string{"CRTOOLS_SCRIPT_ACTION": "post-dump", "CRTOOLS_INIT_PID": strconv.Itoa(criu.pid), "CRTOOLS_IMAGE_DIR": criu.imageDir})
	expect(t, h, exitOK, "cannot help, the dump is left as CRIU wrote it")
}
