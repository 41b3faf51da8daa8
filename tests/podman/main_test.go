package podman

import (
	"fmt"
	"os"
	"os/exec"
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
	holder string
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
	cc := exec.Command("gcc", "-static", "-Os", "-s", "-Wall", "-Werror", "-o", built.holder,
		filepath.Join("testdata", "holder.c"))
	if out, err := cc.CombinedOutput(); err != nil {
		return fmt.Errorf("gcc -static testdata/holder.c (needs libc6-dev's static libc): %v\n%s", err, out)
	}
	return nil
}

func repoRoot() (string, error) { return testenv.RepoRoot() }
