package verify

import "github.com/ovlfix/ovlfix/checkpoint"

// diffIndex is rootfs-diff.tar's members and deleted.files as a tree of
// path components, so that walking a name's ancestors costs one map
// lookup per component hashed over that component alone: linear in the
// name's length, whatever a hostile files.img name or archive holds
// (looking up each prefix "/a", "/a/a", ... in a map of paths hashes
// every prefix whole: quadratic, 6.8 s for one 100 KB name).
type diffIndex struct {
	kids    map[string]*diffIndex
	entry   *checkpoint.DiffEntry // the member at this path, nil if none
	deleted bool                  // deleted.files names this path
}

// newDiffIndex builds the index: O(total bytes of the paths).
func newDiffIndex(d *checkpoint.RootfsDiff, deleted map[string]bool) *diffIndex {
	top := &diffIndex{}
	for p, e := range d.Entries {
		top.insert(p).entry = &e
	}
	for p := range deleted {
		top.insert(p).deleted = true
	}
	return top
}

// insert returns the node of the clean absolute path p, made if missing.
func (n *diffIndex) insert(p string) *diffIndex {
	for start, i := 1, 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		if i > start {
			c := p[start:i]
			k := n.kids[c]
			if k == nil {
				if n.kids == nil {
					n.kids = map[string]*diffIndex{}
				}
				k = &diffIndex{}
				n.kids[c] = k
			}
			n = k
		}
		start = i + 1
	}
	return n
}
