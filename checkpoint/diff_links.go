package checkpoint

// linkTrie holds the paths of rootfs-diff.tar's symlink members as a tree
// of path components, so that finding whether a member lies under one is
// one map lookup per component hashed over that component alone, and ends
// where no symlink path goes deeper: linear in the member name's length
// (a name may be as long as a PAX record, 1 MiB), never per prefix.
type linkTrie struct {
	kids map[string]*linkTrie
	link bool // a symlink member has this path
}

// add records the symlink member at the clean absolute path p.
func (t *linkTrie) add(p string) {
	n := t
	forComponents(p, func(c string, _ int) bool {
		k := n.kids[c]
		if k == nil {
			if n.kids == nil {
				n.kids = map[string]*linkTrie{}
			}
			k = &linkTrie{}
			n.kids[c] = k
		}
		n = k
		return true
	})
	n.link = true
}

// under is the topmost ancestor of p (clean, absolute) that is a symlink
// member, "" when none is.
func (t *linkTrie) under(p string) string {
	n, found := t, ""
	forComponents(p, func(c string, end int) bool {
		if end == len(p) {
			return false // p itself is not its own ancestor
		}
		if n = n.kids[c]; n == nil {
			return false
		}
		if n.link {
			found = p[:end]
			return false
		}
		return true
	})
	return found
}

// forComponents calls f with each component of the clean absolute path p
// and the index just past it, until f returns false.
func forComponents(p string, f func(c string, end int) bool) {
	for start, i := 1, 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		if i > start && !f(p[start:i], i) {
			return
		}
		start = i + 1
	}
}
