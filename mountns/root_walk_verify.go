package mountns

import (
	"strconv"
	"strings"

	"github.com/ovlfix/ovlfix/fdinfo"
	"golang.org/x/sys/unix"
)

// The containment check that ends the fallback walk.
//
// Threat: the walk holds an fd on each directory it passed. If one of them
// is renamed out of the root meanwhile (by anyone who can reach the
// filesystem outside the root: the host, another container sharing the
// volume), the walk goes on below it, outside the root, where whoever moved
// it can have put anything, e.g. by exchanging a subdirectory with one
// that was never inside the root (renameat2 RENAME_EXCHANGE). No sequence
// of fstat or ".." steps can tell, since each sees the tree at another
// moment. The path of an fd can: readlink(/proc/self/fd/N) is d_path(),
// which the kernel builds in one consistent pass against renames (under
// rename_lock, fs/d_path.c), so it is where the object was at one moment
// after the walk reached it.
//
// Limits: d_path fails ENAMETOOLONG past a page (the resolution then fails);
// and when the root is the root of its mount tree (a container's root:
// readlink gives "/"), every path is under it, so the check passes: there is
// no outside to move to within that tree, except above the root of a bind
// mount, which d_path does not mark. openat2 (5.6+) checks that case too.

// rootPath returns the path of the root directory as d_path gives it.
func (r *Root) rootPath() (string, error) {
	p, err := fdPath(r.fd)
	if err != nil {
		return "", err
	}
	if strings.HasSuffix(p, fdinfo.DeletedSuffix) {
		var st unix.Stat_t
		if err := unix.Fstat(r.fd, &st); err != nil {
			return "", err
		}
		if st.Nlink == 0 { // removed: nothing can be under it any more
			return "", unix.ENOENT
		}
	}
	return p, nil
}

// walkUnderRoot checks that fd, which the walk reached, is under the root
// now, and that the root did not move since its path was rootBefore. EXDEV
// if not.
func (r *Root) walkUnderRoot(fd int, rootBefore string) error {
	p, err := fdPath(fd)
	if err != nil {
		return err
	}
	rootAfter, err := r.rootPath()
	if err != nil {
		return err
	}
	if rootAfter != rootBefore || !pathUnder(p, rootBefore) {
		return unix.EXDEV
	}
	return nil
}

// pathUnder reports whether p is root or below it, component-wise. Names
// hold any byte but '/' and NUL, so the test is exact; an fdinfo.DeletedSuffix that
// d_path appends to an unlinked object's path ends its last component.
func pathUnder(p, root string) bool {
	if root == "/" {
		return strings.HasPrefix(p, "/")
	}
	return p == root || strings.HasPrefix(p, root+"/")
}

// fdPath returns readlink(/proc/self/fd/N): the fd's path as d_path gives
// it, from our root.
func fdPath(fd int) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlink("/proc/self/fd/"+strconv.Itoa(fd), buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		if len(buf) > unix.PathMax {
			return "", unix.ENAMETOOLONG
		}
		buf = make([]byte, len(buf)*4)
	}
}
