package mountns

import "path"

// Covering returns the mount that an absolute path of the target's root lies
// on: the visible mount with the longest mountpoint that is a
// component-wise prefix of the cleaned path ("/a" covers "/a/b", not "/ab").
// A mount is skipped when it is hidden because a mount was later stacked on
// one of its ancestor directories (its parent is not the mount covering its
// mountpoint's directory). Returns nil for a relative path, and when nothing
// covers the path, e.g. for a chrooted target whose root is not a mount
// root: the kernel omits mounts whose mountpoint is outside the root.
//
// Covering works on names only; it cannot see symlinks in the path (use
// Root to resolve those first).
//
// Cost: one ByMountpoint lookup per component of the path, whatever the
// mount table holds (a container chooses its shape: chains of nested mounts
// hidden by an over-mount, stacks of any height), plus the hashing of each
// prefix, O(len(p)) each.
func (t *Table) Covering(p string) *Mount {
	if len(p) == 0 || p[0] != '/' {
		return nil
	}
	p = path.Clean(p)
	// Top-down over the prefixes q of p, "/" first, c being the mount that
	// covers q: the visible mount m on q covers q if it hangs off the mount
	// covering q's directory (the parent of its stack's bottom is that
	// mount), or if nothing covers q's directory (the directory lies
	// outside the target's root); otherwise m hangs off a directory that
	// something else now covers, and q stays on that.
	c := t.ByMountpoint("/")
	if p == "/" {
		return c
	}
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		if m := t.ByMountpoint(p[:i]); m != nil && (c == nil || c.ID == bottomOf(m).Parent) {
			c = m
		}
	}
	return c
}
