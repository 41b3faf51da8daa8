package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/internal/testenv"
	"golang.org/x/sys/unix"
)

// hungFUSE is a FUSE filesystem whose server never answers, mounted in a
// private mount namespace that only the processes started through Start
// share: a lookup or stat under Dir blocks the calling thread in a killable
// sleep (fuse_get_req waits for the INIT reply), which no signal but a
// fatal one ends — the way a stat on a hung FUSE or NFS file blocks. The
// host never sees the mount; closing the server's fd at cleanup aborts the
// connection, so nothing stays blocked.
type hungFUSE struct {
	Dir   string
	start chan hungStart
}

type hungStart struct {
	cmd  *exec.Cmd
	done chan error
}

func newHungFUSE(t *testing.T) *hungFUSE {
	t.Helper()
	testenv.RequireRoot(t)
	h := &hungFUSE{Dir: t.TempDir(), start: make(chan hungStart)}
	ready := make(chan error)
	fd := -1
	go func() {
		// This thread alone enters the new namespace and is never
		// unlocked: it ends with the goroutine, and so does our share
		// of the namespace.
		runtime.LockOSThread()
		err := unix.Unshare(unix.CLONE_NEWNS)
		if err == nil {
			err = unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")
		}
		if err == nil {
			fd, err = unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
		}
		if err == nil {
			err = unix.Mount("ovlfix-hung", h.Dir, "fuse", unix.MS_NOSUID|unix.MS_NODEV,
				fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0", fd))
		}
		ready <- err
		if err != nil {
			return
		}
		for s := range h.start { // forks from this thread: the child inherits the namespace
			s.done <- s.cmd.Start()
		}
	}()
	if err := <-ready; err != nil {
		t.Fatalf("hung FUSE mount on %s: %v", h.Dir, err)
	}
	t.Cleanup(func() {
		close(h.start)
		unix.Close(fd) // aborts the connection: blocked calls fail with ENOTCONN
	})
	return h
}

// Start starts cmd inside the hung mount's namespace.
func (h *hungFUSE) Start(cmd *exec.Cmd) error {
	done := make(chan error)
	h.start <- hungStart{cmd, done}
	return <-done
}

// blocked is a started ovlfix process under test. Its stdout and stderr
// are files, which the test may read while it runs.
type blocked struct {
	cmd              *exec.Cmd
	outFile, errFile *os.File
	exited           chan struct{}
	err              error
}

func startBlocked(t *testing.T, start func(*exec.Cmd) error, cmd *exec.Cmd) *blocked {
	t.Helper()
	p := &blocked{cmd: cmd, exited: make(chan struct{})}
	var err error
	if p.outFile, err = os.CreateTemp(t.TempDir(), "stdout-"); err != nil {
		t.Fatal(err)
	}
	if p.errFile, err = os.CreateTemp(t.TempDir(), "stderr-"); err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = p.outFile, p.errFile
	if err := start(cmd); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
		p.outFile.Close()
		p.errFile.Close()
	})
	return p
}

func (p *blocked) stdout() string { b, _ := os.ReadFile(p.outFile.Name()); return string(b) }
func (p *blocked) stderr() string { b, _ := os.ReadFile(p.errFile.Name()); return string(b) }

// waitBlocked waits until a thread of p sleeps in the kernel in a function
// whose name has one of the words (read from /proc/<pid>/task/*/wchan), and
// reports false when p exited first.
func (p *blocked) waitBlocked(t *testing.T, words ...string) bool {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return false
		default:
		}
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", p.cmd.Process.Pid))
		for _, w := range tasks {
			b, _ := os.ReadFile(w)
			for _, word := range words {
				if strings.Contains(string(b), word) {
					t.Logf("pid %d blocked: %s is %s", p.cmd.Process.Pid, w, b)
					return true
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("pid %d never blocked in %v; stderr %q", p.cmd.Process.Pid, words, p.stderr())
	return false
}

// interrupt sends sig and waits at most within for p to exit; it returns
// the exit code (-1: killed by a signal) and how long the exit took.
func (p *blocked) interrupt(t *testing.T, sig syscall.Signal, within time.Duration) (int, time.Duration) {
	t.Helper()
	sent := time.Now()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(within):
		t.Fatalf("still running %v after %v; stderr %q", within, sig, p.stderr())
	}
	took := time.Since(sent)
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode(), took
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0, took
}

// wchanFUSE and wchanFIFO are the kernel functions a blocked open/stat
// sleeps in.
var (
	wchanFUSE = []string{"fuse"}
	wchanFIFO = []string{"fifo", "partner"}
)
