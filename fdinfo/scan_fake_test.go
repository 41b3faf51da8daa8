package fdinfo_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ovlfix/ovlfix/fdinfo"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// fakeProc builds a procfs-shaped tree for pid 4242: fd 3 names a real
// file with fdinfo; fd 4 is a dangling link with no fdinfo, which is what
// a scan sees when the fd is closed between the listing and the reads.
// alive controls the "stat" file the scanner uses to see the task exists.
func fakeProc(t *testing.T, alive bool) string {
	t.Helper()
	root := t.TempDir()
	pd := filepath.Join(root, "4242")
	for _, d := range []string{"fd", "fdinfo"} {
		if err := os.MkdirAll(filepath.Join(pd, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	target := filepath.Join(root, "held")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(target, "x")
	link := func(old, new string) {
		if err := os.Symlink(old, new); err != nil {
			t.Fatal(err)
		}
	}
	link(target, filepath.Join(pd, "fd", "3"))
	link(filepath.Join(root, "gone"), filepath.Join(pd, "fd", "4"))
	write(filepath.Join(pd, "fdinfo", "3"), "pos:\t1\nflags:\t0100002\nmnt_id:\t77\nino:\t9\n")
	write(filepath.Join(pd, "status"), "Name:\tfake\nTgid:\t4242\nPPid:\t1\n")
	write(filepath.Join(pd, "maps"), "")
	link(root, filepath.Join(pd, "cwd"))
	link("/", filepath.Join(pd, "root"))
	link(target, filepath.Join(pd, "exe"))
	if alive {
		write(filepath.Join(pd, "stat"), "4242 (fake) S 1\n")
	}
	return root
}

// TestScanFdClosedMidScan: an fd that vanishes mid-scan is recorded with
// ErrClosed and the scan goes on.
func TestScanFdClosedMidScan(t *testing.T) {
	s := fdinfo.Scanner{Proc: fakeProc(t, true), Workers: 1}
	p, err := s.Scan(4242)
	if err != nil {
		t.Fatal(err)
	}
	var fd3, fd4 *fdinfo.Object
	for i := range p.Objects {
		switch o := &p.Objects[i]; {
		case o.Kind == fdinfo.KindFD && o.FD == 3:
			fd3 = o
		case o.Kind == fdinfo.KindFD && o.FD == 4:
			fd4 = o
		}
	}
	if fd3 == nil || fd3.Err != nil || fd3.Info == nil || fd3.Info.MntID != 77 || fd3.Info.Pos != 1 || fd3.Info.Flags != 0100002 {
		t.Fatalf("fd 3 = %+v", fd3)
	}
	if fd4 == nil || !errors.Is(fd4.Err, fdinfo.ErrClosed) {
		t.Fatalf("fd 4 = %+v, want ErrClosed recorded", fd4)
	}
	if p.Comm != "fake" || p.PPID != 1 {
		t.Errorf("status not read: %+v", p)
	}
}

// TestScanExitedMidScan: a task gone by the end of the scan gives
// ErrExited together with what was read.
func TestScanExitedMidScan(t *testing.T) {
	s := fdinfo.Scanner{Proc: fakeProc(t, false), Workers: 1}
	p, err := s.Scan(4242)
	if !errors.Is(err, fdinfo.ErrExited) {
		t.Fatalf("err = %v, want ErrExited", err)
	}
	if p == nil || len(p.Objects) == 0 {
		t.Fatal("partial result lost")
	}
}
