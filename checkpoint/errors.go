package checkpoint

import "errors"

// Sentinels that Open's errors wrap, for callers that branch on the kind
// of failure; the message always names the archive and the member.
var (
	// ErrNotArchive: the file is neither a directory nor a tar archive
	// (plain, gzip or zstd), or the archive is not a container checkpoint
	// (no checkpoint/ folder).
	ErrNotArchive = errors.New("not a checkpoint archive")
	// ErrUnsafe: the archive's structure is refused as hostile or
	// ambiguous: a name that climbs out (.., absolute, NUL), a symlink or
	// hard link where a file is expected, a duplicate member, a nested
	// folder inside checkpoint/.
	ErrUnsafe = errors.New("unsafe archive member")
	// ErrTooBig: a cap of Options was reached.
	ErrTooBig = errors.New("over the cap")
	// ErrNotKept is returned (wrapped) by Images.ReadFile of an archive's
	// pages-*.img: page data is listed but never held in memory.
	ErrNotKept = errors.New("page data is listed but not kept in memory")
)
