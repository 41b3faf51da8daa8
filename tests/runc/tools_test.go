package runc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/internal/testenv"
)

// tools are the programs the test runs.
type tools struct {
	runc, proxy, watcher, busybox string
	criu                          []criuBinary
}

// criuBinary is one CRIU release the test runs with.
type criuBinary struct {
	version, path string
}

// criuReleases are the CRIU releases of ../shared/criu (README.md there)
// that run on this host, each overridable by an environment variable: 4.2
// (an RPC config file's script runs once) and 4.1.1 (3.19-4.1: twice).
var criuReleases = []struct{ version, env string }{{"4.2", "OVLFIX_CRIU42"}, {"4.1.1", "OVLFIX_CRIU411"}}

// setupTools checks what the test needs and builds ovlfix (with its
// ovlfix-criu symlink) and the static watcher.
func setupTools(t *testing.T) tools {
	t.Helper()
	testenv.RequireRoot(t)
	tl := tools{runc: testenv.RequireTool(t, "runc", "runc")}
	testenv.RequireTool(t, "gcc", "gcc")
	testenv.RequireTool(t, "nsenter", "util-linux")
	testenv.RequireTool(t, "unshare", "util-linux")
	testenv.RequireTool(t, "go", "golang")
	tl.busybox = "/bin/busybox"
	if out, err := exec.Command("file", "-L", tl.busybox).CombinedOutput(); err != nil || !strings.Contains(string(out), "statically linked") {
		testenv.Unavailable(t, fmt.Sprintf("needs a static %s (Debian package busybox-static): %s %v", tl.busybox, strings.TrimSpace(string(out)), err))
	}
	root := testenv.MustRepoRoot(t)
	for _, r := range criuReleases {
		p := os.Getenv(r.env)
		if p == "" {
			p = filepath.Join(root, "..", "shared", "criu", r.version, "criu")
		}
		out, err := exec.Command(p, "--version").CombinedOutput()
		if err != nil || !regexp.MustCompile(`(?m)^Version: `+regexp.QuoteMeta(r.version)+`$`).Match(out) {
			testenv.Unavailable(t, fmt.Sprintf("needs CRIU %s at %s (or %s) with the shared libraries of Debian's criu package: %v %s",
				r.version, p, r.env, err, strings.TrimSpace(string(out))))
		}
		tl.criu = append(tl.criu, criuBinary{r.version, p})
	}
	dir := t.TempDir()
	ovlfix := filepath.Join(dir, "ovlfix")
	if err := testenv.BuildOvlfix(root, ovlfix); err != nil {
		t.Fatal(err)
	}
	tl.proxy = filepath.Join(dir, "ovlfix-criu")
	if err := os.Symlink("ovlfix", tl.proxy); err != nil {
		t.Fatal(err)
	}
	tl.watcher = filepath.Join(dir, "watcher")
	if err := testenv.BuildStatic(tl.watcher, filepath.Join("testdata", "watcher.c"), "-O2"); err != nil {
		testenv.Unavailable(t, err.Error())
	}
	return tl
}
