package verify

import "golang.org/x/sys/unix"

// node is what a lookup in the restore's root finds at one path, without
// following a final symlink.
type node struct {
	Exists bool
	Mode   uint32 // st_mode, type bits included
	Size   int64
	// MtimeNs is st_mtim in nanoseconds (0 for a diff member: not kept).
	MtimeNs int64
	Link    string // the symlink's target (Mode is S_IFLNK)
	// At is the path the node was found at when the lookup resolved a
	// symlink among the ancestors ("" when it is the path looked up): a
	// relative Link is relative to At's directory.
	At string
	// From says where it was found: "root" (the directory given) or
	// "rootfs-diff.tar" (the archive's diff, a member header).
	From string
	// buildID reads the GNU build-ID of a regular file the way CRIU
	// does (nil result: none could be obtained); nil for other nodes.
	buildID func() ([]byte, error)
	// Errno is the error the lookup met before the last component
	// (ENOTDIR: a component is not a directory; ELOOP), 0 otherwise.
	Errno unix.Errno
}

func (n node) isType(t uint32) bool { return n.Mode&unix.S_IFMT == t }

// tree is the restore's root as verify looks into it.
type tree interface {
	// lookup finds p, an absolute clean path inside the tree; a final
	// symlink is not followed.
	lookup(p string) (node, error)
}
