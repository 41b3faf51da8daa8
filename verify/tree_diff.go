package verify

import (
	"archive/tar"
	"path"

	"github.com/ovlfix/ovlfix/checkpoint"
	"golang.org/x/sys/unix"
)

// diffTree is the root as Podman leaves it before the restore: the
// archive's rootfs-diff.tar extracted over base, then every path of
// deleted.files removed (with what is under it). Nothing is extracted: a
// member is judged by its tar header. Intermediate symlinks among the
// members are not followed (a member's path is taken as it is written);
// the base's are, by the base's lookup.
type diffTree struct {
	diff    *checkpoint.RootfsDiff
	deleted map[string]bool
	base    tree
}

func newDiffTree(d *checkpoint.RootfsDiff, base tree) *diffTree {
	del := make(map[string]bool, len(d.Deleted))
	for _, p := range d.Deleted {
		del[path.Clean("/"+p)] = true
	}
	return &diffTree{diff: d, deleted: del, base: base}
}

func (t *diffTree) lookup(p string) (node, error) {
	for q := p; ; q = path.Dir(q) {
		if t.deleted[q] {
			return node{From: "deleted.files"}, nil
		}
		if q == "/" {
			break
		}
	}
	e, ok := t.diff.Entries[p]
	if !ok {
		return t.base.lookup(p)
	}
	// A hard link member has no size of its own: its target's header
	// describes the inode (bounded: a chain of links is not followed).
	if e.Type == tar.TypeLink {
		if tgt, ok := t.diff.Entries[path.Clean("/"+e.Linkname)]; ok && tgt.Type != tar.TypeLink {
			e = tgt
		}
	}
	n := node{Exists: true, Mode: tarMode(e), Size: e.Size, From: "rootfs-diff.tar"}
	switch e.Type {
	case tar.TypeSymlink:
		n.Link, n.Size = e.Linkname, int64(len(e.Linkname))
	case tar.TypeReg:
		id := e.BuildID
		n.buildID = func() ([]byte, error) { return id, nil }
	}
	return n, nil
}

// tarMode is the st_mode the member gets when extracted.
func tarMode(e checkpoint.DiffEntry) uint32 {
	perm := uint32(e.Mode) & 0o7777
	switch e.Type {
	case tar.TypeDir:
		return unix.S_IFDIR | perm
	case tar.TypeSymlink:
		return unix.S_IFLNK | perm
	case tar.TypeChar:
		return unix.S_IFCHR | perm
	case tar.TypeBlock:
		return unix.S_IFBLK | perm
	case tar.TypeFifo:
		return unix.S_IFIFO | perm
	}
	return unix.S_IFREG | perm
}
