package criuhost

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// layout is where a run's overlay lives, under the run's base directory (a
// tmpfs in the run's mount namespace). Host mode: the anchor mounts the
// overlay on merged and the holder, in the same namespace as CRIU, opens
// merged/NAME. Container mode: the holder unshares its mount namespace,
// mounts the overlay on merged itself, pivots into it (the old root
// detached) and re-executes its copy /bin/holder; it opens /NAME, and the
// restore gets the overlay mounted again on merged as --root.
type layout struct {
	base, lower, upper, work, merged string
	container                        bool
}

func newLayout(base string, container bool) layout {
	mp := "merged"
	if container {
		mp = "rootfs"
	}
	return layout{base: base, lower: base + "/lower", upper: base + "/upper", work: base + "/work",
		merged: base + "/" + mp, container: container}
}

// in is the path of name (relative to the overlay's root) as the holder sees it.
func (l layout) in(name string) string {
	if l.container {
		return "/" + name
	}
	return l.merged + "/" + name
}

// run is one dump and restore of a scenario.
type run struct {
	hook       bool
	images     string
	before     snapshot // the holder before the dump
	dumpErr    error
	restoreErr error
	restored   snapshot // the restored holder
	took       time.Duration
}

func (r *run) ok() bool { return r.dumpErr == nil && r.restoreErr == nil }

// outcome: "dump ok, restore ok, fds [...]", or what failed.
func (r *run) outcome() string {
	switch {
	case r.dumpErr != nil:
		return fmt.Sprintf("dump failed (%v), restore not tried", r.dumpErr)
	case r.restoreErr != nil:
		return fmt.Sprintf("dump ok, restore failed (%v)", r.restoreErr)
	}
	return "dump ok, restore ok, " + r.restored.String()
}

// live is the hook run's restored process, still running, for the
// scenario's own checks.
type live struct {
	ns       *mountNS
	l        layout
	images   string
	restored snapshot
}

// runOnce sets up the scenario in a fresh mount namespace, starts the
// holder, dumps it (with the hook or not) and restores the dump. Every
// process it starts is gone when it returns; t.Cleanup covers a t.Fatal.
func runOnce(t *testing.T, tl tools, sc scenario, base string, hook bool) *run {
	t.Helper()
	r := &run{hook: hook, images: t.TempDir()}
	start := time.Now()
	defer func() { r.took = time.Since(start) }()
	l := newLayout(base, sc.container)
	ns := newMountNS(t, tl.holder, base)
	defer ns.close()
	for _, d := range []string{l.lower, l.upper, l.work, l.merged} {
		ns.write(d+"/", "", 0)
	}
	for name, content := range sc.lower {
		ns.write(l.lower+"/"+name, content, 0o644)
	}
	for name, content := range sc.upper {
		ns.write(l.upper+"/"+name, content, 0o644)
	}
	var args []string
	if sc.container {
		prog, err := os.ReadFile(tl.holder)
		if err != nil {
			t.Fatal(err)
		}
		ns.write(l.lower+"/bin/holder", string(prog), 0o755)
		args = []string{"unshare-mnt", "overlay", l.merged, l.lower, l.upper, l.work, "-",
			"pivot", l.merged, "exec", "/bin/holder"}
	} else {
		ns.do("overlay", l.merged, l.lower, l.upper, l.work, "-")
		args = []string{"chdir", l.merged}
	}
	cmd := ns.command(tl.holder, append(args, sc.ops(l)...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	h := startHolder(t, "holder", cmd)
	var err error
	if r.before, err = takeSnapshot(h.pid); err != nil {
		t.Fatalf("the holder before the dump: %v", err)
	}

	// A holder that forked: its child, reparented to this subreaper when
	// CRIU kills the tree, must be reaped too, or its zombie keeps the pid
	// the restore needs.
	kids := childrenOf(h.pid)
	defer reapAll(kids)
	if r.dumpErr = criuDump(ns, tl, h.pid, r.images, hook); r.dumpErr != nil {
		h.kill() // CRIU resumed it
		return r
	}
	if err := h.reap(); err != nil {
		t.Fatalf("after criu dump: %v", err)
	}
	reapAll(kids)
	if sc.atRestore != nil {
		sc.atRestore(ns)
	}
	root := ""
	if sc.container {
		ns.do("overlay", l.merged, l.lower, l.upper, l.work, "-")
		root = l.merged
	}
	pid, err := criuRestore(ns, tl, r.images, root)
	if r.restoreErr = err; err != nil {
		return r
	}
	t.Cleanup(func() { killRestored(pid) })
	defer killRestored(pid)
	if pid != h.pid {
		t.Errorf("criu restore gave pid %d, the holder was %d", pid, h.pid)
	}
	if r.restored, err = takeSnapshot(pid); err != nil {
		t.Fatalf("the restored holder: %v", err)
	}
	if hook && sc.hookCheck != nil {
		sc.hookCheck(t, &live{ns: ns, l: l, images: r.images, restored: r.restored})
	}
	return r
}

// hookSaid is what the hook wrote to CRIU's dump log.
func (r *run) hookSaid() string {
	lines := logLines(r.images+"/dump.log", isHookLine, 20)
	return strings.Join(lines, "\n    ")
}

// childrenOf lists the children of pid (/proc/<pid>/task/<pid>/children).
func childrenOf(pid int) []int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		var n int
		if _, err := fmt.Sscan(f, &n); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// reapAll kills and reaps pids (orphans this subreaper inherited); each is
// waited for once, so a second call does nothing.
func reapAll(pids []int) {
	for i, pid := range pids {
		if pid <= 0 {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, 0, nil)
		pids[i] = 0
	}
}
