package fdinfo

import (
	"fmt"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fdReader does the per-fd work with buffers reused across fds. It is the
// hot path of a scan: readlinkat, fstatat through the magic link, and one
// open+read+close of fdinfo, the same five syscalls as the C floor
// (../shared/bench/src/floor.c). Nothing else happens per fd (no statfs:
// the mount table vouches for the filesystem), and nothing is allocated
// per fd. The procfs calls (readlinkat, openat,
// read, close of fdinfo) use the raw syscall path when the directories are
// procfs (raw): they only format kernel state and never wait for I/O, so
// the scheduler hand-off of a normal syscall is pure cost (~0.1 µs each).
// Anywhere else (a Scanner.Proc that is not procfs) they keep the normal
// path: a raw syscall that blocks holds its P, so a stop-the-world GC
// waits on it and every goroutine of the process stalls. fstatat through
// the magic link reaches the real file, which may sit on FUSE or NFS and
// block: it always keeps the normal path. Names are built in a NUL-terminated buffer
// for raw *at syscalls (x/sys/unix would copy every path string), link
// bytes go to an arena, Stat and Info to slabs owned by the scan.
type fdReader struct {
	fdDir, infoDir int
	pid            int
	raw            bool     // the directories are procfs: see above
	name           [24]byte // decimal fd number, NUL-terminated
	link           []byte
	info           []byte
	arena          []byte // link bytes; objects keep capped subslices
}

func newFdReader(fdDir, infoDir, pid int, raw bool) *fdReader {
	return &fdReader{
		fdDir: fdDir, infoDir: infoDir, pid: pid, raw: raw,
		link: make([]byte, unix.PathMax+64),
		info: make([]byte, 4096),
	}
}

// keep copies b into the arena and returns a capped subslice (appending to
// it can never overwrite a neighbour).
func (r *fdReader) keep(b []byte) []byte {
	if cap(r.arena)-len(r.arena) < len(b) {
		r.arena = make([]byte, 0, max(64<<10, len(b)))
	}
	n := len(r.arena)
	r.arena = append(r.arena, b...)
	return r.arena[n:len(r.arena):len(r.arena)]
}

// read reads fd into o, st and info. It returns false when fd is not open
// (readlinkat fails with ENOENT or ESRCH); o then holds ErrClosed.
func (r *fdReader) read(fd int, o *Object, st *Stat, info *Info) bool {
	o.PID, o.Kind, o.FD = r.pid, KindFD, fd
	name := strconv.AppendInt(r.name[:0], int64(fd), 10)
	r.name[len(name)] = 0
	p := unsafe.Pointer(&r.name[0])

	n, errno := r.readlinkat(p, unsafe.Pointer(&r.link[0]), len(r.link))
	if errno != 0 {
		o.Err = raceOr(errno, fmt.Errorf("readlink fd %d: %w", fd, errno))
		return o.Err != ErrClosed
	}
	o.Link = r.keep(r.link[:n])

	var sys unix.Stat_t
	_, _, errno = unix.Syscall6(sysFstatat, uintptr(r.fdDir), uintptr(p),
		uintptr(unsafe.Pointer(&sys)), 0, 0, 0)
	if errno != 0 {
		o.StatErr = fmt.Errorf("stat fd %d: %w", fd, errno)
		if gone(errno) {
			o.Err = ErrClosed
			return true
		}
	} else {
		fillStat(st, &sys)
		o.Stat = st
	}

	ifd, errno := r.openInfo(p)
	if errno != 0 {
		o.Err = raceOr(errno, fmt.Errorf("fdinfo %d: %w", fd, errno))
		return true
	}
	text, err := r.readFdinfo(ifd)
	r.close(ifd)
	if err != nil {
		o.Err = raceOr(err, fmt.Errorf("fdinfo %d: %w", fd, err))
		return true
	}
	if err := ParseFdinfoInto(text, info); err != nil {
		o.Err = fmt.Errorf("fdinfo %d: %w", fd, err)
	}
	o.Info = info
	return true
}

// raceOr returns ErrClosed when err means the fd went away, else other.
func raceOr(err, other error) error {
	if gone(err) {
		return ErrClosed
	}
	return other
}

// readAt reads a whole /proc file relative to dirfd into *buf, growing it
// when the file does not fit (inotify fds with many watches, long maps).
func readAt(dirfd int, name string, buf *[]byte, single bool) ([]byte, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return readAll(fd, buf, single)
}

// readAll reads fd to the end into *buf. single is for single_open seq
// files (fdinfo): the kernel hands out the whole text in one read when it
// fits, so a short read is the end and the extra read(2) returning 0 is
// skipped on the hot path.
func readAll(fd int, buf *[]byte, single bool) ([]byte, error) {
	b := *buf
	n := 0
	for {
		m, err := unix.Read(fd, b[n:])
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return nil, err
		}
		if m == 0 {
			break
		}
		n += m
		if n == len(b) {
			b = append(b, make([]byte, len(b))...)
			*buf = b
		} else if single {
			break
		}
	}
	return b[:n], nil
}

