package hook

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ovlfix/ovlfix/proto"
)

// realCache is the irmap-cache CRIU 3.17.1 wrote itself (`criu pre-dump
// --irmap-scan-path`, Debian 6.1 lab; testdata/criu/README.md): one entry,
// dev 31 (0:31), inode 7, /tmp/ovl/merged/lowerfile.
func realCache(t *testing.T) *proto.Image {
	t.Helper()
	img, err := proto.ReadImageFile(filepath.Join("..", "testdata", "criu", "irmap", "irmap-cache"), proto.WantKind(proto.KindIrmapCache))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

var realEntry = IrmapEntry{Dev: 31, Ino: 7, Path: "/tmp/ovl/merged/lowerfile"}

func decodeEntries(t *testing.T, img *proto.Image) []IrmapEntry {
	t.Helper()
	var buf bytes.Buffer
	if err := img.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	es, err := proto.ReadIrmapCache(&buf, "merged")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]IrmapEntry, len(es))
	for i, e := range es {
		out[i] = IrmapEntry{Dev: e.GetDev(), Ino: e.GetInode(), Path: e.GetPath()}
	}
	return out
}

func TestMergeIrmap(t *testing.T) {
	other := IrmapEntry{Dev: 0x2b, Ino: 12, Path: "/data/watched"}
	sameKey := IrmapEntry{Dev: 31, Ino: 7, Path: "/tmp/ovl/merged/renamed"}
	raw := []byte("/odd\nname\xff") // names are bytes, not UTF-8
	odd := IrmapEntry{Dev: 0x2b, Ino: 13, Path: string(raw)}
	always := func(IrmapEntry) bool { return true }
	never := func(IrmapEntry) bool { return false }
	tests := []struct {
		name     string
		existing bool
		ours     []IrmapEntry
		valid    func(IrmapEntry) bool
		want     []IrmapEntry
		whats    []string
	}{
		{name: "no cache", ours: []IrmapEntry{other, odd}, valid: never, want: []IrmapEntry{other, odd}, whats: []string{Added, Added}},
		{name: "ours deduplicated", ours: []IrmapEntry{other, other}, valid: never, want: []IrmapEntry{other}, whats: []string{Added}},
		{name: "other key appended after existing", existing: true, ours: []IrmapEntry{other}, valid: never, want: []IrmapEntry{realEntry, other}, whats: []string{Added}},
		{name: "valid existing entry kept", existing: true, ours: []IrmapEntry{sameKey}, valid: always, want: []IrmapEntry{realEntry}, whats: []string{KeptExisting}},
		{name: "stale existing entry replaced", existing: true, ours: []IrmapEntry{sameKey, other}, valid: never, want: []IrmapEntry{sameKey, other}, whats: []string{Replaced, Added}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ex *proto.Image
			if tc.existing {
				ex = realCache(t)
			}
			img, outs, err := mergeIrmap(ex, tc.ours, tc.valid)
			if err != nil {
				t.Fatal(err)
			}
			got := decodeEntries(t, img)
			if len(got) != len(tc.want) {
				t.Fatalf("entries %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("entry %d = %v, want %v", i, got[i], tc.want[i])
				}
			}
			if len(outs) != len(tc.whats) {
				t.Fatalf("outcomes %+v, want %v", outs, tc.whats)
			}
			for i := range outs {
				if outs[i].What != tc.whats[i] {
					t.Errorf("outcome %d = %s, want %s", i, outs[i].What, tc.whats[i])
				}
			}
			if tc.existing && tc.whats[0] != Replaced && !bytes.Equal(img.Entries[0], ex.Entries[0]) {
				t.Errorf("the kept existing entry was re-encoded: %x, was %x", img.Entries[0], ex.Entries[0])
			}
		})
	}
}

// An existing cache may hold several entries for one key (CRIU's hash
// chain takes the last loaded first, dropping the stale ones): for a key
// we have, the first valid one survives, alone.
func TestMergeIrmapDuplicateKeys(t *testing.T) {
	stale := IrmapEntry{Dev: 31, Ino: 7, Path: "/gone"}
	ex, err := proto.NewImage(proto.IrmapCache, proto.KindIrmapCache)
	if err != nil {
		t.Fatal(err)
	}
	keep := IrmapEntry{Dev: 1, Ino: 1, Path: "/not/ours"}
	for _, e := range []IrmapEntry{stale, keep, realEntry, keep} {
		if err := appendIrmap(ex, e); err != nil {
			t.Fatal(err)
		}
	}
	valid := func(e IrmapEntry) bool { return e.Path == realEntry.Path }
	img, outs, err := mergeIrmap(ex, []IrmapEntry{{Dev: 31, Ino: 7, Path: "/ours"}}, valid)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeEntries(t, img)
	want := []IrmapEntry{keep, realEntry, keep} // others' duplicates untouched
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %v, want %v", i, got[i], want[i])
		}
	}
	if outs[0].What != KeptExisting || outs[0].Existing != realEntry {
		t.Errorf("outcome %+v, want kept-existing of %v", outs[0], realEntry)
	}
	if changed(outs) {
		t.Error("changed() = true for a merge that kept every existing entry")
	}
}

// A cache that does not parse is left alone: readExistingCache fails and
// SeedIrmap writes nothing.
func TestReadExistingCache(t *testing.T) {
	dir := t.TempDir()
	if img, perm, err := readExistingCache(dir); err != nil || img != nil || perm != 0o600 {
		t.Fatalf("no cache: %v %v %v", img, perm, err)
	}
	path := filepath.Join(dir, proto.IrmapCache)
	if err := os.WriteFile(path, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if img, perm, err := readExistingCache(dir); err != nil || img != nil || perm != 0o640 {
		t.Fatalf("empty cache (CRIU: no cache): %v %v %v", img, perm, err)
	}
	// A files.img is a valid image of the wrong kind.
	files, err := os.ReadFile(filepath.Join("..", "testdata", "criu", "basic", "files.img"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, files, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readExistingCache(dir); err == nil {
		t.Fatal("a files.img under the name irmap-cache was accepted")
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "x")); err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	if err := os.Rename(filepath.Join(dir, "x"), path); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readExistingCache(dir); err == nil {
		t.Fatal("a symlink named irmap-cache was followed")
	}
}
