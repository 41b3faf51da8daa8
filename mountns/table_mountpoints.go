package mountns

// The index by mountpoint, and the stacks of mounts on one mountpoint.
//
// Threat: the shape of the mount table is chosen by whoever mounts in the
// namespace, and a container can mount in its own. Mounts can be stacked on
// one path as deep as fs.mount-max allows (100,000 by default), plainly or
// tucked under the top with MOVE_MOUNT_BENEATH (6.5+), and their parent
// links, as any mountinfo field, may be inconsistent in text that did not
// come from a kernel. So every stack is resolved once, in O(its size), when
// the index is built, and lookups are O(1) afterwards, whatever the order of
// the lines; bad parent links (loops, ids of other mountpoints) cost no more
// and never hang.

// pointIndex returns byPoint, building it once: the prevSamePoint chains,
// then for each path with more than one mount, its top (which byPoint
// holds) and its bottom (the top's stackBottom). Cost: O(mounts) steps.
func (t *Table) pointIndex() map[string]*Mount {
	t.pointOnce.Do(func() {
		byPoint := make(map[string]*Mount, len(t.mounts))
		var stacked []string // paths with more than one mount, once each
		for _, m := range t.mounts {
			t.op()
			prev := byPoint[m.Mountpoint]
			if prev != nil && prev.prevSamePoint == nil {
				stacked = append(stacked, m.Mountpoint)
			}
			m.prevSamePoint = prev
			byPoint[m.Mountpoint] = m
		}
		if len(stacked) > 0 {
			parents := make(map[int]int) // scratch for stackEnds, left empty
			for _, p := range stacked {
				top, bottom := t.stackEnds(byPoint[p], parents)
				byPoint[p] = top
				top.stackBottom = bottom
			}
		}
		t.byPoint = byPoint
	})
	return t.byPoint
}

// stackEnds returns the top and the bottom of the stack of mounts on one
// mountpoint, given its last mount in mountinfo order (the head of the
// prevSamePoint chain). parents is an empty map, returned empty.
//
// The top is the mount that no other mount of the stack has as its parent.
// Normally that is the last one in mountinfo order, but MOVE_MOUNT_BENEATH
// (6.5+) tucks a new mount (with a new id, listed later on 6.8+ kernels,
// which list mounts by id) under the top; when the parent links do not
// decide (a loop, duplicate ids), the last uncovered one wins, else the last.
//
// The bottom is reached from the top by following parent links while the
// parent is on the same mountpoint: the mount on the directory itself, whose
// parent is the mount the directory lies on. At most one step per mount of
// the stack, so a loop in the links ends there.
//
// Cost: O(size of the stack) steps.
func (t *Table) stackEnds(last *Mount, parents map[int]int) (top, bottom *Mount) {
	n := 0
	for m := last; m != nil; m = m.prevSamePoint {
		t.op()
		parents[m.Parent]++
		n++
	}
	top = last
	for m := last; m != nil; m = m.prevSamePoint {
		t.op()
		covers := parents[m.ID] // mounts of the stack mounted on m...
		if m.Parent == m.ID {
			covers-- // ...other than m itself
		}
		if covers == 0 {
			top = m
			break
		}
	}
	for m := last; m != nil; m = m.prevSamePoint {
		t.op()
		delete(parents, m.Parent)
	}
	bottom = top
	for range n {
		t.op()
		parent := t.byID[bottom.Parent]
		if parent == nil || parent == bottom || parent.Mountpoint != top.Mountpoint {
			break
		}
		bottom = parent
	}
	return top, bottom
}

// op counts one step for the tests (opHook); nothing otherwise.
func (t *Table) op() {
	if t.opHook != nil {
		t.opHook()
	}
}

// ByMountpoint returns the mount visible at exactly path p (mountinfo's
// unescaped mountpoint), or nil. When several mounts are stacked on p, the
// one on top wins: the mount that no other mount on p is mounted on (its id
// is no other's parent). Normally that is the last one in mountinfo order,
// but MOVE_MOUNT_BENEATH (6.5+) can tuck a mount under an existing one;
// when the parent links do not decide, the last one wins.
//
// Cost: O(1) (one map lookup), after an O(mounts) build of the index on the
// first call on the table.
func (t *Table) ByMountpoint(p string) *Mount {
	t.op()
	return t.pointIndex()[p]
}

// bottomOf returns the bottom of the stack whose top (ByMountpoint) is top:
// the mount that was mounted on the directory itself. O(1).
func bottomOf(top *Mount) *Mount {
	if top.stackBottom != nil {
		return top.stackBottom
	}
	return top
}