// The four procfs syscalls of the hot path: raw on procfs, normal
// elsewhere (see fdReader). Pointers pass as unsafe.Pointer and become
// uintptr only in the syscall's own argument list, as unsafe.Pointer's
// rule 4 requires.

func (r *fdReader) readlinkat(name, buf unsafe.Pointer, size int) (int, unix.Errno) {
	var n uintptr
	var errno unix.Errno
	if r.raw {
		n, _, errno = unix.RawSyscall6(unix.SYS_READLINKAT, uintptr(r.fdDir), uintptr(name), uintptr(buf), uintptr(size), 0, 0)
	} else {
		n, _, errno = unix.Syscall6(unix.SYS_READLINKAT, uintptr(r.fdDir), uintptr(name), uintptr(buf), uintptr(size), 0, 0)
	}
	return int(n), errno
}

func (r *fdReader) openInfo(name unsafe.Pointer) (int, unix.Errno) {
	var fd uintptr
	var errno unix.Errno
	if r.raw {
		fd, _, errno = unix.RawSyscall6(unix.SYS_OPENAT, uintptr(r.infoDir), uintptr(name), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	} else {
		fd, _, errno = unix.Syscall6(unix.SYS_OPENAT, uintptr(r.infoDir), uintptr(name), unix.O_RDONLY|unix.O_CLOEXEC, 0, 0, 0)
	}
	return int(fd), errno
}

func (r *fdReader) readInto(fd int, buf unsafe.Pointer, size int) (int, unix.Errno) {
	var n uintptr
	var errno unix.Errno
	if r.raw {
		n, _, errno = unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(buf), uintptr(size))
	} else {
		n, _, errno = unix.Syscall(unix.SYS_READ, uintptr(fd), uintptr(buf), uintptr(size))
	}
	return int(n), errno
}

func (r *fdReader) close(fd int) {
	if r.raw {
		unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
	} else {
		unix.Syscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
	}
}

// readFdinfo reads a single_open procfs file (fdinfo) with read(2),
// growing r.info when the text does not fit.
func (r *fdReader) readFdinfo(fd int) ([]byte, error) {
	b := r.info
	n := 0
	for {
		m, errno := r.readInto(fd, unsafe.Pointer(&b[n]), len(b)-n)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return nil, errno
		}
		n += m
		if m == 0 || n < len(b) {
			return b[:n], nil
		}
		b = append(b, make([]byte, len(b))...)
		r.info = b
	}
}

func statOf(st *unix.Stat_t) *Stat {
	out := new(Stat)
	fillStat(out, st)
	return out
}

func fillStat(out *Stat, st *unix.Stat_t) {
	*out = Stat{Dev: st.Dev, Ino: st.Ino, Mode: st.Mode, Size: st.Size, Nlink: uint64(st.Nlink), Rdev: st.Rdev,
		MtimeNs: st.Mtim.Nano()}
}

var specialNames = map[Kind]string{KindCwd: "cwd", KindRoot: "root", KindExe: "exe"}

// scanSpecial reads cwd, root or exe of the task.
func scanSpecial(pd *procDir, k Kind) Object {
	name := specialNames[k]
	o := Object{PID: pd.pid, Kind: k, FD: -1}
	buf := make([]byte, unix.PathMax+64)
	n, err := unix.Readlinkat(pd.fd, name, buf)
	if err != nil {
		// Kernel threads and zombies have no exe; that is not an error of ours.
		o.Err = fmt.Errorf("readlink %s: %w", name, err)
		return o
	}
	o.Link = append([]byte(nil), buf[:n]...)
	var st unix.Stat_t
	if err := unix.Fstatat(pd.fd, name, &st, 0); err != nil {
		o.StatErr = fmt.Errorf("stat %s: %w", name, err)
	} else {
		o.Stat = statOf(&st)
	}
	return o
}

// appendWatches adds one KindWatch Object per inode mark of every fsnotify
// fd already in objs. Mount and superblock marks name no file; they stay in
// the fd's Info.
func appendWatches(objs []Object, pid int) []Object {
	n := len(objs)
	for i := 0; i < n; i++ {
		if objs[i].Info == nil {
			continue
		}
		for j := range objs[i].Info.Marks {
			m := &objs[i].Info.Marks[j]
			if m.Kind != MarkInotify && m.Kind != MarkFanotifyInode {
				continue
			}
			objs = append(objs, Object{PID: pid, Kind: KindWatch, FD: objs[i].FD, Watch: m})
		}
	}
	return objs
}
