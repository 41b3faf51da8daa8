package verify

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ovlfix/ovlfix/mountns"
	"golang.org/x/sys/unix"
)

// rootTree is a directory given with --root, through a mountns.Root: every
// lookup is openat2 RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS with O_NOFOLLOW,
// so no symlink or ".." of the container leads outside it.
type rootTree struct{ root *mountns.Root }

func (t rootTree) lookup(p string) (node, error) {
	// One resolution per lookup: the stat and the link's target come from
	// the same O_PATH fd, so a rename between them cannot mix two files.
	f, err := t.root.Open(p, unix.O_PATH)
	if err != nil {
		var errno unix.Errno
		if errors.As(err, &errno) {
			switch errno {
			case unix.ENOENT:
				return node{From: "root"}, nil
			case unix.ENOTDIR, unix.ELOOP, unix.EACCES, unix.ENAMETOOLONG:
				return node{From: "root", Errno: errno}, nil
			}
		}
		return node{}, err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return node{}, &os.PathError{Op: "fstat", Path: p, Err: err}
	}
	n := node{Exists: true, Mode: st.Mode, Size: st.Size, MtimeNs: st.Mtim.Nano(), From: "root"}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		buf := make([]byte, unix.PathMax)
		k, err := unix.Readlinkat(int(f.Fd()), "", buf)
		if err != nil {
			return node{}, &os.PathError{Op: "readlink", Path: p, Err: err}
		}
		n.Link = string(buf[:k])
	case unix.S_IFREG:
		n.buildID = func() ([]byte, error) { return t.readBuildID(p, st) }
	}
	return n, nil
}

// errChanged: the root changed between a lookup and the read of the file
// it found. verify answers for a root nothing changes (a stopped
// container's); it says so rather than judge another file.
var errChanged = errors.New("changed while verified (verify a root nothing writes to)")

// readBuildID reads at most buildIDMapSize bytes of the regular file p
// (O_RDONLY|O_NOFOLLOW|O_NONBLOCK, checked again to be the inode looked
// up) and extracts its build-ID.
func (t rootTree) readBuildID(p string, want unix.Stat_t) ([]byte, error) {
	f, err := t.root.Open(p, unix.O_RDONLY|unix.O_NONBLOCK)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
		// It was a regular file at the lookup, just now.
		return nil, &os.PathError{Op: "open", Path: p, Err: fmt.Errorf("%w: %w", errChanged, err)}
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, &os.PathError{Op: "fstat", Path: p, Err: err}
	}
	if st.Dev != want.Dev || st.Ino != want.Ino || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &os.PathError{Op: "open", Path: p, Err: fmt.Errorf("another inode: %w", errChanged)}
	}
	buf := make([]byte, min(st.Size, buildIDMapSize))
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, &os.PathError{Op: "read", Path: p, Err: err}
	}
	return elfBuildID(buf[:n]), nil
}
