package verify

import (
	"archive/tar"
	"path"
	"strings"

	"github.com/ovlfix/ovlfix/checkpoint"
	"golang.org/x/sys/unix"
)

// diffTree is the root as Podman leaves it before the restore: the
// archive's rootfs-diff.tar extracted over base, then every path of
// deleted.files removed (with what is under it). Nothing is extracted: a
// member is judged by its tar header. A member that is not a directory
// replaces the base's path and everything under it (Podman's untar removes
// what is there first): a path under a file member is ENOTDIR, one under a
// symlink member goes where the link leads, inside the tree (ancestors).
// The base's own intermediate symlinks are followed by the base's lookup.
type diffTree struct {
	diff  *checkpoint.RootfsDiff
	index *diffIndex
	base  tree
}

func newDiffTree(d *checkpoint.RootfsDiff, base tree) *diffTree {
	del := make(map[string]bool, len(d.Deleted))
	for _, p := range d.Deleted {
		del[path.Clean("/"+p)] = true
	}
	return &diffTree{diff: d, index: newDiffIndex(d, del), base: base}
}

func (t *diffTree) lookup(p string) (node, error) {
	at, answer, done := t.ancestors(p)
	if done {
		return answer, nil
	}
	n, err := t.lookupResolved(at)
	if at != p {
		n.At = at
	}
	return n, err
}

// lookupResolved finds p, whose ancestors are directories in the tree.
func (t *diffTree) lookupResolved(p string) (node, error) {
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

// ancestors resolves the directories above p as the tree has them after
// the diff: a deleted ancestor (or p deleted) ends the lookup with nothing
// there, a file member with ENOTDIR, a symlink member is replaced by its
// target (clamped to "/", as RESOLVE_IN_ROOT would) and the walk starts
// again, at most maxSymlinks times (then ELOOP). It returns the path to
// look the last component up at, or done with the answer. The walk goes
// down the diffIndex one component at a time and stops where the diff has
// nothing deeper: linear in len(p) per walk.
func (t *diffTree) ancestors(p string) (string, node, bool) {
	hops := 0
walk:
	for {
		n := t.index
		if n.deleted {
			return "", node{From: "deleted.files"}, true
		}
		for start, i := 1, 1; i <= len(p); i++ {
			if i < len(p) && p[i] != '/' {
				continue
			}
			c := p[start:i]
			start = i + 1
			if c == "" {
				continue
			}
			if n = n.kids[c]; n == nil {
				break // nothing of the diff at or under p[:i]
			}
			if n.deleted {
				return "", node{From: "deleted.files"}, true
			}
			if i == len(p) || n.entry == nil {
				continue
			}
			switch e := n.entry; e.Type {
			case tar.TypeDir:
			case tar.TypeSymlink:
				if hops++; hops > maxSymlinks {
					return "", node{From: "rootfs-diff.tar", Errno: unix.ELOOP}, true
				}
				q := p[:i]
				target := e.Linkname
				if !strings.HasPrefix(target, "/") {
					target = path.Dir(q) + "/" + target
				}
				p = path.Join("/", target, p[i:])
				continue walk
			default:
				return "", node{From: "rootfs-diff.tar", Errno: unix.ENOTDIR}, true
			}
		}
		return p, node{}, false
	}
}
