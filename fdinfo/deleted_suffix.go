package fdinfo

import "bytes"

// DeletedSuffix is what the kernel's d_path appends to the path of an
// unlinked dentry (fs/d_path.c: d_path, "if (d_unlinked(dentry))"): in the
// links of /proc/<pid>/fd, cwd, root and exe, and in the paths of
// /proc/<pid>/maps. A name may also really end in it; only a stat of the
// name without it can tell the two apart.
const DeletedSuffix = " (deleted)"

// CutDeleted returns name without a trailing DeletedSuffix and whether it
// had one. A name that is nothing but the suffix has none: d_path's path
// of an unlinked file is never empty.
func CutDeleted(name []byte) (before []byte, found bool) {
	if len(name) <= len(DeletedSuffix) || !bytes.HasSuffix(name, []byte(DeletedSuffix)) {
		return name, false
	}
	return name[:len(name)-len(DeletedSuffix)], true
}
