package mountns

import (
	"fmt"
	"io"
	"path"
	"sync"

	"github.com/moby/sys/mountinfo"
)

// Mount is one line of mountinfo.
type Mount struct {
	*mountinfo.Info
	// Overlay is non-nil iff FSType is "overlay": its super options parsed.
	Overlay *Overlay

	// Index chains, built by ParseTable without a per-line allocation:
	// the previous mount (in mountinfo order) of the same superblock, and
	// on the same mountpoint.
	prevSameDev, prevSamePoint *Mount
}

// devKey is a superblock's userspace major:minor.
type devKey struct{ major, minor uint32 }

// Table is one snapshot of a mount namespace as seen from one process's
// root. Its content is fixed by ParseTable, and it is safe for concurrent
// readers (the indexes built on first use are built under a sync.Once).
type Table struct {
	mounts   []*Mount
	byID     map[int]*Mount
	overlays []*Mount

	// The indexes by superblock and by mountpoint are built on first use:
	// resolving fds whose mount ids check out (the common case on 4.2+
	// kernels) needs neither, and building them costs as much as moby's
	// parse of the lines.
	devOnce, pointOnce sync.Once
	byDev              map[devKey]*Mount // the last mount of each superblock; see prevSameDev
	byPoint            map[string]*Mount // the last mount on each path; see prevSamePoint
}

// devIndex returns byDev, building it (and the prevSameDev chains) once.
func (t *Table) devIndex() map[devKey]*Mount {
	t.devOnce.Do(func() {
		t.byDev = make(map[devKey]*Mount, len(t.mounts))
		for _, m := range t.mounts {
			k := devKey{uint32(m.Major), uint32(m.Minor)}
			m.prevSameDev = t.byDev[k]
			t.byDev[k] = m
		}
	})
	return t.byDev
}

// pointIndex returns byPoint, building it (and the prevSamePoint chains)
// once.
func (t *Table) pointIndex() map[string]*Mount {
	t.pointOnce.Do(func() {
		t.byPoint = make(map[string]*Mount, len(t.mounts))
		for _, m := range t.mounts {
			m.prevSamePoint = t.byPoint[m.Mountpoint]
			t.byPoint[m.Mountpoint] = m
		}
	})
	return t.byPoint
}

// ParseTable parses mountinfo text (proc_pid_mountinfo(5)). It is pure: it
// reads r and nothing else. The index by mount id is built here, the others
// on first use; lookups are O(1).
// Lines are parsed by moby/sys/mountinfo and indexed as they come (from its
// filter callback), so that a reader running ahead of the parse (ReadTable)
// overlaps the two.
func ParseTable(r io.Reader) (*Table, error) {
	b := newTableBuilder()
	if _, err := mountinfo.GetMountsFromReader(r, b.add); err != nil {
		return nil, fmt.Errorf("mountinfo: %w", err)
	}
	if b.err != nil {
		return nil, b.err
	}
	return b.t, nil
}

// tableBuilder indexes mounts one by one, in mountinfo order.
type tableBuilder struct {
	t    *Table
	slab []Mount // Mounts are carved from slabs, not allocated one by one
	line int
	err  error // the first bad line; parsing stops there
}

func newTableBuilder() *tableBuilder {
	return &tableBuilder{t: &Table{byID: make(map[int]*Mount)}}
}

// add is a mountinfo.FilterFunc: it takes the parsed line into the table and
// tells moby not to keep a copy of its own (skip), or to stop at an error.
func (b *tableBuilder) add(info *mountinfo.Info) (skip, stop bool) {
	b.line++ // no filter rejects lines, so this is the line number
	if len(b.slab) == 0 {
		b.slab = make([]Mount, 256)
	}
	m := &b.slab[0]
	b.slab = b.slab[1:]
	m.Info = info
	t := b.t
	if info.FSType == "overlay" {
		o, err := ParseOverlayOptions(info.VFSOptions)
		if err != nil {
			b.err = fmt.Errorf("mountinfo line %d (mount %d on %q): overlay options: %w",
				b.line, info.ID, info.Mountpoint, err)
			return true, true
		}
		m.Overlay = o
		t.overlays = append(t.overlays, m)
	}
	t.mounts = append(t.mounts, m)
	t.byID[info.ID] = m
	return true, false
}

