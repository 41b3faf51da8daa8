// Package fixup repairs a CRIU dump after the fact: it compares the
// regular-file entries of files.img with what ovlfix resolves for the same
// objects of the live, still frozen tasks (CRIU's post-dump action), and
// rewrites reg.name and reg.mnt_id where CRIU recorded the wrong overlay
// path or mount (docs/kernel-quirks.md §13: a nested overlay whose layers are
// on different filesystems got the root overlay's mnt_id).
//
// What it reads: pstree.img (tasks), ids-<vpid>.img (files_id),
// fdinfo-<files_id>.img (fd → file id), fs-<vpid>.img (cwd, root),
// mm-<vpid>.img (exe, file mappings), files.img. What it may change: only
// reg.name and reg.mnt_id of REG entries of files.img; every other entry
// is written back byte for byte, and every other image is never opened
// for writing.
//
// Threat model: the images are untrusted (another CRIU version, a full
// disk, someone else's edits, a second dump into the same directory):
// every image is opened with proto.OpenImageFile (a regular file of at
// most 256 MiB, never a FIFO, device or symlink), every read is bounded,
// an error names the file, the entry and the offset, and nothing is
// written unless every image read cleanly. The live tasks are untrusted as
// in package resolve: paths are only resolved inside the target's root.
// An entry is changed only with positive proof (decide.go, proof.go): a
// check independent of the resolver shows CRIU's value is wrong, and
// fixup's own stat inside the task's root confirms the new name and mount;
// otherwise CRIU's value stays. The backup of files.img is trusted only
// when the report beside it records its SHA-256 and files.img is one ovlfix
// wrote from it (backup.go). Writes are crash-safe: the report with the
// digests, then the backup of the original bytes (never replaced), then
// files.img, each atomically; after a crash at any point files.img is
// either CRIU's or the complete repaired file, and the next run recognises
// the state.
package fixup
