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
//
// The shape of the mount table is hostile too: a container mounts in its
// own namespace, up to fs.mount-max mounts (100,000 by default), in any
// arrangement: stacks of mounts on one path (plainly, or tucked under the
// top with MOVE_MOUNT_BENEATH, 6.5+, so the visible one is not the last
// line), chains of nested mounts hidden by one over-mount, parent links that
// (in text not from a kernel) loop or point anywhere. No lookup may cost more
// than the table's size, once:
//
//   - ParseTable: O(lines); ByID: O(1).
//   - The indexes by device and by mountpoint: built on first use, O(mounts)
//     each; the second also resolves every stack's top and bottom.
//   - ByMountpoint: O(1); Covering: one ByMountpoint per component of the
//     path; ByDev: O(mounts of that superblock), the size of its answer.
//
// What the kernel pays to print a table is not ours to bound: on 6.18,
// reading the mountinfo of a namespace with one stack of 10,000 mounts
// takes about 1.4 s of read(2), of 20,000 about 4 s (each line's path is
// rebuilt through the stack below it), against 30 ms for 10,000 mounts
// side by side.
package mountns
