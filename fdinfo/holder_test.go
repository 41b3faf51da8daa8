package fdinfo_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// holderEnv makes the test binary an fd holder instead of running the
// tests (see maybeRunHolder): "N" holds N fds, "N,leader-exits" then ends
// the main thread alone, leaving a zombie thread-group leader whose other
// threads run on with the process's files.
const holderEnv = "OVLFIX_FDINFO_HOLDER"

func init() {
	if _, ok := os.LookupEnv(holderEnv); ok {
		// init runs on the main thread: keep the holder's main goroutine
		// there, so that its SYS_EXIT ends the thread-group leader.
		runtime.LockOSThread()
	}
}

// maybeRunHolder is the holder's main (called first by TestMain): it opens
// N fds on /dev/null, raising its soft RLIMIT_NOFILE as far as the hard
// limit allows when N needs it, says "ready" on stdout and holds them
// until its stdin reaches EOF.
func maybeRunHolder() {
	spec, ok := os.LookupEnv(holderEnv)
	if !ok {
		return
	}
	fail := func(err error) {
		fmt.Fprintf(os.Stderr, "fd holder: %v\n", err)
		os.Exit(2)
	}
	num, mode, _ := strings.Cut(spec, ",")
	n, err := strconv.Atoi(num)
	if err != nil {
		fail(err)
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		fail(err)
	}
	if need := uint64(n) + 64; rl.Cur < need {
		rl.Cur = min(need, rl.Max)
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
			fail(err)
		}
	}
	for i := range n {
		if _, err := unix.Open("/dev/null", unix.O_RDONLY, 0); err != nil {
			fail(fmt.Errorf("open number %d of %d (RLIMIT_NOFILE %d/%d): %w", i+1, n, rl.Cur, rl.Max, err))
		}
	}
	os.Stdout.WriteString("ready\n")
	if mode == "leader-exits" {
		go func() {
			io.Copy(io.Discard, os.Stdin)
			os.Exit(0)
		}()
		unix.Syscall(unix.SYS_EXIT, 0, 0, 0) // this thread only
	}
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// fdHolder is a running holder; the test reaps it (Wait) when it wants,
// so that a killed holder stays a zombie until then.
type fdHolder struct {
	cmd   *exec.Cmd
	pid   int
	stdin io.WriteCloser // the holder holds while this is open
}

// startFdHolder starts the test binary as a holder of fds fds (mode ""
// or ",leader-exits") and waits until it holds them.
func startFdHolder(t *testing.T, fds int, mode string) *fdHolder {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), holderEnv+"="+strconv.Itoa(fds)+mode)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &fdHolder{cmd: cmd, pid: cmd.Process.Pid, stdin: stdin}
	t.Cleanup(h.reap)
	line, err := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("fd holder of %d fds: %q (%v): %s", fds, line, err, stderr.String())
	}
	return h
}

// kill sends SIGKILL and does not reap: the holder becomes a zombie.
func (h *fdHolder) kill() { h.cmd.Process.Kill() }

// reap kills the holder if it still runs and waits for it (once).
func (h *fdHolder) reap() {
	if h.cmd.ProcessState == nil {
		h.cmd.Process.Kill()
		h.cmd.Wait()
	}
	h.stdin.Close()
}

// taskState returns the state letter of /proc/<pid>/stat (0 when gone).
func taskState(pid int) byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	i := bytes.LastIndexByte(b, ')')
	if err != nil || i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// waitFor polls cond for up to ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s", what)
		}
	}
}
