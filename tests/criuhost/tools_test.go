package criuhost

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

// tools are the programs the runs use: found or built once per test.
type tools struct {
	criu   string // CRIU 4.2
	ovlfix string // built from this repository
	hook   string // a symlink named ovlfix-hook to ovlfix: CRIU's action script
	holder string // testdata/holder.c, statically linked
}

var criuVersionLine = regexp.MustCompile(`(?m)^Version: 4\.2$`)

// setupTools checks what the runs need and builds ovlfix and the holder.
func setupTools(t *testing.T) tools {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireTool(t, "gcc", "gcc")
	testenv.RequireTool(t, "nsenter", "util-linux")
	testenv.RequireTool(t, "go", "golang")
	root := testenv.MustRepoRoot(t)

	criu := os.Getenv("OVLFIX_CRIU42")
	if criu == "" {
		criu = filepath.Join(root, "..", "shared", "criu", "4.2", "criu")
	}
	out, err := exec.Command(criu, "--version").CombinedOutput()
	if err != nil || !criuVersionLine.Match(out) {
		got := strings.TrimSpace(string(out))
		if err != nil {
			got = strings.TrimSpace(err.Error() + " " + got)
		}
		testenv.Unavailable(t, fmt.Sprintf("needs CRIU 4.2 at %s (or OVLFIX_CRIU42), with the shared libraries of "+
			"Debian's criu package (apt-get install criu; ../shared/criu/README.md); --version says: %s", criu, got))
	}

	dir := t.TempDir()
	tl := tools{criu: criu, ovlfix: filepath.Join(dir, "ovlfix"), hook: filepath.Join(dir, "ovlfix-hook"),
		holder: filepath.Join(dir, "holder")}
	if err := testenv.BuildOvlfix(root, tl.ovlfix); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("ovlfix", tl.hook); err != nil {
		t.Fatal(err)
	}
	if err := testenv.BuildStatic(tl.holder, filepath.Join("testdata", "holder.c"), "-O2"); err != nil {
		testenv.Unavailable(t, err.Error())
	}
	return tl
}
