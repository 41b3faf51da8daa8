package resolve

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/mountns"
	"golang.org/x/sys/unix"
)

// overlayFileID is OVL_FILEID_V1, the handle type of overlay's own export
// operations (4.16+).
const overlayFileID = 0xf8

// byHandle decodes the mark's file handle with open_by_handle_at(2) on a
// mount of the superblock opened inside the target root, and reads the
// path of what it opened.
//
// When it can work (docs/kernel-quirks.md §5): overlay handles decode only when
// the overlay has nfs_export=on (type 0xf8, 4.16+). Without it a 6.6+
// overlay still prints type 0xf8, encode-only (open_by_handle_at gives
// ESTALE), and older ones type 1 over the overlay i_ino, which never
// decodes; neither is tried. Other filesystems (tmpfs, ext4, xfs, btrfs)
// decode their own handles, so they are tried whenever the kernel printed
// one. Needs CAP_DAC_READ_SEARCH.
//
// The path: readlink of /proc/self/fd/N prints the opened file from OUR
// root when its mount is reachable from it, else from the root of the
// target's mount namespace (d_path stops at the namespace's root mount).
// Both the opened file and the mount directory are printed in the same
// frame, so the part after the mount directory's own printed path is the
// path inside the mount, whatever the frame: candidate = mountpoint (as the
// target's mountinfo names it) + that part. accept then confirms it inside
// the target root.
//
// Threat model: the handle bytes come from the kernel's fdinfo of the
// target's fsnotify fd; the kernel validates them. The file is opened
// O_PATH only (no open side effects, no reads) and never by name.
func (s *watchSearch) byHandle() bool {
	w := s.w
	if w.HandleType < 0 || len(w.Handle) == 0 {
		s.clue("handle: none printed")
		return false
	}
	if first := s.mounts[0]; first.FSType == "overlay" {
		if first.Overlay == nil || first.Overlay.NFSExport != "on" || w.HandleType != overlayFileID {
			s.res.note("handle: type %#x not decoded: an overlay decodes its handles only with nfs_export=on (type 0xf8)", w.HandleType)
			return false
		}
	}
	for _, m := range s.reach {
		p, err := s.decodeOn(m)
		if err == nil {
			if s.accept(p, RouteHandle, fmt.Sprintf("open_by_handle_at (type %#x) on mount %d gives %s", w.HandleType, m.ID, quote.Bytes(p))) {
				return true
			}
			err = fmt.Errorf("%s is not the watched inode in the target root", quote.Bytes(p))
		}
		s.clue("handle (type %#x) on mount %d: %v", w.HandleType, m.ID, err)
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ESTALE) {
			return false // the same on every mount of the superblock
		}
	}
	return false
}

// decodeOn opens the handle with mount m as the mount fd and returns the
// candidate path in the target's namespace.
func (s *watchSearch) decodeOn(m *mountns.Mount) ([]byte, error) {
	// An O_PATH mount fd is refused (EBADF on 6.18): open the directory.
	// A directory open has no side effects; a non-directory mountpoint (a
	// file bind mount) is not opened at all.
	mf, err := s.r.Root.Open(m.Mountpoint, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, fmt.Errorf("open the mount directory in the target root: %w", err)
	}
	defer mf.Close()
	handle := unix.NewFileHandle(s.w.HandleType, s.w.Handle)
	fd, err := unix.OpenByHandleAt(int(mf.Fd()), handle, unix.O_PATH|unix.O_CLOEXEC)
	switch {
	case errors.Is(err, unix.EPERM):
		return nil, fmt.Errorf("open_by_handle_at: %w (needs CAP_DAC_READ_SEARCH)", err)
	case errors.Is(err, unix.ESTALE):
		return nil, fmt.Errorf("open_by_handle_at: %w (the file is gone, or this filesystem cannot decode its handles)", err)
	case err != nil:
		return nil, fmt.Errorf("open_by_handle_at: %w", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("fstat the decoded file: %w", err)
	}
	filePath, err := fdPath(fd)
	if err != nil {
		return nil, err
	}
	if st.Nlink == 0 && strings.HasSuffix(filePath, fdinfo.DeletedSuffix) {
		return nil, fmt.Errorf("it decodes to a deleted file (%q)", filePath)
	}
	if st.Ino != s.w.Ino {
		return nil, fmt.Errorf("it decodes to inode %d, not %d", st.Ino, s.w.Ino)
	}
	mountPath, err := fdPath(int(mf.Fd()))
	if err != nil {
		return nil, err
	}
	rel, ok := pathUnder(filePath, mountPath)
	if !ok {
		return nil, fmt.Errorf("decoded path %q is not under the mount's own %q (outside the mount's root?)", filePath, mountPath)
	}
	return mountChild(m.Mountpoint, rel), nil
}

// pathUnder returns p relative to dir ("" for dir itself) when p lies at
// or below dir, component-wise.
func pathUnder(p, dir string) (string, bool) {
	switch {
	case dir == "/":
		return p, strings.HasPrefix(p, "/")
	case p == dir:
		return "", true
	case strings.HasPrefix(p, dir) && p[len(dir)] == '/':
		return p[len(dir):], true
	}
	return "", false
}

// fdPath reads the kernel's path of one of our fds.
func fdPath(fd int) (string, error) {
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", fmt.Errorf("path of the decoded file: %w", err)
	}
	return p, nil
}
