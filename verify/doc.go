// Package verify predicts, before a restore, whether CRIU will reopen
// every file of a checkpoint in the root the restore will use (a
// container rootfs or merged directory; for an archive, that root after
// Podman applies its rootfs-diff.tar and deleted.files, computed in
// memory). For each file it runs the checks CRIU's restore runs, in the
// order it runs them (criu/files-reg.c of CRIU 4.2: open_path, then
// validate_file's size and build-ID, then the mode), and for each failure
// gives the error line CRIU will log (messages.go has the table, with the
// CRIU source line of each message).
//
// Threat model: the root is the container's: its symlinks and ".." are
// resolved inside it only (mountns.Root: openat2 RESOLVE_IN_ROOT, a final
// symlink followed by this package, one link at a time, inside the root,
// at most 40 links as the kernel), nothing outside it is opened, nothing in
// it is written, and only regular files are opened for reading (the first
// MiB, for a build-ID). The checkpoint's images are untrusted too: a name
// with ".." is clamped to the root like any lookup. Work is linear in the
// number of files and holders.
package verify
