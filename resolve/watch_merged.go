package resolve

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ovlfix/ovlfix/mountns"
	"golang.org/x/sys/unix"
)

// byMergedWalk is the last route: a breadth-first walk of each visible
// mount of the superblock inside the target root. It finds what the layers
// cannot: files renamed after copy-up, directories whose inode number is
// non-persistent (layers on different filesystems, xino off). It is also
// the dearest: every merged directory read makes the overlay merge its
// layers (and, where it translates d_ino, look each entry up).
//
// Matching: each directory opened is fstat'ed (directory inode numbers are
// not what d_ino shows on every overlay); other entries match by getdents
// d_ino, which overlay translates to the overlay inode number when all
// layers are on one filesystem or xino is on. Otherwise (layers on several
// filesystems, xino off: d_ino is the layer's own number, which differs
// for a copied-up file) every entry is fstatat'ed instead.
func (s *watchSearch) byMergedWalk() bool {
	translated, why := s.dInoTranslated()
	statAll := !translated
	if statAll {
		s.res.note("merged walk: %s: comparing stat(2) of every entry, not d_ino", why)
	}
	budget := s.r.walkLimit()
	read := 0
	for _, m := range s.reach {
		found, n, err := s.r.walkFor(m, s.w.Ino, &budget, statAll, func(p []byte) bool {
			return s.accept(p, RouteMergedWalk, fmt.Sprintf("walking mount %d", m.ID))
		})
		read += n
		if found {
			return true
		}
		if err != nil {
			s.clue("merged walk of mount %d: %v", m.ID, err)
			return false
		}
	}
	s.clue("merged walk: not among the %d entries of %d visible mount(s)", read, len(s.reach))
	return false
}

// dInoTranslated reports whether getdents d_ino of the superblock's
// non-directories is their st_ino: true for other filesystems, and for an
// overlay with xino on, or whose reachable layers are all on one
// filesystem. Otherwise why says what is known.
func (s *watchSearch) dInoTranslated() (bool, string) {
	ov := s.mounts[0]
	if ov.Overlay == nil {
		return true, ""
	}
	if x := ov.Overlay.Xino; x == "on" || x == "auto" {
		return true, ""
	}
	if s.r.Layers == nil {
		return false, "layers unknown (no layer access configured)"
	}
	devs := map[uint64]bool{}
	for _, ly := range s.r.Layers.set(ov).layers {
		var st unix.Stat_t
		if ly.root == nil || unix.Fstat(ly.root.Fd(), &st) != nil {
			return false, "not every layer is reachable"
		}
		devs[st.Dev] = true
	}
	if len(devs) != 1 {
		return false, fmt.Sprintf("layers on %d filesystems, xino off", len(devs))
	}
	return true, ""
}

// walkFor walks mount m breadth-first inside the target root, calling try
// for every directory and entry whose inode number is ino (d_ino, or
// fstatat when statAll), without entering other mounts. It stops when try
// accepts or the budget of directory entries is spent, and returns the
// entries read.
func (r *Resolver) walkFor(m *mountns.Mount, ino uint64, budget *int, statAll bool, try func([]byte) bool) (found bool, read int, err error) {
	queue := [][]byte{[]byte(m.Mountpoint)}
	buf := make([]byte, 64<<10)
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		f, err := r.Root.Open(string(dir), unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			continue // raced away or unreadable; keep walking elsewhere
		}
		fd := int(f.Fd())
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Ino == ino && try(dir) {
			f.Close()
			return true, read, nil
		}
		// An unreadable directory (walk error) is skipped: keep walking elsewhere.
		stop, _ := eachDirent(fd, buf, func(d direntry) bool {
			if *budget--; *budget < 0 {
				err = walkLimitError{}
				return true
			}
			if err = r.meter.entry(); err != nil {
				return true
			}
			read++
			match := d.ino == ino
			if !match && statAll && d.typ != unix.DT_DIR {
				var est unix.Stat_t
				match = unix.Fstatat(fd, string(d.name), &est, unix.AT_SYMLINK_NOFOLLOW) == nil && est.Ino == ino
			}
			if match && try(join(dir, string(d.name))) {
				found = true
				return true
			}
			if d.typ == unix.DT_DIR {
				child := join(dir, string(d.name))
				if r.Table.Covering(string(child)) == m {
					queue = append(queue, child)
				}
			}
			return false
		})
		f.Close()
		if stop {
			return found, read, err
		}
	}
	return false, read, nil
}

// walkLimitError says a walk spent its budget of directory entries.
type walkLimitError struct{}

func (walkLimitError) Error() string { return "walk limit reached" }

// stopsWalks reports whether err ends every further walk of this watch:
// its own walk limit, or the process's watch budget (or the context).
func stopsWalks(err error) bool {
	var be *budgetError
	var ce cancelError
	return errors.As(err, &walkLimitError{}) || errors.As(err, &be) || errors.As(err, &ce)
}

// eachDirent reads directory fd with getdents64 into buf and calls fn for
// every entry but "." and "..", until fn returns true (stop).
func eachDirent(fd int, buf []byte, fn func(direntry) bool) (stop bool, err error) {
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil || n <= 0 {
			return false, err
		}
		for off := 0; off < n; {
			d, ok := dirent(buf[off:n])
			if !ok {
				return false, unix.EIO
			}
			off += d.reclen
			if isDots(d.name) {
				continue
			}
			if fn(d) {
				return true, nil
			}
		}
	}
}

// direntry is one decoded linux_dirent64; name aliases the read buffer.
type direntry struct {
	ino    uint64
	reclen int
	typ    uint8
	name   []byte
}

// dirent decodes the linux_dirent64 at the start of b (little-endian
// fields: d_ino u64, d_off s64, d_reclen u16, d_type u8, NUL-terminated
// name). ok is false for a record that does not fit in b.
func dirent(b []byte) (direntry, bool) {
	if len(b) < 19 {
		return direntry{}, false
	}
	d := direntry{ino: binary.LittleEndian.Uint64(b[0:8]), reclen: int(binary.LittleEndian.Uint16(b[16:18])), typ: b[18]}
	if d.reclen < 19 || d.reclen > len(b) {
		return direntry{}, false
	}
	name := b[19:d.reclen]
	for i, c := range name {
		if c == 0 {
			name = name[:i]
			break
		}
	}
	d.name = name
	return d, true
}

func isDots(name []byte) bool {
	return len(name) == 1 && name[0] == '.' || len(name) == 2 && name[0] == '.' && name[1] == '.'
}

func join(dir []byte, name string) []byte {
	out := make([]byte, 0, len(dir)+1+len(name))
	out = append(out, dir...)
	if len(dir) == 0 || dir[len(dir)-1] != '/' {
		out = append(out, '/')
	}
	return append(out, name...)
}
