package resolve

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/moby/sys/mountinfo"
	"github.com/ovlfix/ovlfix/mountns"
	"golang.org/x/sys/unix"
)

// TestLayerInos: the xino values are the ones docs/kernel-quirks.md §4 records
// from Linux 6.18 (lower on ext4, upper on tmpfs, xino=on): stat st_ino
// 0x8000000000984465 for the lower file whose real inode is 0x984465.
func TestLayerInos(t *testing.T) {
	two := []mountns.Layer{{Path: "/l1"}}
	for _, c := range []struct {
		name string
		ino  uint64
		ov   *mountns.Overlay
		want uint64 // must be among the candidates
		n    int    // number of candidates
	}{
		{"not an overlay", 42, nil, 42, 1},
		{"no xino", 42, &mountns.Overlay{Lower: two, Upper: "/u"}, 42, 1},
		{"xino=off", 0x8000000000984465, &mountns.Overlay{Lower: two, Upper: "/u", Xino: "off"}, 0x8000000000984465, 1},
		{"xino=on, 6.18 lower file", 0x8000000000984465, &mountns.Overlay{Lower: two, Upper: "/u", Xino: "on"}, 0x984465, 2},
		{"xino=on, upper file (fsid 0)", 8, &mountns.Overlay{Lower: two, Upper: "/u", Xino: "on"}, 8, 1},
		{"xino=auto, 4 lowers", 0x6000000000000011, &mountns.Overlay{Lower: make([]mountns.Layer, 4), Upper: "/u", Xino: "auto"}, 0x11, 3},
	} {
		got := layerInos(c.ino, c.ov)
		if got[0] != c.ino || !slices.Contains(got, c.want) || len(got) != c.n {
			t.Errorf("%s: layerInos(%#x) = %#x, want %#x among %d", c.name, c.ino, got, c.want, c.n)
		}
	}
}

// TestDirent decodes what getdents64 really returns for a directory made
// here, against stat(2) of each entry.
func TestDirent(t *testing.T) {
	dir := t.TempDir()
	names := []string{"a", "file with space", "\xff\xfe", "sub"}
	for _, n := range names[:3] {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]direntry{}
	if _, err := eachDirent(int(f.Fd()), make([]byte, 4096), func(d direntry) bool {
		seen[string(d.name)] = d
		return false
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(names) {
		t.Fatalf("entries %q, want %q", keys(seen), names)
	}
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, n), &st); err != nil {
			t.Fatal(err)
		}
		d, ok := seen[n]
		wantType := uint8(unix.DT_REG)
		if n == "sub" {
			wantType = unix.DT_DIR
		}
		if !ok || d.ino != st.Ino || d.typ != wantType {
			t.Errorf("%q: %+v, want ino %d type %d", n, d, st.Ino, wantType)
		}
	}
	// Truncated or lying records are refused, never read past the buffer.
	for _, b := range [][]byte{nil, make([]byte, 18), append(make([]byte, 16), 0xff, 0xff, 0, 'x'), append(make([]byte, 16), 3, 0, 0, 'x')} {
		if _, ok := dirent(b); ok {
			t.Errorf("dirent(% x) accepted", b)
		}
	}
}

func keys(m map[string]direntry) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func FuzzDirent(f *testing.F) {
	f.Add(append(make([]byte, 16), 24, 0, 8, 'a', 'b', 0, 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, ok := dirent(b); ok && (d.reclen > len(b) || len(d.name) > d.reclen) {
			t.Fatalf("record %+v outside % x", d, b)
		}
	})
}

// TestOverlayPath maps layer-relative paths onto mounts, with the mount's
// root for bind mounts of an overlay subtree (mountinfo field 4).
func TestOverlayPath(t *testing.T) {
	mnt := func(root, point string) *mountns.Mount {
		return &mountns.Mount{Info: &mountinfo.Info{Root: root, Mountpoint: point}}
	}
	for _, c := range []struct {
		m    *mountns.Mount
		rel  string
		want string // "" for no mapping
	}{
		{mnt("/", "/merged"), "/a/b", "/merged/a/b"},
		{mnt("/", "/"), "/a/b", "/a/b"},
		{mnt("/", "/merged"), "/", "/merged"},
		{mnt("/sub", "/bind"), "/sub/x", "/bind/x"},
		{mnt("/sub", "/bind"), "/sub", "/bind"},
		{mnt("/sub", "/bind"), "/subway/x", ""},
		{mnt("/sub", "/bind"), "/other/x", ""},
	} {
		got, ok := overlayPath(c.m, c.rel)
		if (c.want == "") == ok || string(got) != c.want {
			t.Errorf("overlayPath(root %q on %q, %q) = %q, %v; want %q", c.m.Root, c.m.Mountpoint, c.rel, got, ok, c.want)
		}
	}
}

// TestPathUnder splits a decoded handle path by the mount's own path, as
// readlink of /proc/self/fd prints both.
func TestPathUnder(t *testing.T) {
	for _, c := range []struct {
		p, dir, rel string
		ok          bool
	}{
		{"/tmp/x/m/g", "/tmp/x/m", "/g", true},
		{"/tmp/x/m", "/tmp/x/m", "", true},
		{"/tmp/x/mm/g", "/tmp/x/m", "", false},
		{"/g", "/", "/g", true},
		{"g", "/", "g", false},
	} {
		rel, ok := pathUnder(c.p, c.dir)
		if rel != c.rel || ok != c.ok {
			t.Errorf("pathUnder(%q, %q) = %q, %v; want %q, %v", c.p, c.dir, rel, ok, c.rel, c.ok)
		}
	}
}
