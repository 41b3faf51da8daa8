// Package inspect lists every file a CRIU restore of a checkpoint will
// reopen: each REG entry of files.img with the tasks that hold it
// (pstree.img, ids-N.img, fdinfo-N.img, fs-N.img, mm-N.img), the mount it
// names (mountpoints-N.img), what CRIU recorded for validation (size, mode,
// build-ID), how an unlinked file comes back (remap-fpath.img and
// ghost-file-N.img) and, where the images directory has one, the
// provenance ovlfix-manifest.json gives (layer, filesystem).
//
// Threat model: every image is untrusted input (a checkpoint archive from
// another host). Readers check magics and size caps (proto), ids are
// looked up in maps (linear in the entry count), a reference to a file id
// files.img does not have is reported, not followed, and nothing here opens
// a path the images name: Load reads only the checkpoint's Images. Names
// are kept as the exact bytes CRIU wrote; printing them goes through
// internal/quote.
package inspect
