package mountns

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/internal/testenv"
)

// The fixtures under testdata/mountinfo/linux-<version>/ were captured by
// testdata/mountinfo/capture.sh. The expectations in the tests come from
// that script (which paths and options it mounted with) and from what the
// overlayfs source says the kernel prints, never from the parser's output.

const fixtureDir = "../testdata/mountinfo"

// fixtureKernels lists the captured kernels that are present.
func fixtureKernels(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(fixtureDir, "linux-*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fixture directories under %s (err %v)", fixtureDir, err)
	}
	return dirs
}

func loadFixture(t *testing.T, dir, name string) *Table {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tab, err := ParseTable(f)
	if err != nil {
		t.Fatalf("%s/%s: %v", dir, name, err)
	}
	return tab
}

// kernelAtLeast reports whether the fixture dir's uname.txt is >= major.minor.
func kernelAtLeast(t *testing.T, dir string, major, minor int) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "uname.txt"))
	if err != nil {
		t.Fatal(err)
	}
	atLeast, ok := testenv.ReleaseAtLeast(strings.TrimSpace(string(b)), major, minor)
	if !ok {
		t.Fatalf("uname.txt %q: not a kernel release", b)
	}
	return atLeast
}

// layerID is capture.sh's id(): a stable 64-hex layer id.
func layerID(name string) string {
	s := sha256.Sum256([]byte(name))
	return hex.EncodeToString(s[:])
}

// shortLink is capture.sh's short(): tr 'a-f0-9' 'A-Z0-9A-Z' maps a-f to A-F
// and 0-9 to G-P; the first 26 characters.
func shortLink(name string) string {
	h := layerID(name)[:26]
	b := []byte(h)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
		} else {
			b[i] = c - '0' + 'G'
		}
	}
	return string(b)
}

func TestShortLinkMatchesCaptureScript(t *testing.T) {
	// printf base | sha256sum | tr 'a-f0-9' 'A-Z0-9A-Z' | cut -c1-26
	if got, want := shortLink("base"), "CAEMMIHNIFDKLGBBGCDNHGANMP"; got != want {
		t.Fatalf("shortLink(base) = %s, want %s", got, want)
	}
}
