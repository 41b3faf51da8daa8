package main

import (
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/internal/testenv"
)

// goTool is the go command that builds these tests: the one on PATH, else
// the one of the toolchain this test binary was built with.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if testenv.InCI() {
		t.Fatalf("CI must run this test, but no go command: not on PATH, not at %s", p)
	}
	t.Skipf("no go command (not on PATH, not at %s)", p)
	return ""
}

// goListDeps returns, for every package of the module, the packages it
// imports directly or indirectly (tests excluded).
func goListDeps(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command(goTool(t), "list", "-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}", "github.com/ovlfix/ovlfix/...")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			deps[f[0]] = f[1:]
		}
	}
	return deps
}

// isTestHarness reports whether a package exists to be imported by tests
// only: an internal package named testenv or *test.
func isTestHarness(importPath string) bool {
	name := path.Base(importPath)
	return strings.Contains(importPath, "/internal/") && (name == "testenv" || strings.HasSuffix(name, "test"))
}

// TestNoTestCodeInProduct: the ovlfix binary, and every package a user of
// the module can import or run, is built without package testing (and so
// without the test harnesses): test code in the product is code the
// product runs without its tests' guarantees, and testing registers its
// -test.* flags in every binary that links it.
func TestNoTestCodeInProduct(t *testing.T) {
	deps := goListDeps(t)
	if _, ok := deps["github.com/ovlfix/ovlfix/cmd/ovlfix"]; !ok {
		t.Fatalf("go list did not list cmd/ovlfix: %v", deps)
	}
	for _, pkg := range slices.Sorted(maps.Keys(deps)) {
		if isTestHarness(pkg) {
			continue
		}
		for _, d := range deps[pkg] {
			if d == "testing" || isTestHarness(d) {
				t.Errorf("%s imports %s (directly or not): test code in the product", pkg, d)
			}
		}
	}
}
