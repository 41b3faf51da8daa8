package mountns

import (
	"strings"

	"golang.org/x/sys/unix"
)

// maxSymlinks is the kernel's MAXSYMLINKS: more symlinks in one resolution
// give ELOOP.
const maxSymlinks = 40

// resolveWalk is the fallback for kernels without openat2 (< 5.6, or a
// seccomp filter that answers ENOSYS). It walks path one component at a
// time with openat(O_PATH|O_NOFOLLOW), so the kernel never follows a
// symlink for us, and keeps the same guarantees as resolveOpenat2:
//
//   - It holds an fd for every directory from the root down to the current
//     one; ".." pops that stack instead of asking the kernel, so it can never
//     climb above the root, even if a directory is moved out from under us
//     (the kernel's own ".." could, from a moved directory).
//   - A symlink on the way is read (readlinkat) and its text spliced into
//     the remaining path; an absolute target restarts at the root fd.
//     At most maxSymlinks are followed (ELOOP, as for loops).
//   - Any symlink on procfs is refused with ELOOP: magic links
//     (/proc/<pid>/fd/N, root, cwd, exe) must not be followed, and even the
//     plain ones (/proc/self) would describe us, not the target.
//   - A final symlink is not followed; the final component is re-opened
//     from its parent directory with the caller's flags plus O_NOFOLLOW.
//   - What it reached must be under the root when the walk ends
//     (walkUnderRoot), as openat2's complete_walk demands: a directory moved
//     out of the root while we held its fd would let the walk go on outside
//     (into whatever someone outside put there). If not, EXDEV, which
//     resolve retries as it does openat2's.
//
// Differences from openat2 that do not affect safety: a trailing slash does
// not force a directory, and a rename racing with the walk can make it see a
// mix of the old and new tree.
func (r *Root) resolveWalk(path string, flags int) (int, error) {
	rootBefore, err := r.rootPath()
	if err != nil {
		return -1, err
	}
	fd, err := r.walk(path, flags)
	if err != nil {
		return -1, err
	}
	if err := r.walkUnderRoot(fd, rootBefore); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// walk is resolveWalk's component walk.
func (r *Root) walk(path string, flags int) (int, error) {
	root, err := unix.Openat(r.fd, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	stack := []int{root}
	defer func() {
		for _, fd := range stack {
			unix.Close(fd)
		}
	}()

	todo := splitComponents(nil, path)
	links := 0
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		last := len(todo) == 0
		dir := stack[len(stack)-1]
		switch name {
		case ".":
			continue
		case "..":
			if len(stack) > 1 {
				unix.Close(dir)
				stack = stack[:len(stack)-1]
			}
			continue
		}
		fd, err := unix.Openat(dir, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, err
		}
		mode := st.Mode & unix.S_IFMT
		switch {
		case last && mode != unix.S_IFDIR:
			// A final non-directory, symlinks included: never followed.
			unix.Close(fd)
			return unix.Openat(dir, name, flags, 0)
		case mode == unix.S_IFDIR:
			stack = append(stack, fd)
		case mode == unix.S_IFLNK:
			target, err := readSymlink(fd)
			unix.Close(fd)
			if err != nil {
				return -1, err
			}
			if links++; links > maxSymlinks {
				return -1, unix.ELOOP
			}
			if target == "" {
				return -1, unix.ENOENT
			}
			if target[0] == '/' {
				for _, fd := range stack[1:] {
					unix.Close(fd)
				}
				stack = stack[:1]
			}
			todo = splitComponents(todo, target)
		default:
			unix.Close(fd)
			return -1, unix.ENOTDIR
		}
	}
	// The path named a directory (or the root itself).
	return unix.Openat(stack[len(stack)-1], ".", flags, 0)
}

// readSymlink reads the symlink fd (opened O_PATH|O_NOFOLLOW), refusing
// symlinks that live on procfs.
func readSymlink(fd int) (string, error) {
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		return "", err
	}
	if sfs.Type == unix.PROC_SUPER_MAGIC {
		return "", unix.ELOOP
	}
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		if len(buf) >= unix.PathMax*2 {
			return "", unix.ENAMETOOLONG
		}
		buf = make([]byte, len(buf)*4)
	}
}

// splitComponents returns the non-empty components of p followed by rest.
func splitComponents(rest []string, p string) []string {
	var out []string
	for c := range strings.SplitSeq(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return append(out, rest...)
}
