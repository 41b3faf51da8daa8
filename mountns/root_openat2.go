package mountns

import "golang.org/x/sys/unix"

// openat2Retries bounds the EAGAIN retries of one resolution.
const openat2Retries = 32

// resolveOpenat2 resolves path with openat2(2) (5.6+):
// RESOLVE_IN_ROOT makes the root fd the "/" of the lookup, so absolute
// symlinks and ".." are clamped to it; RESOLVE_NO_MAGICLINKS refuses
// /proc/<pid>/{fd,root,cwd,exe,...} style links (ELOOP), which would jump
// to an object anywhere; O_NOFOLLOW (added by the caller) leaves a final
// symlink alone.
//
// EAGAIN: with RESOLVE_IN_ROOT the kernel gives up when a rename or a mount
// raced with a ".." step (it cannot prove ".." stayed inside the root); we
// retry a bounded number of times, then return EAGAIN. EXDEV is not retried:
// it only comes from RESOLVE_BENEATH and RESOLVE_NO_XDEV, which we do not
// use, so it would mean something unexpected, not a race. ENOSYS is returned
// to the caller, which falls back to resolveWalk.
func (r *Root) resolveOpenat2(path string, flags int) (int, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	var err error
	for range openat2Retries {
		var fd int
		fd, err = r.openat2(r.fd, path, &how)
		if err != unix.EAGAIN && err != unix.EINTR {
			return fd, err
		}
	}
	return -1, err
}
