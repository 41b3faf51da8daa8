package fdinfo_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/ovlfix/ovlfix/fdinfo"
	"golang.org/x/sys/unix"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// statFixture returns a /proc/<pid>/stat line captured from a real task
// (testdata/stat: sleeping.txt a task asleep, zombie.txt one killed and not
// reaped yet).
func statFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "stat", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeTask is a procfs-shaped tree for pid 4242, and the paths to change
// it while a scan runs.
type fakeTask struct {
	root string // the fake /proc
	dir  string // root/4242
}

// fakeProc builds a fake /proc for pid 4242: fd 3 names a real file with
// fdinfo; fd 4 is a dangling link with no fdinfo, which is what a scan
// sees when the fd is closed between the listing and the reads. stat is
// the task's /proc stat line (nil: none, as for a task already reaped).
func fakeProc(t *testing.T, stat []byte) fakeTask {
	t.Helper()
	root := t.TempDir()
	pd := filepath.Join(root, "4242")
	for _, d := range []string{"fd", "fdinfo"} {
		if err := os.MkdirAll(filepath.Join(pd, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	target := filepath.Join(root, "held")
	write(t, target, "x")
	link(t, target, filepath.Join(pd, "fd", "3"))
	link(t, filepath.Join(root, "gone"), filepath.Join(pd, "fd", "4"))
	write(t, filepath.Join(pd, "fdinfo", "3"), "pos:\t1\nflags:\t0100002\nmnt_id:\t77\nino:\t9\n")
	write(t, filepath.Join(pd, "status"), "Name:\tfake\nTgid:\t4242\nPPid:\t1\n")
	write(t, filepath.Join(pd, "maps"), "")
	link(t, root, filepath.Join(pd, "cwd"))
	link(t, "/", filepath.Join(pd, "root"))
	link(t, target, filepath.Join(pd, "exe"))
	if stat != nil {
		write(t, filepath.Join(pd, "stat"), string(stat))
	}
	return fakeTask{root: root, dir: pd}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func link(t *testing.T, old, new string) {
	t.Helper()
	if err := os.Symlink(old, new); err != nil {
		t.Fatal(err)
	}
}

// exitDuringRead makes fdinfo/<fd> of the fake task a FIFO: the scan's
// read of it blocks until exit has run, so exit happens at a known point in
// the middle of the scan, after the fds were listed and before the last
// check. It returns a channel closed when exit has run.
func (f fakeTask) exitDuringRead(t *testing.T, fd int, text string, exit func()) <-chan struct{} {
	t.Helper()
	fifo := filepath.Join(f.dir, "fdinfo", strconv.Itoa(fd))
	os.Remove(fifo)
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0) // waits for the scan to open it
		if err != nil {
			t.Error(err)
			return
		}
		exit()
		w.WriteString(text)
		w.Close()
	}()
	return done
}

// TestScanBlockedReadLetsTheRuntimeStop: a Scanner.Proc that is not procfs
// can hold an fdinfo file that blocks (a FIFO). While the scan waits in
// that read, another goroutine forces a stop-the-world GC. A raw syscall
// would hold its P and the world would never stop: the whole process,
// this test included, hung until go test's timeout (CI saw it once per
// few hundred runs of TestScanZombieMidScan, when a GC fell in the
// window). Off procfs the scan must take the normal syscall path.
func TestScanBlockedReadLetsTheRuntimeStop(t *testing.T) {
	f := fakeProc(t, statFixture(t, "sleeping.txt"))
	done := f.exitDuringRead(t, 3, "pos:\t1\nflags:\t02\nmnt_id:\t77\n", func() {
		runtime.GC() // the scan is blocked in read(2) of fdinfo/3 now
	})
	s := fdinfo.Scanner{Proc: f.root, Workers: 1}
	p, err := s.Scan(4242)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range p.Objects {
		if o.Kind == fdinfo.KindFD && o.FD == 3 {
			if o.Info == nil || o.Info.Pos != 1 {
				t.Fatalf("fd 3 = %+v, want pos 1 from the FIFO", o)
			}
			return
		}
	}
	t.Fatal("fd 3 missing")
}

// TestScanFdClosedMidScan: an fd that vanishes mid-scan is recorded with
// ErrClosed and the scan goes on.
func TestScanFdClosedMidScan(t *testing.T) {
	s := fdinfo.Scanner{Proc: fakeProc(t, statFixture(t, "sleeping.txt")).root, Workers: 1}
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

// TestScanExitedMidScan: a task reaped in the middle of the scan (its stat
// gone) gives ErrExited together with what was read.
func TestScanExitedMidScan(t *testing.T) {
	f := fakeProc(t, statFixture(t, "sleeping.txt"))
	done := f.exitDuringRead(t, 3, "pos:\t1\nflags:\t02\nmnt_id:\t77\n", func() {
		os.Remove(filepath.Join(f.dir, "stat"))
	})
	s := fdinfo.Scanner{Proc: f.root, Workers: 1}
	p, err := s.Scan(4242)
	<-done
	if !errors.Is(err, fdinfo.ErrExited) {
		t.Fatalf("err = %v, want ErrExited", err)
	}
	if p == nil || len(p.Objects) == 0 {
		t.Fatal("partial result lost")
	}
	t.Logf("%v", err)
}

// TestScanZombieMidScan is the race of a task with many fds that exits
// while it is scanned, made deterministic: after the fds are listed and fd
// 3 is being read, the task exits: its other fds and cwd, root and exe
// vanish (exit_files, exit_fs) and it stays a zombie, unreaped, so its
// /proc entry still exists. That is ErrExited, never a success with the
// fds recorded as closed and cwd, root and exe failing.
func TestScanZombieMidScan(t *testing.T) {
	const fds = 300
	f := fakeProc(t, statFixture(t, "sleeping.txt"))
	for n := 5; n < fds; n++ {
		link(t, filepath.Join(f.root, "held"), filepath.Join(f.dir, "fd", strconv.Itoa(n)))
		write(t, filepath.Join(f.dir, "fdinfo", strconv.Itoa(n)), "pos:\t0\nflags:\t0\nmnt_id:\t77\n")
	}
	zombie := statFixture(t, "zombie.txt")
	done := f.exitDuringRead(t, 3, "pos:\t1\nflags:\t02\nmnt_id:\t77\n", func() {
		for n := 4; n < fds; n++ {
			os.Remove(filepath.Join(f.dir, "fd", strconv.Itoa(n)))
			os.Remove(filepath.Join(f.dir, "fdinfo", strconv.Itoa(n)))
		}
		for _, name := range []string{"cwd", "root", "exe"} {
			os.Remove(filepath.Join(f.dir, name))
		}
		write(t, filepath.Join(f.dir, "stat"), string(zombie))
	})
	s := fdinfo.Scanner{Proc: f.root, Workers: 1}
	p, err := s.Scan(4242)
	<-done
	if !errors.Is(err, fdinfo.ErrExited) {
		closed := 0
		for _, o := range p.Objects {
			if errors.Is(o.Err, fdinfo.ErrClosed) {
				closed++
			}
		}
		t.Fatalf("err = %v with %d objects, %d of them closed: want ErrExited", err, len(p.Objects), closed)
	}
	t.Logf("%v", err)
}

// TestScanExitingTask: a task that has begun to exit (PF_EXITING set,
// state still R: do_exit has not made it a zombie yet) or is a zombie when
// the scan starts is ErrExited at once.
func TestScanExitingTask(t *testing.T) {
	live := statFixture(t, "sleeping.txt")
	exiting := setExiting(t, live)
	for name, stat := range map[string][]byte{
		"exiting": exiting,
		"zombie":  statFixture(t, "zombie.txt"),
		"reaped":  nil,
	} {
		s := fdinfo.Scanner{Proc: fakeProc(t, stat).root, Workers: 1}
		p, err := s.Scan(4242)
		if !errors.Is(err, fdinfo.ErrExited) {
			t.Errorf("%s: err = %v, want ErrExited", name, err)
			continue
		}
		for _, o := range p.Objects {
			t.Errorf("%s: %s read from a task that had exited", name, o.Name())
		}
		t.Logf("%s: %v", name, err)
	}
	if _, err := (&fdinfo.Scanner{Proc: fakeProc(t, live).root}).Scan(4242); err != nil {
		t.Errorf("live fake task: %v", err)
	}
}

// setExiting returns a stat line with state R and PF_EXITING (0x4) added
// to the flags (field 9): what stat prints between exit_signals and
// exit_notify in do_exit.
func setExiting(t *testing.T, stat []byte) []byte {
	t.Helper()
	i := bytes.LastIndexByte(stat, ')')
	f := bytes.Fields(stat[i+1:])
	flags, err := strconv.ParseUint(string(f[6]), 10, 64)
	if err != nil || flags&4 != 0 {
		t.Fatalf("fixture flags %q (%v): want a task not exiting", f[6], err)
	}
	f[0], f[6] = []byte("R"), strconv.AppendUint(nil, flags|4, 10)
	return append(append(stat[:i+1:i+1], ' '), append(bytes.Join(f, []byte(" ")), '\n')...)
}
