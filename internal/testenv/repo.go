package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RepoRoot is ovlfix's module root, found from the test's working
// directory (a package directory inside the module) upwards.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(mod), "module github.com/ovlfix/ovlfix\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no ovlfix go.mod above the test's directory")
		}
		dir = parent
	}
}

// BuildOvlfix builds ./cmd/ovlfix of the module at root into out: the
// end-to-end tests run the real binary, as CRIU and the runtimes do.
func BuildOvlfix(root, out string) error {
	build := exec.Command("go", "build", "-o", out, "./cmd/ovlfix")
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/ovlfix: %v\n%s", err, b)
	}
	return nil
}

// BuildStatic compiles the C program src into out with gcc -static,
// -Wall -Werror and opt (optimisation flags): the holders and watchers
// the end-to-end tests run inside pivoted roots, where no libc is.
func BuildStatic(out, src string, opt ...string) error {
	args := append(append([]string{"-static"}, opt...), "-Wall", "-Werror", "-o", out, src)
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("gcc -static %s (needs libc6-dev's static libc): %v\n%s", src, err, b)
	}
	return nil
}

// MustRepoRoot is RepoRoot for a test: it fails the test when the root
// cannot be found.
func MustRepoRoot(t testing.TB) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}
