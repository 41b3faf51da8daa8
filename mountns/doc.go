// Package mountns is the target process's mount namespace as ovlfix sees it
// from outside, without ever calling setns(2) (a multithreaded Go program
// cannot join another mount namespace).
//
// Two views are offered:
//
//   - Table: the target's /proc/<pid>/mountinfo, parsed once with
//     github.com/moby/sys/mountinfo and indexed by mount id, by superblock
//     major:minor (also in the kernel dev_t encoding used by fsnotify fdinfo)
//     and by mountpoint, with the super options of every overlay mount parsed
//     into layers (ParseOverlayOptions).
//   - Root: an O_PATH fd on /proc/<pid>/root, through which paths of the
//     target's namespace are resolved with openat2(RESOLVE_IN_ROOT), or with a
//     symlink-safe component walk on kernels without openat2.
//
// Threat model. The mount table is kernel text, but the paths in it were
// chosen by whoever mounted (often a container runtime acting for an
// untrusted image) and may hold any byte except NUL; they are returned as
// strings of raw bytes, never interpreted. Mount ids are reused at once after
// umount, so a Table is a snapshot: read it while the target is frozen.
// Everything reachable through Root belongs to the target and may be hostile:
// symlinks may point anywhere (absolute, "../../..", loops, /proc magic
// links), and directories may be renamed or mounted over while we resolve.
// Root never lets a resolution leave the target's root, never follows a final
// symlink, and never follows a /proc magic link.
package mountns
