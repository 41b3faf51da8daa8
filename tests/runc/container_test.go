package runc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// opTimeout bounds one runc command (a checkpoint or restore included).
const opTimeout = 60 * time.Second

// container is one runc container on an overlay rootfs, in a private
// mount namespace held by an anchor process.
type container struct {
	t      *testing.T
	tl     tools
	id     string
	base   string // lower/, upper/, work/, bundle/ (rootfs/ is the overlay), runc-root/
	anchor *exec.Cmd
	b      bundle
}

// bundle is what a scenario changes in the container.
type bundle struct {
	args []string // the process (default: watcher /lowerfile /tmp/events, an inotify watch)
	caps []string // added to the process's bounding, effective and permitted sets
	// mounts are added to the OCI "mounts" (built from the container's
	// base directory, so a scenario can name its own paths).
	mounts func(c *container) []map[string]any
	// prepare runs in the namespace after the rootfs is mounted, before
	// runc run (e.g. to mount what mounts names).
	prepare func(c *container)
}

func (c *container) path(p ...string) string { return filepath.Join(append([]string{c.base}, p...)...) }

// newContainer lays out the bundle and mounts its overlay rootfs in a new
// private mount namespace. Cleanup deletes the container and kills the
// anchor (the overlay goes with its namespace).
func newContainer(t *testing.T, tl tools, name string, b bundle) *container {
	t.Helper()
	c := &container{t: t, tl: tl, base: t.TempDir(), id: "ovlfix-proxy-" + name + "-" + strconv.Itoa(os.Getpid()), b: b}
	for _, d := range []string{"lower/bin", "lower/dev", "lower/proc", "lower/sys", "lower/tmp", "upper", "work", "bundle/rootfs", "runc-root"} {
		if err := os.MkdirAll(c.path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, tl.busybox, c.path("lower/bin/busybox"))
	copyFile(t, tl.watcher, c.path("lower/bin/watcher"))
	if err := os.Symlink("busybox", c.path("lower/bin/sh")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.path("lower/lowerfile"), []byte("lower\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.writeConfig()
	c.anchor = exec.Command("unshare", "-m", "--propagation", "private", "sleep", "3600")
	if err := c.anchor.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.cleanup)
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", c.path("lower"), c.path("upper"), c.path("work"))
	// unshare has made the namespace once mount succeeds in it; retry
	// until then (nsenter into the anchor before it unshared sees the
	// host's namespace, where the test must not mount).
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c.inPrivateNS() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the anchor did not enter a new mount namespace in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if out, err := c.nsenter("mount", "-t", "overlay", "overlay", "-o", opts, c.path("bundle/rootfs")).CombinedOutput(); err != nil {
		t.Fatalf("mount the overlay rootfs: %v\n%s", err, out)
	}
	if b.prepare != nil {
		b.prepare(c)
	}
	return c
}

// inPrivateNS reports whether the anchor's mount namespace is not ours.
func (c *container) inPrivateNS() bool {
	own, err1 := os.Readlink("/proc/self/ns/mnt")
	theirs, err2 := os.Readlink("/proc/" + strconv.Itoa(c.anchor.Process.Pid) + "/ns/mnt")
	return err1 == nil && err2 == nil && own != theirs
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// writeConfig writes the bundle's config.json from `runc spec`: the
// watcher as the process, no terminal, a writable root, and rlimits
// equal to the test's own (runc cannot raise them here).
func (c *container) writeConfig() {
	t := c.t
	spec := exec.Command(c.tl.runc, "spec")
	spec.Dir = c.path("bundle")
	if out, err := spec.CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(c.path("bundle/config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	proc := cfg["process"].(map[string]any)
	proc["terminal"] = false
	proc["args"] = []string{"/bin/watcher", "/lowerfile", "/tmp/events"}
	if c.b.args != nil {
		proc["args"] = c.b.args
	}
	if len(c.b.caps) > 0 {
		caps := proc["capabilities"].(map[string]any)
		for _, set := range []string{"bounding", "effective", "permitted"} {
			l, _ := caps[set].([]any)
			for _, cp := range c.b.caps {
				l = append(l, cp)
			}
			caps[set] = l
		}
	}
	if c.b.mounts != nil {
		ms, _ := cfg["mounts"].([]any)
		for _, m := range c.b.mounts(c) {
			ms = append(ms, m)
		}
		cfg["mounts"] = ms
	}
	proc["rlimits"] = []map[string]any{rlimit(t, "RLIMIT_NOFILE", unix.RLIMIT_NOFILE), rlimit(t, "RLIMIT_NPROC", unix.RLIMIT_NPROC)}
	cfg["root"].(map[string]any)["readonly"] = false
	out, err := json.MarshalIndent(cfg, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.path("bundle/config.json"), out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// rlimit is the test's own soft and hard limit (getrlimit).
func rlimit(t *testing.T, name string, resource int) map[string]any {
	t.Helper()
	var r unix.Rlimit
	if err := unix.Getrlimit(resource, &r); err != nil {
		t.Fatalf("getrlimit %s: %v", name, err)
	}
	return map[string]any{"type": name, "soft": r.Cur, "hard": r.Max}
}

func (c *container) nsenter(args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"-t", strconv.Itoa(c.anchor.Process.Pid), "-m", "--"}, args...)...)
}

// runc runs `runc --root <ours> --criu criu args...` in the namespace,
// with env added; stdio is /dev/null (a restored task must
// hold no pipe of the test's). It returns runc's stderr and error.
func (c *container) runc(criu string, env []string, args ...string) (string, error) {
	r, err := c.startRunc(criu, env, args...)
	if err != nil {
		return "", err
	}
	return r.wait(opTimeout)
}

// runcRun is a started runc command.
type runcRun struct {
	cmd     *exec.Cmd
	errPath string
	done    chan error
}

// startRunc starts runc as runc does; wait collects it.
func (c *container) startRunc(criu string, env []string, args ...string) (*runcRun, error) {
	full := append([]string{c.tl.runc, "--root", c.path("runc-root")}, args...)
	if criu != "" {
		full = append([]string{c.tl.runc, "--root", c.path("runc-root"), "--criu", criu}, args...)
	}
	r := &runcRun{cmd: c.nsenter(full...), done: make(chan error, 1)} // in "/" of the namespace: run and restore take --bundle
	r.cmd.Env = append(os.Environ(), env...)
	r.errPath = c.path(fmt.Sprintf("runc-%s-%d.err", args[0], time.Now().UnixNano()))
	errf, err := os.Create(r.errPath)
	if err != nil {
		return nil, err
	}
	defer errf.Close()
	r.cmd.Stderr = errf
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { r.done <- r.cmd.Wait() }()
	return r, nil
}

// wait waits for runc, killing it after limit; it returns runc's stderr.
func (r *runcRun) wait(limit time.Duration) (string, error) {
	var err error
	select {
	case err = <-r.done:
	case <-time.After(limit):
		_ = r.cmd.Process.Kill()
		err = fmt.Errorf("%w (killed after %v)", <-r.done, limit)
	}
	out, _ := os.ReadFile(r.errPath)
	return string(out), err
}

// state is `runc state`'s status and pid ("" when runc knows no container).
func (c *container) state() (status string, pid int) {
	var so bytes.Buffer
	cmd := c.nsenter(c.tl.runc, "--root", c.path("runc-root"), "state", c.id)
	cmd.Stdout = &so
	if cmd.Run() != nil {
		return "", 0
	}
	var st struct {
		Status string `json:"status"`
		Pid    int    `json:"pid"`
	}
	if json.Unmarshal(so.Bytes(), &st) != nil {
		return "", 0
	}
	return st.Status, st.Pid
}

// events is the watcher's log, read from the overlay's upper layer.
func (c *container) events() string {
	b, _ := os.ReadFile(c.path("upper/tmp/events"))
	return string(b)
}

// waitEvents waits (polling, at most 20 s) until the watcher's log has n
// lines starting with word.
func (c *container) waitEvents(word string, n int) bool {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Count("\n"+c.events(), "\n"+word+" ") >= n {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func (c *container) cleanup() {
	_, _ = c.runc("", nil, "delete", "-f", c.id)
	if c.anchor != nil && c.anchor.Process != nil {
		_ = c.anchor.Process.Kill()
		_ = c.anchor.Wait()
	}
	reapWatchers()
}

// becomeSubreaper makes the test process a child subreaper: a container
// restored with -d (CRIU's sibling, the proxy's child, orphaned when runc
// and the proxy exit) becomes the test's child, not init's, so that the
// test can reap it (init here does not reap).
func becomeSubreaper(t *testing.T) {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("prctl(PR_SET_CHILD_SUBREAPER): %v", err)
	}
}

// reapWatchers kills and reaps the test's children that are watchers
// (orphans it inherited as subreaper); other children are exec.Cmd's.
func reapWatchers() {
	self := os.Getpid()
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", self, self))
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || !strings.Contains(string(stat), " (watcher) ") {
			continue
		}
		_ = unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, 0, nil)
	}
}
