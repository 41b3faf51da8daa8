package mountns

import (
	"fmt"
	"io"
	"sync"

	"github.com/moby/sys/mountinfo"
	"github.com/ovlfix/ovlfix/fdinfo"
)

// Mount is one line of mountinfo.
type Mount struct {
	*mountinfo.Info
	// Overlay is non-nil iff FSType is "overlay": its super options parsed.
	Overlay *Overlay

	// Index chains, built with the indexes by device and by mountpoint,
	// without a per-line allocation: the previous mount (in mountinfo
	// order) of the same superblock, and on the same mountpoint.
	prevSameDev, prevSamePoint *Mount
	// stackBottom is set on the top of a stack of mounts on one mountpoint
	// (table_mountpoints.go): the mount at the bottom of the stack, the one
	// mounted on the directory itself. nil when the top is alone.
	stackBottom *Mount
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
	byPoint            map[string]*Mount // the visible (top) mount on each path; see stackBottom

	// opHook is nil except in tests, which set it before any other use of
	// the table: it is called once per lookup in the mountpoint index and
	// once per step of that index's build, the unit in which the tests
	// state the costs of ByMountpoint and Covering.
	opHook func()
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

// ByKernelDev is ByDev for the kernel's internal dev_t encoding
// (fdinfo.SplitKernelDev), which fsnotify fdinfo prints as "sdev:".
func (t *Table) ByKernelDev(kdev uint32) []*Mount {
	return t.ByDev(fdinfo.SplitKernelDev(kdev))
}
