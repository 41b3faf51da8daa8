package podman

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ovlfix/ovlfix/internal/testenv"
)

// built is what TestMain builds once for every test: ovlfix from the
// working tree and the static holder. err says why a build failed; each
// test that needs them fails with it.
var built struct {
	dir    string
	ovlfix string
	hook   string // symlink named ovlfix-hook: CRIU's action script
	holder string // testdata/holder.c: every test's container process
	criu   string // symlink named criu to ovlfix: the proxy, first in PATH
	err    error
}

func TestMain(m *testing.M) {
	code := func() int {
		dir, err := os.MkdirTemp("", "ovlfix-podman-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		built.dir = dir
		built.err = build(dir)
		return m.Run()
	}()
	os.Exit(code)
}

// build compiles ovlfix and the holder into dir.
func build(dir string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	built.ovlfix = filepath.Join(dir, "ovlfix")
	built.hook = filepath.Join(dir, "ovlfix-hook")
	built.holder = filepath.Join(dir, "holder")
	if err := testenv.BuildOvlfix(root, built.ovlfix); err != nil {
		return err
	}
	if err := os.Symlink("ovlfix", built.hook); err != nil {
		return err
	}
	if err := testenv.BuildStatic(built.holder, filepath.Join("testdata", "holder.c"), "-Os", "-s"); err != nil {
		return err
	}
	// the proxy: a directory holding only `criu -> ovlfix`
	proxyDir := filepath.Join(dir, "proxy")
	built.criu = filepath.Join(proxyDir, "criu")
	if err := os.Mkdir(proxyDir, 0o755); err != nil {
		return err
	}
	if err := os.Symlink(built.ovlfix, built.criu); err != nil {
		return err
	}
	return nil
}

func repoRoot() (string, error) { return testenv.RepoRoot() }
