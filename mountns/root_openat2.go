package mountns

import "golang.org/x/sys/unix"

// openat2Retries bounds the retries of one resolution after EAGAIN, EINTR
// or EXDEV: each is a race that a new lookup may not meet, but a target
// that keeps renaming must not keep us here.
const openat2Retries = 32

// resolveOpenat2 resolves path with openat2(2) (5.6+):
// RESOLVE_IN_ROOT makes the root fd the "/" of the lookup, so absolute
// symlinks and ".." are clamped to it; RESOLVE_NO_MAGICLINKS refuses
// /proc/<pid>/{fd,root,cwd,exe,...} style links (ELOOP), which would jump
// to an object anywhere; O_NOFOLLOW (added by the caller) leaves a final
// symlink alone.
//
// Races with renames and mounts (the target's directories may move while
// we resolve; fs/namei.c, 5.6 to 6.18):
//
//   - EAGAIN: after a ".." step (handle_dots), a scoped lookup gives up if
//     any rename or mount happened since it started (rename_lock or
//     mount_lock seqcount moved): it cannot prove ".." stayed inside the
//     root.
//   - EXDEV: at the end of the lookup (complete_walk), a scoped lookup
//     checks that the object it reached is still under the root
//     (path_is_under, consistent against renames and mounts) and fails
//     EXDEV if not: a directory on the way was moved out of the root by a
//     racing rename. So what openat2 returns was under the root when the
//     lookup ended (it may be moved out afterwards, which no resolver can
//     prevent). (nd_jump_link, following a magic link, also
//     fails EXDEV under a scope, but RESOLVE_NO_MAGICLINKS makes it ELOOP
//     before that check; RESOLVE_BENEATH and RESOLVE_NO_XDEV, the other
//     sources of EXDEV, are not used.)
//
// Both are retried, from the start, at most openat2Retries times in all;
// then the last error is returned. A persisting EXDEV is an error, never a
// reason to fall back to something less strict. ENOSYS is returned to the
// caller, which falls back to resolveWalk.
func (r *Root) resolveOpenat2(path string, flags int) (int, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	var err error
	for range openat2Retries {
		var fd int
		fd, err = r.openat2(r.fd, path, &how)
		if err != unix.EAGAIN && err != unix.EINTR && err != unix.EXDEV {
			return fd, err
		}
	}
	return -1, err
}
