package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// InPrivateMountNS runs child(t, dir) in a re-execution of the test binary
// in a private mount namespace of its own (mounts it makes are gone with
// it), dir a fresh temporary directory; the parent test passes when the
// child's test does. env names the variable that tells the child it is
// one. Needs root; the test must be a top-level one.
func InPrivateMountNS(t *testing.T, env string, child func(t *testing.T, dir string)) {
	t.Helper()
	if dir := os.Getenv(env); dir != "" {
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			t.Fatalf("make / private: %v", err)
		}
		child(t, dir)
		return
	}
	RequireRoot(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), env+"="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("child in its own mount namespace: %v\n%s", err, out)
	}
	t.Logf("child:\n%s", out)
}
