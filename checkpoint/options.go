package checkpoint

import "github.com/ovlfix/ovlfix/proto"

// Options caps what Open reads from an archive. A zero field takes its
// default; a hostile archive that exceeds a cap fails Open with an error
// naming the member and the Options field to raise. Caps apply to an
// archive only: an images directory is read on demand, each file capped by
// proto.MaxImageFileSize.
type Options struct {
	// MaxMember caps one image kept in memory (any checkpoint/ member
	// but pages-*.img). Default DefaultMaxMember (256 MiB, like
	// proto.MaxImageFileSize). Checked against the member's header,
	// before a byte of it is read.
	MaxMember int64
	// MaxImages caps the bytes of all images kept together. Default
	// DefaultMaxImages (1 GiB).
	MaxImages int64
	// MaxMeta caps one small top-level file kept in Checkpoint.Meta
	// (config.dump, spec.dump, deleted.files, ...). A known metadata file
	// over the cap is an error; another top-level file over it is skipped
	// and listed in Checkpoint.Skipped. Default DefaultMaxMeta (16 MiB).
	MaxMeta int64
	// MaxTotal caps the bytes the archive decompresses to, pages and
	// rootfs-diff.tar included: the zip-bomb cap. Every member's header
	// size is counted before the member is read, and the decompressed
	// stream itself is counted too. Default DefaultMaxTotal (64 GiB).
	MaxTotal int64
	// MaxMembers caps the number of members, the archive's and
	// rootfs-diff.tar's together. Default DefaultMaxMembers (1<<20).
	MaxMembers int
}

// Defaults of Options.
const (
	DefaultMaxMember  = proto.MaxImageFileSize
	DefaultMaxImages  = 1 << 30
	DefaultMaxMeta    = 16 << 20
	DefaultMaxTotal   = 64 << 30
	DefaultMaxMembers = 1 << 20
)

// withDefaults returns o with every zero (or negative) field set to its
// default.
func (o Options) withDefaults() Options {
	if o.MaxMember <= 0 {
		o.MaxMember = DefaultMaxMember
	}
	if o.MaxImages <= 0 {
		o.MaxImages = DefaultMaxImages
	}
	if o.MaxMeta <= 0 {
		o.MaxMeta = DefaultMaxMeta
	}
	if o.MaxTotal <= 0 {
		o.MaxTotal = DefaultMaxTotal
	}
	if o.MaxMembers <= 0 {
		o.MaxMembers = DefaultMaxMembers
	}
	return o
}
