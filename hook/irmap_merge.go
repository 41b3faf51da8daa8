package hook

import (
	"fmt"

	"github.com/ovlfix/ovlfix/proto"
)

// IrmapEntry is one entry of CRIU's irmap-cache (irmap_cache_entry in
// fh.proto): Dev is the superblock dev in the kernel's encoding
// (fdinfo.KernelDev: what fsnotify fdinfo prints as sdev, and CRIU's MKKDEV),
// Ino the inode number, Path the file's absolute path as CRIU resolves it
// (from the root of the dumped mount namespace). Path holds raw bytes.
type IrmapEntry struct {
	Dev  uint32
	Ino  uint64
	Path string
}

func (e IrmapEntry) String() string {
	return fmt.Sprintf("%x:%x -> %q", e.Dev, e.Ino, e.Path)
}

type irmapKey struct {
	dev uint32
	ino uint64
}

func (e IrmapEntry) key() irmapKey { return irmapKey{e.Dev, e.Ino} }

// Merge outcomes, one per entry of ours.
const (
	// Added: the cache had no entry for the key.
	Added = "added"
	// KeptExisting: the cache had a valid entry for the key; ours dropped.
	KeptExisting = "kept-existing"
	// Replaced: every cache entry for the key was stale (its path no
	// longer stats to that dev and inode); ours took the first one's place.
	Replaced = "replaced"
)

// MergeOutcome says what the merge did with one of our entries.
type MergeOutcome struct {
	Entry IrmapEntry
	What  string // Added, KeptExisting or Replaced
	// Existing is the cache entry kept or replaced (zero for Added).
	Existing IrmapEntry
}

// mergeIrmap merges our entries into the existing cache image (nil: none)
// and returns the new image and what happened to each of ours.
//
// Policy (docs/hook.md): entries whose (dev, inode) we do not have are
// kept byte for byte, in order, duplicates included: they are someone
// else's (an earlier `criu pre-dump`, another tool). For a key we have,
// the cache ends up with exactly one entry: the first existing one that
// valid accepts (CRIU's own revalidation: the path, stat'ed without
// following a final symlink from the dump's root, is still that dev and
// inode), else ours in the place of the first existing one. Ours win only
// over stale entries, which CRIU would drop anyway. Ours are deduplicated
// by key (first wins); keys new to the cache are appended in our order.
func mergeIrmap(existing *proto.Image, ours []IrmapEntry, valid func(IrmapEntry) bool) (*proto.Image, []MergeOutcome, error) {
	var out *proto.Image
	var err error
	if existing == nil {
		if out, err = proto.NewImage(proto.IrmapCache, proto.KindIrmapCache); err != nil {
			return nil, nil, err
		}
	} else {
		out = &proto.Image{Name: existing.Name, Common: existing.Common, Magic: existing.Magic}
	}
	mine := map[irmapKey]int{} // key -> index in uniq
	var uniq []IrmapEntry
	for _, e := range ours {
		if _, dup := mine[e.key()]; !dup {
			mine[e.key()] = len(uniq)
			uniq = append(uniq, e)
		}
	}
	outcomes := make([]MergeOutcome, len(uniq))
	for i, e := range uniq {
		outcomes[i] = MergeOutcome{Entry: e, What: Added}
	}
	var have []IrmapEntry
	if existing != nil {
		have = make([]IrmapEntry, len(existing.Entries))
		for i := range existing.Entries {
			var m proto.IrmapCacheEntry
			if err := existing.Decode(i, &m); err != nil {
				return nil, nil, err
			}
			have[i] = IrmapEntry{Dev: m.GetDev(), Ino: m.GetInode(), Path: m.GetPath()}
		}
	}
	// First pass: for each of our keys, the existing entry to keep (the
	// first valid one) or the place of the first stale one.
	chosen := map[irmapKey]int{}
	for i, h := range have {
		j, ok := mine[h.key()]
		if !ok {
			continue
		}
		if outcomes[j].What == KeptExisting {
			continue
		}
		if valid(h) {
			outcomes[j].What, outcomes[j].Existing = KeptExisting, h
			chosen[h.key()] = i
		} else if outcomes[j].What == Added {
			outcomes[j].What, outcomes[j].Existing = Replaced, h
			chosen[h.key()] = i
		}
	}
	for i, h := range have {
		j, ok := mine[h.key()]
		switch {
		case !ok:
			out.Entries = append(out.Entries, existing.Entries[i])
		case chosen[h.key()] != i:
			// a duplicate or stale entry for a key we settle
		case outcomes[j].What == KeptExisting:
			out.Entries = append(out.Entries, existing.Entries[i])
		default:
			if err := appendIrmap(out, uniq[j]); err != nil {
				return nil, nil, err
			}
		}
	}
	for j, e := range uniq {
		if outcomes[j].What == Added {
			if err := appendIrmap(out, e); err != nil {
				return nil, nil, err
			}
		}
	}
	return out, outcomes, nil
}

func appendIrmap(img *proto.Image, e IrmapEntry) error {
	dev, ino, path := e.Dev, e.Ino, e.Path
	return img.Append(&proto.IrmapCacheEntry{Dev: &dev, Inode: &ino, Path: &path})
}

// changed reports whether a merge changed anything.
func changed(outcomes []MergeOutcome) bool {
	for _, o := range outcomes {
		if o.What != KeptExisting {
			return true
		}
	}
	return false
}
