package fdinfo

import (
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// fdReader does the per-fd work with buffers reused across fds. It is the
// hot path of a scan: readlinkat, fstatat through the magic link, and one
// open+read+close of fdinfo. Nothing else happens per fd (the statfs the
// design mentions is done on request only, see Scanner.Statfs).
type fdReader struct {
	fdDir, infoDir int
	pid            int
	link           []byte
	info           []byte
	name           []byte
}

func newFdReader(fdDir, infoDir, pid int) *fdReader {
	return &fdReader{
		fdDir: fdDir, infoDir: infoDir, pid: pid,
		link: make([]byte, unix.PathMax+64),
		info: make([]byte, 4096),
		name: make([]byte, 0, 16),
	}
}

func (r *fdReader) read(fd int, o *Object) {
	o.PID, o.Kind, o.FD = r.pid, KindFD, fd
	r.name = strconv.AppendInt(r.name[:0], int64(fd), 10)
	name := string(r.name)

	n, err := unix.Readlinkat(r.fdDir, name, r.link)
	if err != nil {
		o.Err = raceOr(err, fmt.Errorf("readlink fd %d: %w", fd, err))
		return
	}
	o.Link = append([]byte(nil), r.link[:n]...)

	var st unix.Stat_t
	if err := unix.Fstatat(r.fdDir, name, &st, 0); err != nil {
		o.StatErr = fmt.Errorf("stat fd %d: %w", fd, err)
		if gone(err) {
			o.Err = ErrClosed
			return
		}
	} else {
		o.Stat = statOf(&st)
	}

	text, err := readAt(r.infoDir, name, &r.info, true)
	if err != nil {
		o.Err = raceOr(err, fmt.Errorf("fdinfo %d: %w", fd, err))
		return
	}
	info, err := ParseFdinfoBytes(text)
	if err != nil {
		o.Err = fmt.Errorf("fdinfo %d: %w", fd, err)
	}
	o.Info = info
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
// single is for single_open seq files (fdinfo): the kernel hands out the
// whole text in one read when it fits, so a short read is the end and the
// extra read(2) returning 0 is skipped on the hot path.
func readAt(dirfd int, name string, buf *[]byte, single bool) ([]byte, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
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

func statOf(st *unix.Stat_t) *Stat {
	return &Stat{
		Dev: st.Dev, Ino: st.Ino, Mode: st.Mode, Size: st.Size,
		Nlink: uint64(st.Nlink), Rdev: st.Rdev,
	}
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

// Statfs fills o.FsMagic with statfs(2) f_type of the object's file, read
// through its /proc magic link. The resolver asks for it only when the
// mount table cannot vouch for the fd (a 3.18–4.1 kernel reports the
// layer's fs type there, see kernel-quirks.md Matrix A).
func (s *Scanner) Statfs(o *Object) error {
	var path string
	switch o.Kind {
	case KindFD:
		path = fmt.Sprintf("%s/%d/fd/%d", s.proc(), o.PID, o.FD)
	case KindCwd, KindRoot, KindExe:
		path = fmt.Sprintf("%s/%d/%s", s.proc(), o.PID, specialNames[o.Kind])
	case KindMap:
		path = fmt.Sprintf("%s/%d/map_files/%s", s.proc(), o.PID, o.Map.Range())
	default:
		return fmt.Errorf("statfs: %s has no file of its own", o.Name())
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(path, &sfs); err != nil {
		return fmt.Errorf("statfs %s: %w", path, err)
	}
	o.FsMagic = sfs.Type
	return nil
}
