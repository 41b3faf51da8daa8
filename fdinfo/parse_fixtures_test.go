package fdinfo

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The fixtures under ../testdata/proc/<kernel>/ are real /proc text captured
// by testdata/proc/capture.py (see testdata/proc/README.md). Each NAME.txt has
// a NAME.expect.json written by the same script from independent sources
// (fstat, F_GETFL, mountinfo, syscall arguments, mmap return values).

const procFixtures = "../testdata/proc"

// fixtureKernel is one directory of captures.
type fixtureKernel struct {
	dir          string // ../testdata/proc/6.18
	name         string // "6.18"
	major, minor int    // from name
}

func fixtureKernels(t testing.TB) []fixtureKernel {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(procFixtures, "*", "uname.txt"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no fixture kernels under %s (err %v)", procFixtures, err)
	}
	var out []fixtureKernel
	for _, u := range dirs {
		dir := filepath.Dir(u)
		name := filepath.Base(dir)
		maj, min, ok := strings.Cut(name, ".")
		a, err1 := strconv.Atoi(maj)
		b, err2 := strconv.Atoi(min)
		if !ok || err1 != nil || err2 != nil {
			t.Fatalf("fixture dir %s is not named MAJOR.MINOR", dir)
		}
		out = append(out, fixtureKernel{dir: dir, name: name, major: a, minor: b})
	}
	return out
}

// atLeast reports whether the fixture kernel is version maj.min or newer.
func (k fixtureKernel) atLeast(maj, min int) bool {
	return k.major > maj || k.major == maj && k.minor >= min
}

func readFixture(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fdExpect is NAME.expect.json of an fdinfo capture.
type fdExpect struct {
	Pos           uint64        `json:"pos"`
	Flags         uint32        `json:"flags"`
	MntID         *int          `json:"mnt_id"`
	Ino           uint64        `json:"ino"`
	Marks         []markExpect  `json:"marks"`
	FailedMarks   []any         `json:"failed_marks"`
	InitFlags     *uint32       `json:"init_flags"`
	EventFlags    *uint32       `json:"event_flags"`
	EventfdCount  *uint64       `json:"eventfd_count"`
	Epoll         []epollExpect `json:"epoll"`
	ExtraPrefixes []string      `json:"extra_prefixes"`
	LockContains  []string      `json:"lock_contains"`
}

type markExpect struct {
	Kind       string  `json:"kind"` // fanotify only: inode, mount, super
	Path       string  `json:"path"`
	WD         *int32  `json:"wd"`
	Mask       uint32  `json:"mask"`
	MFlags     uint32  `json:"mflags"`
	Ino        uint64  `json:"ino"`
	Sdev       uint32  `json:"sdev"`
	MntID      int     `json:"mnt_id"`
	HandleType *int32  `json:"handle_type"`
	Handle     *string `json:"handle"`
}

type epollExpect struct {
	TFD    int    `json:"tfd"`
	Events uint32 `json:"events"`
	Data   uint64 `json:"data"`
	Pos    uint64 `json:"pos"`
	Ino    uint64 `json:"ino"`
	Sdev   uint32 `json:"sdev"`
}

// mapExpect is one entry of maps.expect.json. The layer_* fields exist for
// overlay files: the stat of the real file in the layer.
type mapExpect struct {
	Label         string  `json:"label"`
	Start         uint64  `json:"start"`
	End           uint64  `json:"end"`
	Offset        uint64  `json:"offset"`
	Perms         string  `json:"perms"`
	PathHex       string  `json:"path"`
	Deleted       *bool   `json:"deleted"`
	DevMajor      *uint32 `json:"dev_major"`
	DevMinor      *uint32 `json:"dev_minor"`
	Ino           *uint64 `json:"ino"`
	LayerDevMajor *uint32 `json:"layer_dev_major"`
	LayerDevMinor *uint32 `json:"layer_dev_minor"`
	LayerIno      *uint64 `json:"layer_ino"`
}

func loadJSON(t testing.TB, path string, v any) {
	t.Helper()
	if err := json.Unmarshal(readFixture(t, path), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
