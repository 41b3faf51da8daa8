package resolve

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/internal/testenv"
	"github.com/ovlfix/ovlfix/mountns"
)

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
	before := testenv.OpenFDs(t) // os.Process holds a pidfd of each: counted before
	for _, pid := range pids {
		c, err := s.Capture(pid, nil)
		if err != nil {
			t.Fatal(err)
		}
		caps = append(caps, c)
	}
	if held := testenv.OpenFDs(t) - before; held != 2 {
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
	if left := testenv.OpenFDs(t) - before; left != 0 {
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

// TestCapturesOfOtherRootsDoNotShare: a view is shared only by tasks with
// the same mount namespace and the same root (device, inode and mount).
// A task chrooted in the same namespace and a task in a mount namespace
// of its own (unshare -m, the same root directory on a copy of the mount)
// each get their own root fd and pin, and each root is the task's own: a
// file only the chroot holds is seen through the chrooted task's capture
// alone.
func TestCapturesOfOtherRootsDoNotShare(t *testing.T) {
	testenv.RequireRoot(t)
	bb := testenv.RequireTool(t, "busybox", "busybox-static") // statically linked: it runs in an empty chroot
	dir := t.TempDir()
	b, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/busybox", b, 0o755); err != nil {
		t.Fatal(err)
	}
	start := func(cmd *exec.Cmd) int {
		t.Helper()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd.Process.Pid
	}
	plain := start(exec.Command("sleep", "60"))
	chrooted := exec.Command("/busybox", "sleep", "60")
	chrooted.SysProcAttr = &syscall.SysProcAttr{Chroot: dir}
	inChroot := start(chrooted)
	ownNS := start(exec.Command("unshare", "-m", "--propagation", "private", "sleep", "60"))
	s, err := NewSession(SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// unshare execs sleep once its namespace is made: wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ns, err := mountns.NamespaceOf(ownNS)
		host, herr := mountns.NamespaceOf(plain)
		if err == nil && herr == nil && ns != host {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d never got a mount namespace of its own", ownNS)
		}
		time.Sleep(10 * time.Millisecond)
	}
	caps := map[string]*Capture{}
	for name, pid := range map[string]int{"plain": plain, "chrooted": inChroot, "own namespace": ownNS} {
		c, err := s.Capture(pid, nil)
		if err != nil {
			t.Fatalf("%s (pid %d): %v", name, pid, err)
		}
		defer c.Close()
		caps[name] = c
	}
	if len(s.views) != 3 {
		t.Errorf("%d views for 3 tasks of 3 different (namespace, root), want 3", len(s.views))
	}
	for name, c := range caps {
		_, err := c.Root().Stat("/busybox")
		if inside := err == nil; inside != (name == "chrooted") {
			t.Errorf("%s: /busybox inside its captured root: %v (stat: %v)", name, inside, err)
		}
	}
	if caps["plain"].Namespace == caps["own namespace"].Namespace {
		t.Error("the unshared task's capture names the host's namespace")
	}
}
