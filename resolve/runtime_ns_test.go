package resolve

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/ovlfix/ovlfix/internal/testenv"
	"golang.org/x/sys/unix"
)

// runtimeEnv marks a copy of the test binary that runs one test's body
// as a container runtime (asRuntime); its value is the test's name.
const runtimeEnv = "OVLFIX_RESOLVE_RUNTIME_NS"

// asRuntime runs body in a copy of the test binary with a mount namespace
// of its own (made private first, so nothing reaches the host), where it
// plays a container runtime: what body mounts is in ovlfix's own
// namespace (this process is ovlfix), and a scenario child started there
// gets a copy of it, so those overlays are in both mount tables, as a
// runtime's overlays are. The test passes when the copy's run of it does;
// the copy's output is logged. Only for top-level tests (the copy is
// selected by -test.run).
func asRuntime(t *testing.T, body func(t *testing.T)) {
	t.Helper()
	if os.Getenv(runtimeEnv) == t.Name() {
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			t.Fatalf("make / private in the runtime's namespace: %v", err)
		}
		body(t)
		return
	}
	testenv.RequireRoot(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), runtimeEnv+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	t.Logf("%s in a mount namespace of its own:\n%s", t.Name(), out)
	if err != nil {
		t.Fatalf("%s in its own mount namespace: %v", t.Name(), err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s did not run in its own mount namespace", t.Name())
	}
}

// runtimeOverlay is an overlay the runtime mounted in its (ovlfix's)
// namespace: dir is a tmpfs holding lower/, upper/, work/ and merged/, the
// overlay being on merged.
type runtimeOverlay struct {
	dir string
}

// Path is rel under the overlay's directory ("lower", "merged/a").
func (ro runtimeOverlay) Path(rel string) string { return filepath.Join(ro.dir, rel) }

// mountRuntimeOverlay makes a runtimeOverlay in a new temporary directory,
// with fill (may be nil) writing the lower layer, the directory it gets,
// before the mount. It is unmounted when the test ends (after the
// scenario children that inherited it are stopped, when they were started
// later).
func mountRuntimeOverlay(t *testing.T, fill func(lower string)) runtimeOverlay {
	t.Helper()
	ro := runtimeOverlay{dir: t.TempDir()}
	if err := unix.Mount("tmpfs", ro.dir, "tmpfs", 0, "mode=0755"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(ro.dir, unix.MNT_DETACH) })
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(ro.Path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if fill != nil {
		fill(ro.Path("lower"))
	}
	opts := "lowerdir=" + ro.Path("lower") + ",upperdir=" + ro.Path("upper") + ",workdir=" + ro.Path("work")
	if err := unix.Mount("overlay", ro.Path("merged"), "overlay", 0, opts); err != nil {
		t.Fatalf("mount the runtime's overlay (%s): %v", opts, err)
	}
	return ro
}

// writeFiles writes files (path relative to dir: content) under dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// stepPath names path for a scenario step of a child whose base is base:
// steps are relative to the base, and the runtime's overlay is elsewhere.
func stepPath(t testing.TB, base, path string) []byte {
	t.Helper()
	rel, err := filepath.Rel(base, path)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(rel)
}
