package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// container is one runc container on an overlay rootfs whose process (the
// holder) holds fds open on fds lower-layer files, in a private mount
// namespace held by an anchor process (the approach of tests/runc).
type container struct {
	tl     tools
	id     string
	base   string // lower/, upper/, work/, bundle/ (rootfs/ is the overlay), runc-root/, criu.conf
	fds    int
	anchor *exec.Cmd
}

func (c *container) path(p ...string) string { return filepath.Join(append([]string{c.base}, p...)...) }

// newContainer lays out the bundle under base and mounts its overlay
// rootfs in a new private mount namespace; close undoes it.
func newContainer(tl tools, base string, fds int) (*container, error) {
	c := &container{tl: tl, base: base, fds: fds, id: fmt.Sprintf("ovlfix-downtime-%d-%d", fds, os.Getpid())}
	for _, d := range []string{"lower/bin", "lower/dev", "lower/proc", "lower/sys", "lower/tmp", "lower/files", "upper", "work", "bundle/rootfs", "runc-root"} {
		if err := os.MkdirAll(c.path(d), 0o755); err != nil {
			return nil, err
		}
	}
	b, err := os.ReadFile(tl.holder)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(c.path("lower/bin/holder"), b, 0o755); err != nil {
		return nil, err
	}
	for i := range fds {
		if err := os.WriteFile(c.path("lower/files", "f"+strconv.Itoa(i)), []byte("lower\n"), 0o644); err != nil {
			return nil, err
		}
	}
	if err := c.setScript(false); err != nil {
		return nil, err
	}
	if err := c.writeConfig(); err != nil {
		return nil, err
	}
	c.anchor = exec.Command("unshare", "-m", "--propagation", "private", "sleep", "3600")
	if err := c.anchor.Start(); err != nil {
		return nil, fmt.Errorf("unshare: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !c.inPrivateNS() {
		if time.Now().After(deadline) {
			c.close()
			return nil, fmt.Errorf("the anchor did not enter a new mount namespace in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", c.path("lower"), c.path("upper"), c.path("work"))
	if out, err := c.nsenter("mount", "-t", "overlay", "overlay", "-o", opts, c.path("bundle/rootfs")).CombinedOutput(); err != nil {
		c.close()
		return nil, fmt.Errorf("mount the overlay rootfs: %v: %s", err, out)
	}
	return c, nil
}

func (c *container) inPrivateNS() bool {
	own, err1 := os.Readlink("/proc/self/ns/mnt")
	theirs, err2 := os.Readlink("/proc/" + strconv.Itoa(c.anchor.Process.Pid) + "/ns/mnt")
	return err1 == nil && err2 == nil && own != theirs
}

// setScript writes the CRIU config file named by the bundle's
// org.criu.config annotation: the hook as action-script (route "script")
// or no line at all (the other routes), so that one container serves
// every route.
func (c *container) setScript(on bool) error {
	text := "# bench-downtime: no action script for this checkpoint\n"
	if on {
		text = "action-script " + c.tl.hook + "\n"
	}
	return os.WriteFile(c.path("criu.conf"), []byte(text), 0o644)
}

// writeConfig writes config.json from `runc spec`: the holder as the
// process, no terminal, a writable root, RLIMIT_NOFILE room for the fds,
// the org.criu.config annotation.
func (c *container) writeConfig() error {
	spec := exec.Command(c.tl.runc, "spec")
	spec.Dir = c.path("bundle")
	if out, err := spec.CombinedOutput(); err != nil {
		return fmt.Errorf("runc spec: %v: %s", err, out)
	}
	raw, err := os.ReadFile(c.path("bundle/config.json"))
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return err
	}
	proc := cfg["process"].(map[string]any)
	proc["terminal"] = false
	proc["args"] = []string{"/bin/holder", "/files", strconv.Itoa(c.fds), "/tmp/ready"}
	nofile := c.fds + 64
	proc["rlimits"] = []map[string]any{{"type": "RLIMIT_NOFILE", "soft": nofile, "hard": nofile}}
	cfg["root"].(map[string]any)["readonly"] = false
	cfg["annotations"] = map[string]string{"org.criu.config": c.path("criu.conf")}
	out, err := json.MarshalIndent(cfg, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(c.path("bundle/config.json"), out, 0o644)
}

func (c *container) nsenter(args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"-t", strconv.Itoa(c.anchor.Process.Pid), "-m", "--"}, args...)...)
}

// runc runs `runc --root <ours> [--criu criu] args...` in the namespace
// with env added, stdio /dev/null but stderr, which it returns.
func (c *container) runc(criu string, env []string, args ...string) (string, error) {
	full := []string{c.tl.runc, "--root", c.path("runc-root")}
	if criu != "" {
		full = append(full, "--criu", criu)
	}
	cmd := c.nsenter(append(full, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	return stderr.String(), err
}

// start runs the container detached and waits for the holder's ready
// line; it returns the holder's host pid.
func (c *container) start() (int, error) {
	if out, err := c.runc("", nil, "run", "-d", "--bundle", c.path("bundle"), c.id); err != nil {
		return 0, fmt.Errorf("runc run -d: %v: %s", err, out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(c.path("upper/tmp/ready")); strings.HasPrefix(string(b), "ready ") {
			return c.pid()
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, fmt.Errorf("the holder (%d fds) did not get ready in 60 s", c.fds)
}

// pid is `runc state`'s pid of the container.
func (c *container) pid() (int, error) {
	cmd := c.nsenter(c.tl.runc, "--root", c.path("runc-root"), "state", c.id)
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("runc state: %w", err)
	}
	var st struct {
		Status string `json:"status"`
		Pid    int    `json:"pid"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return 0, fmt.Errorf("runc state: %w", err)
	}
	if st.Status != "running" || st.Pid <= 0 {
		return 0, fmt.Errorf("runc state: %q pid %d, want running", st.Status, st.Pid)
	}
	return st.Pid, nil
}

func (c *container) close() {
	if c.anchor != nil && c.anchor.Process != nil {
		_, _ = c.runc("", nil, "delete", "-f", c.id)
		_ = c.anchor.Process.Kill()
		_ = c.anchor.Wait()
	}
}
