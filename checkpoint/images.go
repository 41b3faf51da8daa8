// Package checkpoint reads a checkpoint as a migration pipeline holds it:
// a Podman / CRI-O / kubelet checkpoint archive (plain tar, gzip or zstd,
// detected by content) or a CRIU images directory.
//
// Threat model: an archive is untrusted input like any other. Members are
// streamed, never extracted wholesale; no member's symlink is followed; no
// byte is written outside a directory the caller names; every member has a
// size cap, and names that climb out (.., absolute, NUL) are refused.
package checkpoint

import "errors"

// ErrNotInCheckpoint is returned (wrapped, with fs.ErrNotExist) by
// Images.ReadFile for an image the checkpoint does not hold.
var ErrNotInCheckpoint = errors.New("not in the checkpoint")

// Images is the CRIU image set of a checkpoint, by base name
// ("files.img", "mm-1.img", "ovlfix-manifest.json", ...): the images
// directory itself, or the archive's checkpoint/ folder.
type Images interface {
	// Names lists the files, sorted.
	Names() []string
	// ReadFile returns a file's bytes (capped like proto.ReadFileCapped).
	// The error for a file that is not there wraps fs.ErrNotExist.
	ReadFile(name string) ([]byte, error)
}
