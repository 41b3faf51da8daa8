package mountns

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Root is an O_PATH handle on a process's root directory (or any directory
// used as a root). Paths given to its methods are paths of that root's
// namespace: absolute ones start at the root, and nothing (symlinks, "..")
// can lead outside it. A Root is safe for concurrent use.
type Root struct {
	dir *os.File // O_PATH|O_DIRECTORY
	fd  int

	// openat2 is the openat2(2) call. It is a field so tests can make it fail
	// (ENOSYS to exercise the fallback walk, EAGAIN and EXDEV to exercise
	// retries).
	openat2 func(dirfd int, path string, how *unix.OpenHow) (int, error)
	// noOpenat2 is set once openat2 said ENOSYS (kernels < 5.6), so later
	// calls go straight to the walk.
	noOpenat2 atomic.Bool
}

// OpenRoot opens the root directory of process pid: /proc/<pid> first, then
// "root" relative to it, so the pid is looked up once and both steps refer
// to the same task. /proc/<pid>/root is a magic link to the task's root in
// its own mount namespace; the fd we get is that directory, usable from our
// namespace. Needs ptrace-read access to pid (root, or same uid and no
// dumpable restrictions). An exited pid gives an error satisfying
// errors.Is(err, fs.ErrNotExist).
func OpenRoot(pid int) (*Root, error) {
	p := "/proc/" + strconv.Itoa(pid)
	procfd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("root of pid %d: open %s: %w", pid, p, noSuchProcess(err))
	}
	defer unix.Close(procfd)
	fd, err := unix.Openat(procfd, "root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("root of pid %d: open %s/root: %w", pid, p, noSuchProcess(err))
	}
	return newRoot(fd, p+"/root"), nil
}

// OpenRootPath uses the directory at path (resolved normally, in our own
// namespace) as a root: for tests, chroots and unpacked images.
func OpenRootPath(path string) (*Root, error) {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", path, err)
	}
	return newRoot(fd, path), nil
}

func newRoot(fd int, name string) *Root {
	return &Root{dir: os.NewFile(uintptr(fd), name), fd: fd, openat2: unix.Openat2}
}

// Fd returns the root's O_PATH fd. It stays owned by the Root.
func (r *Root) Fd() int { return r.fd }

// Close closes the root fd.
func (r *Root) Close() error { return r.dir.Close() }

// Stat is lstat(2) of path inside the root: symlinks on the way are
// resolved inside the root, a final symlink is not followed.
func (r *Root) Stat(path string) (unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := r.resolve(path, unix.O_PATH)
	if err != nil {
		return st, err
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &st); err != nil {
		return st, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	return st, nil
}

// Open opens path inside the root with flags (O_PATH, O_RDONLY, ...).
// O_NOFOLLOW and O_CLOEXEC are always added: a final symlink is never
// followed (with O_PATH you get the link itself, otherwise ELOOP).
func (r *Root) Open(path string, flags int) (*os.File, error) {
	fd, err := r.resolve(path, flags)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// resolve returns an fd for path opened with flags|O_NOFOLLOW|O_CLOEXEC.
// Errors are *os.PathError naming the path inside the root.
func (r *Root) resolve(path string, flags int) (int, error) {
	if path == "" {
		return -1, &os.PathError{Op: "resolve", Path: path, Err: unix.ENOENT}
	}
	flags |= unix.O_NOFOLLOW | unix.O_CLOEXEC
	if !r.noOpenat2.Load() {
		fd, err := r.resolveOpenat2(path, flags)
		if err != unix.ENOSYS {
			if err != nil {
				return -1, &os.PathError{Op: "openat2", Path: path, Err: err}
			}
			return fd, nil
		}
		r.noOpenat2.Store(true)
	}
	var fd int
	var err error
	for range openat2Retries { // EXDEV: a rename moved the result out; see walkUnderRoot
		if fd, err = r.resolveWalk(path, flags); err != unix.EXDEV {
			break
		}
	}
	if err != nil {
		return -1, &os.PathError{Op: "walk", Path: path, Err: err}
	}
	return fd, nil
}
