// Package proto reads and writes CRIU image files.
//
// A CRIU image is a head magic (IMG_COMMON, or IMG_SERVICE for the "service" images
// stats-dump and irmap-cache), a type magic (FILES, FDINFO, MNTS, ...), then a sequence of
// entries, each a u32 little-endian size followed by that many bytes of a proto2 message,
// up to a clean end of file. inventory.img has no head magic: it starts with its type magic
// (criu/image.c img_check_magic; images older than CRTOOLS_IMAGES_V1_1 (very old CRIU versions) had
// no head magic at all and are not supported).
//
// Threat model: image files are untrusted input. A dump directory may have been produced by
// another CRIU version, truncated by a full disk, or edited by someone else. Reading never
// panics: every length is checked against what was read (io.ReadFull) and against a per-entry
// cap (DefaultMaxEntrySize unless MaxEntrySize says otherwise), and every error names the
// file, the entry index and the byte offset where it went wrong. Image and cache files are
// opened with OpenImageFile (ReadFileCapped, ReadImageFile): only a regular file of at most
// MaxImageFileSize (256 MiB) is read, never a FIFO (which would block), a device or a
// symlink (to /dev/zero, say); a refusal wraps ErrBadImageFile.
//
// Images are kept as raw entries (Image.Entries) so that a caller that patches a few entries
// writes every other entry back byte for byte. Decoding an entry into its message type and
// marshalling it again gives the same bytes as CRIU wrote, because protobuf-c writes fields in
// field-number order, as Go's protobuf does, and unknown fields (from a newer CRIU) are kept.
// Strings are not checked for UTF-8 (proto2), so file names with any bytes survive.
//
// Writes are atomic (WriteFileAtomic): a crash or an error leaves either the old file or the
// new one, never a mix; CRIU reads files.img at restore, so a half-written one would lose the
// dump. WriteSetAtomic writes a whole set (an image set and its report) all or nothing: after
// an error, a full disk say, the directory is as it was.
//
// Message types and magics come from github.com/checkpoint-restore/go-criu/v7 (protos of
// CRIU 3.19, compatible with images of CRIU 3.17 and later). That import stays inside this
// package: the rest of ovlfix uses the aliases in message_types.go, so the go-criu major
// version is a one-package decision (v7 and v8 register the same proto names and cannot be
// linked together).
package proto
