package criuhost

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// readyTimeout bounds the wait for a holder's "ready" line.
const readyTimeout = 10 * time.Second

// proc is a holder process started by the test (its parent).
type proc struct {
	pid    int
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error // Wait's result, once it exited
	exited bool
}

// startHolder starts cmd (the holder, possibly through nsenter), waits for
// its "ready <pid>" line and the end of its stdout (then it has closed fds
// 0-2 and holds only what its operations opened) and returns it. The process is killed and reaped
// when the test ends, if it still runs.
func startHolder(t *testing.T, what string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: start %v: %v", what, cmd.Args, err)
	}
	line := make(chan string, 1)
	go func() {
		s, _ := io.ReadAll(out)
		line <- string(s)
	}()
	var ready string
	select {
	case ready = <-line:
	case <-time.After(readyTimeout):
		_ = cmd.Process.Kill()
		ready = <-line
	}
	go func() { p.done <- cmd.Wait() }()
	if _, err := fmt.Sscanf(ready, "ready %d\n", &p.pid); err != nil {
		p.kill()
		t.Fatalf("%s: %v did not get ready (got %q): %s", what, cmd.Args, ready, strings.TrimSpace(p.stderr.String()))
	}
	t.Cleanup(p.kill)
	return p
}

// kill kills the process if it still runs, and reaps it.
func (p *proc) kill() {
	if p.exited {
		return
	}
	_ = p.cmd.Process.Kill()
	p.reap()
}

// reap waits for the process to exit (CRIU killed it after a dump); its
// exit status does not matter.
func (p *proc) reap() error {
	if p.exited {
		return nil
	}
	select {
	case <-p.done:
		p.exited = true
		return nil
	case <-time.After(readyTimeout):
		return fmt.Errorf("pid %d still runs", p.pid)
	}
}

// becomeSubreaper makes the test process the reaper of the processes CRIU
// restores with -d: they are re-parented to it when criu exits, so that
// killRestored can reap them.
func becomeSubreaper(t *testing.T) {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", err)
	}
}

// killRestored kills and reaps a process restored by CRIU, if it is still a
// holder (a pid is only killed while it names the holder program).
func killRestored(pid int) {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil || !strings.HasPrefix(filepath.Base(exe), "holder") {
		return
	}
	_ = unix.Kill(pid, unix.SIGKILL)
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); errors.Is(err, unix.ECHILD) {
		// not ours after all: wait until it is gone or a zombie
		for i := 0; i < 100; i++ {
			st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil || strings.Contains(string(st), ") Z ") {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// mountNS is a private mount namespace, held by an anchor process: the
// holder started with CLONE_NEWNS (Go makes / private recursively), which
// mounted a tmpfs on the run's base directory and waits.
type mountNS struct {
	t      *testing.T
	holder string
	anchor *proc
}

func newMountNS(t *testing.T, holder, base string) *mountNS {
	t.Helper()
	cmd := exec.Command(holder, "tmpfs", base)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	return &mountNS{t: t, holder: holder, anchor: startHolder(t, "mount namespace anchor", cmd)}
}

// path is p (absolute in the namespace) as the test reaches it from the host.
func (ns *mountNS) path(p string) string {
	return fmt.Sprintf("/proc/%d/root%s", ns.anchor.pid, p)
}

// command runs a program in the namespace.
func (ns *mountNS) command(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"-t", strconv.Itoa(ns.anchor.pid), "-m", "--", name}, args...)...)
}

// do performs holder operations (mounts) in the namespace.
func (ns *mountNS) do(ops ...string) {
	ns.t.Helper()
	if out, err := ns.command(ns.holder, append(ops, "exit")...).CombinedOutput(); err != nil {
		ns.t.Fatalf("in the mount namespace: holder %s: %v: %s", strings.Join(ops, " "), err, out)
	}
}

// write creates a file (and its parent directories) in the namespace; a
// name ending in "/" is a directory.
func (ns *mountNS) write(p, content string, mode os.FileMode) {
	ns.t.Helper()
	hp := ns.path(p)
	if strings.HasSuffix(p, "/") {
		if err := os.MkdirAll(hp, 0o755); err != nil {
			ns.t.Fatal(err)
		}
		return
	}
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		ns.t.Fatal(err)
	}
	if err := os.WriteFile(hp, []byte(content), mode); err != nil {
		ns.t.Fatal(err)
	}
}

// close ends the namespace (its mounts go with its last process).
func (ns *mountNS) close() { ns.anchor.kill() }
