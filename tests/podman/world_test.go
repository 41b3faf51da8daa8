package podman

import (
	"bufio"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/internal/testenv"
	"golang.org/x/sys/unix"
)

// cmdTimeout bounds one podman command (a checkpoint or restore takes
// well under a second here).
const cmdTimeout = 60 * time.Second

// world is one test's own Podman: storage, run and tmp dirs and runc's
// state under a temporary directory, CRIU 4.2 first in PATH.
type world struct {
	t    *testing.T
	dir  string   // everything the world writes is under it
	args []string // global podman options
	env  []string // CRIU 4.2 first in PATH
	// proxied is env with the proxy first in PATH (`criu -> ovlfix`) and
	// OVLFIX_REAL_CRIU naming CRIU 4.2: what podman runs with while
	// w.proxy is set
	proxied []string
	proxy   bool
	n       int      // names made so far
	ids     []string // containers removed before the end (their cgroups are checked at the end)
}

var criuVersionLine = regexp.MustCompile(`(?m)^Version: 4\.2$`)

// newWorld checks what the tests need and makes an empty Podman world,
// removed with everything in it when the test ends.
func newWorld(t *testing.T) *world {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "podman", "podman")
	testenv.RequireTool(t, "runc", "runc")
	testenv.RequireTool(t, "gcc", "gcc")
	if err := staticELF("/bin/busybox"); err != nil {
		testenv.Unavailable(t, fmt.Sprintf("the image needs a static busybox (Debian package busybox-static; "+
			"scripts/setup.sh installs it): %v", err))
	}
	if built.err != nil {
		t.Fatal(built.err)
	}
	noteRuntime(t)
	criuDir := criuDir(t)
	dir := worldDir(t)
	w := &world{t: t, dir: dir,
		args: []string{"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
			"--tmpdir", filepath.Join(dir, "tmp"), "--storage-driver", "overlay",
			"--cgroup-manager", "cgroupfs", "--events-backend", "file",
			"--runtime", "runc", "--runtime-flag", "root=" + filepath.Join(dir, "runc")},
		env: append(os.Environ(), "PATH="+criuDir+":"+os.Getenv("PATH")),
		proxied: append(os.Environ(), "PATH="+filepath.Dir(built.criu)+":"+criuDir+":"+os.Getenv("PATH"),
			"OVLFIX_REAL_CRIU="+filepath.Join(criuDir, "criu")),
	}
	t.Cleanup(w.remove)
	return w
}

// staticELF says why path is not a statically linked ELF program (the
// image has no libc), or nil.
func staticELF(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked", path)
		}
	}
	return nil
}