// Mounts returns every mount in mountinfo order. The slice is shared: do not
// modify it.
func (t *Table) Mounts() []*Mount { return t.mounts }

// Overlays returns the overlay mounts in mountinfo order (shared slice).
func (t *Table) Overlays() []*Mount { return t.overlays }

// ByID returns the mount with that (old-style, reusable) mount id, or nil.
func (t *Table) ByID(id int) *Mount { return t.byID[id] }

// ByDev returns every mount of the superblock with userspace device
// major:minor (st_dev, mountinfo field 3): bind mounts share a superblock.
// Mountinfo order; nil if none. Cost: O(number of such mounts).
func (t *Table) ByDev(major, minor uint32) []*Mount {
	last := t.devIndex()[devKey{major, minor}]
	n := 0
	for m := last; m != nil; m = m.prevSameDev {
		n++
	}
	if n == 0 {
		return nil
	}
	out := make([]*Mount, n)
	for m := last; m != nil; m = m.prevSameDev {
		n--
		out[n] = m
	}
	return out
}

// ByKernelDev is ByDev for the kernel's internal dev_t encoding,
// MAJOR<<20|MINOR, which fsnotify fdinfo prints as "sdev:".
func (t *Table) ByKernelDev(kdev uint32) []*Mount {
	return t.ByDev(kdev>>20, kdev&(1<<20-1))
}

// ByMountpoint returns the mount visible at exactly path p (mountinfo's
// unescaped mountpoint), or nil. When several mounts are stacked on p, the
// one on top wins: the mount that no other mount on p is mounted on (its id
// is no other's parent). Normally that is the last one in mountinfo order,
// but MOVE_MOUNT_BENEATH (6.5+) can tuck a mount under an existing one;
// when the parent links do not decide, the last one wins.
func (t *Table) ByMountpoint(p string) *Mount {
	last := t.pointIndex()[p]
	if last == nil || last.prevSamePoint == nil {
		return last // the common case: one mount on p
	}
	for m := last; m != nil; m = m.prevSamePoint {
		covered := false
		for o := last; o != nil; o = o.prevSamePoint {
			if o != m && o.Parent == m.ID {
				covered = true
				break
			}
		}
		if !covered {
			return m // the last uncovered one
		}
	}
	return last
}

// stackSize is the number of mounts on mountpoint p.
func (t *Table) stackSize(p string) int {
	n := 0
	for m := t.pointIndex()[p]; m != nil; m = m.prevSamePoint {
		n++
	}
	return n
}

// Covering returns the mount that an absolute path of the target's root lies
// on: the visible mount with the longest mountpoint that is a
// component-wise prefix of the cleaned path ("/a" covers "/a/b", not "/ab").
// A mount is skipped when it is hidden because a mount was later stacked on
// one of its ancestor directories (its parent is not the mount covering its
// mountpoint's directory). Returns nil for a relative path, and when nothing
// covers the path, e.g. for a chrooted target whose root is not a mount
// root: the kernel omits mounts whose mountpoint is outside the root.
//
// Covering works on names only; it cannot see symlinks in the path (use
// Root to resolve those first).
func (t *Table) Covering(p string) *Mount {
	if len(p) == 0 || p[0] != '/' {
		return nil
	}
	return t.covering(path.Clean(p))
}

// bottomOf follows m's parent links down the stack of mounts on p, to the
// one that was mounted on the directory itself.
func (t *Table) bottomOf(m *Mount, p string) *Mount {
	for range t.stackSize(p) { // bounded: parent links could loop in bad input
		parent := t.byID[m.Parent]
		if parent == nil || parent == m || parent.Mountpoint != p {
			break
		}
		m = parent
	}
	return m
}

// covering expects a clean absolute path. Cost: O(depth²) map lookups at
// worst (each candidate checks its parent chain once).
func (t *Table) covering(p string) *Mount {
	for {
		if m := t.ByMountpoint(p); m != nil {
			if p == "/" {
				return m
			}
			if under := t.covering(path.Dir(p)); under == nil || under.ID == t.bottomOf(m, p).Parent {
				return m
			}
			// m hangs off a directory that something else now covers.
		}
		if p == "/" {
			return nil
		}
		p = path.Dir(p)
	}
}
