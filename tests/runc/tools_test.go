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
	runc, criu, proxy, watcher, busybox string
}

var criuVersionLine = regexp.MustCompile(`(?m)^Version: 4\.2\b`)

func unavailable(t *testing.T, why string) {
	t.Helper()
	if testenv.InCI() {
		t.Fatalf("CI must run this test, but: %s", why)
	}
	t.Skip(why)
}

// setupTools checks what the test needs and builds ovlfix (with its
// ovlfix-criu symlink) and the static watcher.
func setupTools(t *testing.T) tools {
	t.Helper()
	testenv.RequireRoot(t)
	tl := tools{runc: testenv.RequireTool(t, "runc", "runc")}
	gcc := testenv.RequireTool(t, "gcc", "gcc")
	testenv.RequireTool(t, "nsenter", "util-linux")
	testenv.RequireTool(t, "unshare", "util-linux")
	goTool := testenv.RequireTool(t, "go", "golang")
	tl.busybox = "/bin/busybox"
	if out, err := exec.Command("file", "-L", tl.busybox).CombinedOutput(); err != nil || !strings.Contains(string(out), "statically linked") {
		unavailable(t, fmt.Sprintf("needs a static %s (Debian package busybox-static): %s %v", tl.busybox, strings.TrimSpace(string(out)), err))
	}
	root := repoRoot(t)
	tl.criu = os.Getenv("OVLFIX_CRIU42")
	if tl.criu == "" {
		tl.criu = filepath.Join(root, "..", "shared", "criu", "4.2", "criu")
	}
	out, err := exec.Command(tl.criu, "--version").CombinedOutput()
	if err != nil || !criuVersionLine.Match(out) {
		unavailable(t, fmt.Sprintf("needs CRIU 4.2 at %s (or OVLFIX_CRIU42) with the shared libraries of Debian's criu package: %v %s",
			tl.criu, err, strings.TrimSpace(string(out))))
	}
	dir := t.TempDir()
	ovlfix := filepath.Join(dir, "ovlfix")
	build := exec.Command(goTool, "build", "-o", ovlfix, "./cmd/ovlfix")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ovlfix: %v\n%s", err, out)
	}
	tl.proxy = filepath.Join(dir, "ovlfix-criu")
	if err := os.Symlink("ovlfix", tl.proxy); err != nil {
		t.Fatal(err)
	}
	tl.watcher = filepath.Join(dir, "watcher")
	cc := exec.Command(gcc, "-static", "-O2", "-Wall", "-Werror", "-o", tl.watcher, filepath.Join("testdata", "watcher.c"))
	if out, err := cc.CombinedOutput(); err != nil {
		unavailable(t, fmt.Sprintf("gcc -static testdata/watcher.c (needs libc6-dev's static libc): %v\n%s", err, out))
	}
	return tl
}

// repoRoot is the module's root directory: the test runs in tests/runc.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !strings.Contains(string(mod), "module github.com/ovlfix/ovlfix\n") {
		t.Fatalf("%s is not ovlfix's module root (go.mod: %v)", root, err)
	}
	return root
}
