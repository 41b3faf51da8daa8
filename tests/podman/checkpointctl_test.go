package podman

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/internal/testenv"
)

// TestCheckpointctlPlugin runs the real checkpointctl (1.6.0, pinned in
// tools/checkpointctl and built by scripts/setup.sh) with a symlink
// checkpointctl-ovlfix on PATH: `checkpointctl ovlfix ARCHIVE` is
// `ovlfix inspect ARCHIVE`, and checkpointctl's own help lists the plugin
// with ovlfix's one-line description. On a committed Podman fixture.
func TestCheckpointctlPlugin(t *testing.T) {
	if built.err != nil {
		t.Fatal(built.err)
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cctl := filepath.Join(root, "tools", "checkpointctl", "bin", "checkpointctl")
	testenv.RequireFile(t, cctl, "checkpointctl 1.6.0, which scripts/setup.sh builds from tools/checkpointctl")
	plug := t.TempDir()
	if err := os.Symlink(built.ovlfix, filepath.Join(plug, "checkpointctl-ovlfix")); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+plug+":"+os.Getenv("PATH"))
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(cctl, args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("checkpointctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	help := run("--help")
	if !strings.Contains(help, "ovlfix") || !strings.Contains(help, "(ovlfix inspect)") {
		t.Errorf("checkpointctl --help does not list the ovlfix plugin:\n%s", help)
	}
	archive := filepath.Join(fixtureDir, "holder-zstd.tar.zst")
	out := run("ovlfix", archive)
	want, err := exec.Command(built.ovlfix, "inspect", archive).Output()
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Errorf("checkpointctl ovlfix ARCHIVE:\n%s\nwant what ovlfix inspect prints:\n%s", out, want)
	}
	for _, row := range []string{"lower:0", "copied-up:0", `"/data/lower.txt"`} {
		if !strings.Contains(out, row) {
			t.Errorf("checkpointctl ovlfix ARCHIVE lacks %q:\n%s", row, out)
		}
	}
	t.Logf("checkpointctl ovlfix %s:\n%s", filepath.Base(archive), out)
}
