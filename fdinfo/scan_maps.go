package fdinfo

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// scanMaps appends to objs one KindMap Object per file-backed line of
// /proc/<pid>/maps, with the map_files link, stat and mount id where the
// kernel lets us read them.
func (s *Scanner) scanMaps(pd *procDir, objs []Object) ([]Object, error) {
	buf := make([]byte, 64<<10)
	text, err := readAt(pd.fd, "maps", &buf, false)
	if err != nil {
		return objs, classify(pd.pid, "read maps", err)
	}
	mapFiles := !s.NoMapFiles
	var mfErr error
	link := make([]byte, unix.PathMax+64)
	err = ParseMaps(bytes.NewReader(text), func(m Mapping) error {
		m.MapFilesMntID = -1
		o := Object{PID: pd.pid, Kind: KindMap, FD: -1}
		if mapFiles {
			if err := readMapFiles(pd, &m, &o, link); err != nil {
				if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
					// One refusal means all will be refused: say it once
					// on every mapping and stop asking.
					mapFiles = false
					mfErr = fmt.Errorf("map_files not readable (%w): needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE in the initial user namespace; maps alone was used", errnoOf(err))
				} else {
					o.Err = err
				}
			}
		}
		if o.Err == nil && mfErr != nil {
			o.Err = mfErr
		}
		mm := m
		o.Map = &mm
		objs = append(objs, o)
		return nil
	})
	if err != nil {
		return objs, fmt.Errorf("pid %d: maps: %w", pd.pid, err)
	}
	return objs, nil
}

// errnoOf returns the syscall errno inside err, or err itself.
func errnoOf(err error) error {
	var errno unix.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

// readMapFiles reads /proc/<pid>/map_files/<range>: the link (raw bytes,
// the overlay path since 4.2), stat through it (the overlay inode, also
// before 6.8 when maps shows the layer inode) and the mount id of the
// mapped file's path.
func readMapFiles(pd *procDir, m *Mapping, o *Object, link []byte) error {
	name := "map_files/" + m.Range()
	n, err := unix.Readlinkat(pd.fd, name, link)
	if err != nil {
		if gone(err) {
			return fmt.Errorf("%s: mapping went away: %w", name, ErrClosed)
		}
		return fmt.Errorf("readlink %s: %w", name, err)
	}
	o.Link = append([]byte(nil), link[:n]...)
	var stx unix.Statx_t
	err = unix.Statx(pd.fd, name, 0, unix.STATX_BASIC_STATS|unix.STATX_MNT_ID, &stx)
	if err != nil {
		return fmt.Errorf("statx %s: %w", name, err)
	}
	st := &Stat{
		Dev:   unix.Mkdev(stx.Dev_major, stx.Dev_minor),
		Ino:   stx.Ino,
		Mode:  uint32(stx.Mode),
		Size:  int64(stx.Size),
		Nlink: uint64(stx.Nlink),
		Rdev:  unix.Mkdev(stx.Rdev_major, stx.Rdev_minor),
	}
	m.MapFiles = st
	o.Stat = st
	if stx.Mask&unix.STATX_MNT_ID != 0 {
		m.MapFilesMntID = int(stx.Mnt_id)
		return nil
	}
	// Before 5.8 statx has no mount id: open the mapping O_PATH and read
	// the mnt_id of our own fd, as CRIU does.
	id, err := mntIDByOpen(pd.fd, name)
	if err != nil {
		return fmt.Errorf("%s: mount id: %w", name, err)
	}
	m.MapFilesMntID = id
	return nil
}

// mntIDByOpen opens name (relative to dirfd) with O_PATH and returns the
// mnt_id the kernel reports for that open file in /proc/self/fdinfo.
func mntIDByOpen(dirfd int, name string) (int, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(fd)
	self, err := unix.Open("/proc/self/fdinfo", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(self)
	buf := make([]byte, 512)
	text, err := readAt(self, strconv.Itoa(fd), &buf, true)
	if err != nil {
		return -1, err
	}
	info, err := ParseFdinfoBytes(text)
	if err != nil {
		return -1, err
	}
	return info.MntID, nil
}

// readStatus fills Comm, TGID and PPID from /proc/<pid>/status.
func readStatus(pd *procDir, p *Process) error {
	buf := make([]byte, 4096)
	text, err := readAt(pd.fd, "status", &buf, false)
	if err != nil {
		return classify(pd.pid, "read status", err)
	}
	for _, line := range bytes.Split(text, []byte{'\n'}) {
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch string(k) {
		case "Name":
			p.Comm = string(v)
		case "Tgid":
			p.TGID, _ = strconv.Atoi(string(v))
		case "PPid":
			p.PPID, _ = strconv.Atoi(string(v))
		}
	}
	return nil
}
