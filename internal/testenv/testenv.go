// Package testenv holds the rules for tests that need privileges or tools:
// they skip with a reason on a developer machine, and fail in CI (CI=true),
// where everything they need is installed and they run as root.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// InCI reports whether the tests run under .ci/run.
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable skips the test, or fails it in CI, where a skip would hide
// a missing feature or proof.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI must run this test, but: %s", why)
	}
	t.Skip(why)
}

// RequireRoot skips (or fails in CI) unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root: it mounts overlays in a private mount namespace")
	}
}

// RequireFile skips (or fails in CI) unless path exists; made says what
// makes it ("scripts/setup.sh builds it").
func RequireFile(t testing.TB, path, made string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Unavailable(t, fmt.Sprintf("%s: %v (%s)", path, err, made))
	}
}

// RequireTool returns the path of a program, skipping (or failing in CI)
// when it is not installed.
func RequireTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Unavailable(t, name+" not installed (Debian package "+pkg+"; scripts/setup.sh installs it)")
	}
	return p
}

// KernelAtLeast reports whether the running kernel's release is at least
// major.minor (from uname(2)).
func KernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	atLeast, _ := ReleaseAtLeast(unix.ByteSliceToString(u.Release[:]), major, minor)
	return atLeast
}

// ReleaseAtLeast reports whether a kernel release as uname -r prints it
// ("6.1.0-56-amd64", "6.12.117+deb12-amd64") is at least major.minor;
// distribution suffixes are ignored. ok is false when release does not
// start with major.minor.
func ReleaseAtLeast(release string, major, minor int) (atLeast, ok bool) {
	var ma, mi int
	if _, err := fmt.Sscanf(release, "%d.%d", &ma, &mi); err != nil {
		return false, false
	}
	return ma > major || ma == major && mi >= minor, true
}
