package verify

import (
	"archive/tar"
	"context"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/checkpoint"
	"github.com/ovlfix/ovlfix/inspect"
	"golang.org/x/sys/unix"
)

// TestDiffTreeAncestors: a rootfs-diff.tar member that is not a directory
// replaces what the base has at its path, and with it everything under
// it. A held file under such a member must be judged by the member (a
// symlink member is followed inside the tree, a file member makes the
// path ENOTDIR), never by the base's file that Podman's extraction
// removed: that would be a wrong "restorable".
func TestDiffTreeAncestors(t *testing.T) {
	base := &fakeTree{nodes: map[string]node{
		"/a":      {Mode: unix.S_IFDIR | 0o755},
		"/a/x":    reg(0o644, 3, nil),
		"/b":      {Mode: unix.S_IFDIR | 0o755},
		"/b/x":    reg(0o644, 3, nil),
		"/c":      {Mode: unix.S_IFDIR | 0o755},
		"/c/x":    reg(0o644, 3, nil),
		"/t":      {Mode: unix.S_IFDIR | 0o755},
		"/t/x":    reg(0o644, 4, nil),
		"/loop":   {Mode: unix.S_IFDIR | 0o755},
		"/loop/x": reg(0o644, 3, nil),
		"/keep":   {Mode: unix.S_IFDIR | 0o755},
		"/keep/x": reg(0o644, 3, nil),
	}}
	diff := &checkpoint.RootfsDiff{Entries: map[string]checkpoint.DiffEntry{
		"/a":    {Path: "/a", Type: tar.TypeReg, Mode: 0o644, Size: 1},       // a file over the base's dir
		"/b":    {Path: "/b", Type: tar.TypeSymlink, Linkname: "/nowhere"},   // a dangling link over it
		"/c":    {Path: "/c", Type: tar.TypeSymlink, Linkname: "../../../t"}, // a link inside the tree (clamped)
		"/loop": {Path: "/loop", Type: tar.TypeSymlink, Linkname: "loop"},    // a link to itself
		"/keep": {Path: "/keep", Type: tar.TypeDir, Mode: 0o755},             // a dir: the base's files stay
	}}
	files := []*inspect.File{
		held("/a/x", 3, 0o644, nil),
		held("/b/x", 3, 0o644, nil),
		held("/c/x", 3, 0o644, nil),
		held("/loop/x", 3, 0o644, nil),
		held("/keep/x", 3, 0o644, nil),
	}
	r := checkWithDiff(t, files, diff, base)
	got := map[string]string{}
	for _, p := range r.Problems {
		got[p.Name] = p.CRIU
	}
	want := map[string]string{
		"/a/x":    "Can't open file a/x on restore: Not a directory",
		"/b/x":    "Can't open file b/x on restore: No such file or directory",
		"/c/x":    "File c/x has bad size 4 (expect 3)",
		"/loop/x": "Can't open file loop/x on restore: Too many levels of symbolic links",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: CRIU line %q, want %q", name, got[name], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("problems %v, want only %v (/keep/x restorable)", got, want)
	}
}

// TestDiffTreeLongName: a files.img name is untrusted and may be far
// longer than PATH_MAX; the walk over its ancestors in the diff costs a
// constant number of allocations per lookup, not one per component, and
// hashes each component once (the walk by path.Dir over a map of paths
// took 6.8 s for one 100 KB name of 50000 components: logged times).
func TestDiffTreeLongName(t *testing.T) {
	base := &fakeTree{nodes: map[string]node{}}
	// Maps large enough to hash their keys (a small map compares lengths
	// first and would hide a per-prefix hash), and a member on the path.
	diff := &checkpoint.RootfsDiff{Entries: map[string]checkpoint.DiffEntry{
		"/a/a": {Path: "/a/a", Type: tar.TypeDir, Mode: 0o755},
	}}
	for i := range 100 {
		p := "/x" + strconv.Itoa(i)
		diff.Entries[p] = checkpoint.DiffEntry{Path: p, Type: tar.TypeReg}
		diff.Deleted = append(diff.Deleted, "/y"+strconv.Itoa(i))
	}
	for _, n := range []int{1000, 50_000} {
		name := "/" + strings.Repeat("a/", n) + "f"
		dir := path.Dir(name) // a member all the way down: the walk visits every component
		diff.Entries[dir] = checkpoint.DiffEntry{Path: dir, Type: tar.TypeDir, Mode: 0o755}
		tr := newDiffTree(diff, base)
		start := time.Now()
		allocs := testing.AllocsPerRun(3, func() {
			if _, err := tr.lookup(name); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("%d components: %.0f allocations per lookup, %v for 4", n, allocs, time.Since(start))
		if allocs > 10 {
			t.Errorf("%d components: %.0f allocations per lookup, want a constant", n, allocs)
		}
	}
}

// TestDiffTreeRelativeLinkUnderResolvedAncestor: a held name whose
// ancestor is a symlink member and whose final component is a relative
// symlink: the link is relative to the directory it is in (where the
// ancestor led), as the kernel resolves it, not to the name as written.
func TestDiffTreeRelativeLinkUnderResolvedAncestor(t *testing.T) {
	base := &fakeTree{nodes: map[string]node{
		"/deep/er/t/x": {Mode: unix.S_IFLNK | 0o777, Link: "../z"},
		"/deep/er/z":   reg(0o644, 3, nil),
	}}
	diff := &checkpoint.RootfsDiff{Entries: map[string]checkpoint.DiffEntry{
		"/c": {Path: "/c", Type: tar.TypeSymlink, Linkname: "/deep/er/t"},
	}}
	r := checkWithDiff(t, []*inspect.File{held("/c/x", 3, 0o644, nil)}, diff, base)
	if !r.Restorable() {
		t.Errorf("/c/x -> /deep/er/t/x -> ../z is /deep/er/z (3 bytes): %+v", r.Problems)
	}
}

// checkWithDiff numbers files and checks them against base with diff
// applied over it, as an archive's verify does.
func checkWithDiff(t *testing.T, files []*inspect.File, diff *checkpoint.RootfsDiff, base tree) *Result {
	t.Helper()
	for i, f := range files {
		f.ID = uint32(i)
	}
	r, err := check(context.Background(), &inspect.Listing{Files: files}, newDiffTree(diff, base), "/r", diff, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
