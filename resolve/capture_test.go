package resolve

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"testing"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestCapturesShareOneView: captures of many tasks in one mount namespace
// with one root hold one root fd and one namespace pin between them (a
// container chooses how many tasks it has; two fds per task would let it
// exhaust the hook's fds), released with the last capture; a second Close
// is harmless; a task that is gone cannot be captured.
func TestCapturesShareOneView(t *testing.T) {
	s, err := NewSession(SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const tasks = 40
	var pids []int
	for range tasks {
		cmd := exec.Command("sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		pids = append(pids, cmd.Process.Pid)
	}
	var caps []*Capture
	before := openFDs(t) // os.Process holds a pidfd of each: counted before
	for _, pid := range pids {
		c, err := s.Capture(pid, nil)
		if err != nil {
			t.Fatal(err)
		}
		caps = append(caps, c)
	}
	if held := openFDs(t) - before; held != 2 {
		t.Errorf("%d captures hold %d fds, want 2 (one root, one pin)", tasks, held)
	}
	for i, c := range caps {
		if c.Root() != caps[0].Root() {
			t.Fatalf("capture %d has another root", i)
		}
	}
	for _, c := range caps {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := caps[0].Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if left := openFDs(t) - before; left != 0 {
		t.Errorf("%d fds left after every capture was closed", left)
	}
	if len(s.views) != 0 {
		t.Errorf("%d views left in the session", len(s.views))
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Capture(cmd.Process.Pid, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Capture of an exited pid = %v, want fs.ErrNotExist", err)
	}
}
