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

// Format is how a checkpoint is stored.
type Format string

const (
	FormatDir     Format = "dir"      // a CRIU images directory
	FormatTar     Format = "tar"      // an uncompressed tar archive
	FormatTarGzip Format = "tar+gzip" // gzip-compressed tar
	FormatTarZstd Format = "tar+zstd" // zstd-compressed tar (Podman's default)
)

// Checkpoint is one opened checkpoint.
type Checkpoint struct {
	Path   string
	Format Format
	// Images is the CRIU image set (pages-*.img are listed by Names but
	// their bytes are not kept: ReadFile of them fails).
	Images Images
	// Diff is the archive's change to the container's rootfs
	// (rootfs-diff.tar and deleted.files), nil when it has none (an
	// images directory; an archive made without them).
	Diff *RootfsDiff
	// Meta holds the small top-level files of an archive by name
	// (config.dump, spec.dump, stats-dump, network.status, ...), capped.
	Meta map[string][]byte
	// Skipped lists, sorted, the archive members neither kept nor
	// understood: folders other than checkpoint/ (artifacts/,
	// pre-checkpoint/), top-level files over Options.MaxMeta (a big
	// ctr.log, devshm-checkpoint.tar), links and devices at the top
	// level that are no known metadata file.
	Skipped []string
}

// RootfsDiff is what Podman applies to a fresh container rootfs before
// the restore: rootfs-diff.tar's members, then deleted.files removed.
type RootfsDiff struct {
	// Entries by clean absolute path in the container ("/etc/hosts").
	Entries map[string]DiffEntry
	// Deleted lists the clean absolute paths of deleted.files.
	Deleted []string
}

// DiffEntry is one member of rootfs-diff.tar, as its header says.
type DiffEntry struct {
	Path     string
	Type     byte  // tar typeflag (tar.TypeReg, tar.TypeDir, tar.TypeSymlink, ...)
	Mode     int64 // permission and set-id bits (tar header mode & 07777)
	Size     int64
	Linkname string
	// BuildID is the GNU build-ID of a regular member that is an ELF
	// file with one in its first note segment, nil otherwise.
	BuildID []byte
}
