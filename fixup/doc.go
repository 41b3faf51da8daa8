// Package fixup repairs a CRIU dump after the fact: it compares the
// regular-file entries of files.img with what ovlfix resolves for the same
// objects of the live, still frozen tasks (CRIU's post-dump action), and
// rewrites reg.name and reg.mnt_id where CRIU recorded the wrong overlay
// path or mount (kernel-quirks.md §13: a nested overlay whose layers are
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
// disk, someone else's edits): every read is bounded and an error names
// the file, the entry and the offset; nothing is written unless every
// image read cleanly. The live tasks are untrusted as in package resolve:
// paths are only resolved inside the target's root, and a value is
// changed only when the resolver confirmed the new one by stat. Writes
// are crash-safe: a backup of the original bytes is made first (and never
// replaced), then files.img is replaced atomically; after a crash at any
// point files.img is either CRIU's or the complete repaired file.
package fixup