// worldDir makes the world's directory, removed at the end of the test.
// Podman refuses a runroot longer than 50 bytes ("the specified runroot is
// longer than 50 characters"), too short for t.TempDir's names: the
// directory is a short one in $TMPDIR, or in /tmp when that is long.
func worldDir(t *testing.T) string {
	t.Helper()
	parent := os.TempDir()
	if len(parent) > 20 {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "ovlfix-pm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return dir
}

// criuDir is the directory of CRIU 4.2, to put first in PATH: runc looks
// CRIU up by name.
func criuDir(t *testing.T) string {
	t.Helper()
	criu := os.Getenv("OVLFIX_CRIU42")
	if criu == "" {
		root, err := repoRoot()
		if err != nil {
			t.Fatal(err)
		}
		criu = filepath.Join(root, "..", "shared", "criu", "4.2", "criu")
	}
	out, err := exec.Command(criu, "--version").CombinedOutput()
	if err != nil || !criuVersionLine.Match(out) {
		testenv.Unavailable(t, fmt.Sprintf("needs CRIU 4.2 at %s (or OVLFIX_CRIU42), with the shared libraries of Debian's "+
			"criu package (../shared/criu/README.md); --version: %v %s", criu, err, strings.TrimSpace(string(out))))
	}
	if filepath.Base(criu) != "criu" {
		// runc runs "criu" from PATH: give it a directory where that is this binary
		d := t.TempDir()
		if err := os.Symlink(criu, filepath.Join(d, "criu")); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return filepath.Dir(criu)
}

// name returns a name no other test or run uses.
func (w *world) name(what string) string {
	w.n++
	return fmt.Sprintf("ovlfix-%s-%d-%d", what, os.Getpid(), w.n)
}

// podman runs one podman command and returns its output (stdout and
// stderr, through a file: conmon must not inherit a pipe of ours).
func (w *world) podman(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := os.CreateTemp(w.dir, "podman-out-")
	if err != nil {
		return "", err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := exec.CommandContext(ctx, "podman", append(append([]string{}, w.args...), args...)...)
	cmd.Env = w.env
	if w.proxy {
		cmd.Env = w.proxied
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	raw, rerr := os.ReadFile(out.Name())
	if rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (killed after %v)", err, cmdTimeout)
		}
		return string(raw), fmt.Errorf("podman %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(raw)))
	}
	return string(raw), nil
}

// must runs a podman command that must succeed.
func (w *world) must(args ...string) string {
	w.t.Helper()
	out, err := w.podman(args...)
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// rm removes a container now, remembering its id for removeCgroups.
func (w *world) rm(name string) {
	w.t.Helper()
	w.ids = append(w.ids, strings.TrimSpace(w.must("inspect", "-f", "{{.ID}}", name)))
	w.must("rm", "-f", "-t", "0", name)
}

// remove deletes every container and image of the world, its storage, and
// any mount left under its directory.
func (w *world) remove() {
	ids, err := w.podman("ps", "-aq", "--no-trunc")
	if err != nil {
		w.t.Errorf("cleanup: %v", err)
	}
	defer w.removeCgroups(append(w.ids, strings.Fields(ids)...))
	for _, args := range [][]string{{"rm", "-fa", "-t", "0"}, {"rmi", "-af"}, {"system", "reset", "-f"}} {
		if out, err := w.podman(args...); err != nil {
			w.t.Errorf("cleanup: %v\n%s", err, out)
		}
	}
	left, err := mountsUnder(w.dir)
	if err != nil {
		w.t.Errorf("cleanup: %v", err)
	}
	for _, m := range left {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
			w.t.Errorf("cleanup: umount %s: %v", m, err)
		} else {
			w.t.Logf("cleanup: %s was still mounted", m)
		}
	}
}

// removeCgroups removes the containers' cgroups (cgroupfs manager:
// libpod_parent/libpod-ID in each hierarchy) that Podman left behind
// empty: it does so here after a checkpoint CRIU failed (seen with Podman
// 4.3.1, runc 1.1.5, cgroup v1). rmdir removes only an empty cgroup.
func (w *world) removeCgroups(ids []string) {
	for _, id := range ids {
		if strings.ContainsAny(id, "/.") || id == "" {
			w.t.Errorf("cleanup: podman ps gave container id %q", id)
			continue
		}
		dirs, err := filepath.Glob("/sys/fs/cgroup/*/libpod_parent/libpod-" + id)
		if err != nil {
			w.t.Errorf("cleanup: %v", err)
		}
		v2, _ := filepath.Glob("/sys/fs/cgroup/libpod_parent/libpod-" + id)
		removed := 0
		for _, d := range append(dirs, v2...) {
			if err := unix.Rmdir(d); err != nil && err != unix.ENOENT { // ENOENT: Podman was faster
				w.t.Errorf("cleanup: rmdir %s: %v", d, err)
			} else if err == nil {
				removed++
			}
		}
		if removed > 0 {
			w.t.Logf("cleanup: removed the empty cgroup libpod_parent/libpod-%s Podman left (%d hierarchies)", id, removed)
		}
	}
}

// mountsUnder lists the mountpoints at or below dir in our mount
// namespace, deepest first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ms []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			ms = append(ms, mp)
		}
	}
	sort.Slice(ms, func(i, j int) bool { return len(ms[i]) > len(ms[j]) })
	return ms, sc.Err()
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for space...).
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%3o", &c); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
