package podman

import (
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// cgroupLayout tells the host's cgroup layout from /sys/fs/cgroup:
// "unified" (cgroup2 mounted there), "hybrid" (a tmpfs of v1 controllers
// with cgroup2 at unified/, systemd's hybrid mode) or "legacy" (v1 only).
func cgroupLayout() (string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		return "", err
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "unified", nil
	}
	if err := unix.Statfs("/sys/fs/cgroup/unified", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "hybrid", nil
	}
	return "legacy", nil
}

// noteRuntime says in the test log why Podman runs runc here (with
// explicit --ulimit values, which runc cannot raise itself in this
// sandbox) and not its default crun, which cannot start containers on a
// hybrid cgroup layout.
func noteRuntime(t *testing.T) {
	layout, err := cgroupLayout()
	if err != nil {
		t.Logf("cgroup layout unknown (%v); Podman runs runc", err)
		return
	}
	crun := "not installed"
	if p, err := exec.LookPath("crun"); err == nil {
		crun = p
	}
	if layout == "hybrid" {
		t.Logf("cgroup layout hybrid (v1 controllers, cgroup2 at /sys/fs/cgroup/unified): crun (%s here) fails to start containers on it; Podman runs runc", crun)
		return
	}
	t.Logf("cgroup layout %s; Podman runs runc (crun: %s)", layout, crun)
}
