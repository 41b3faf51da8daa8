package resolve

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/mountns"
)

// DefaultWalkLimit bounds the directory entries one walking route (the
// layer walk, the merged walk) may read for one watch.
const DefaultWalkLimit = 200000

// Hints maps an inode number to paths the process itself holds open with
// that inode: the cheapest route from a watch's (sdev, ino) to a path.
type Hints map[uint64][][]byte

// NewHints collects the paths of a process's fds, cwd/root/exe and mapped
// files by inode number.
func NewHints(objs []fdinfo.Object) Hints {
	h := Hints{}
	for i := range objs {
		o := &objs[i]
		if o.Stat == nil || len(o.Link) == 0 || o.Link[0] != '/' {
			continue
		}
		h[o.Stat.Ino] = append(h[o.Stat.Ino], o.Link)
	}
	return h
}

// resolveWatch turns an fsnotify mark's (sdev, ino) into a path in the
// target's namespace (docs/kernel-quirks.md §5, §11.4). sdev is the overlay
// superblock dev in kernel encoding on every kernel; ino is the overlay
// inode number, which equals st_ino for non-directories on current kernels
// (older ones used a non-persistent get_next_ino() value, which nothing
// here can match). st_dev is never required to equal sdev: for
// non-directories on overlays whose layers are on different filesystems
// it is a pseudo dev.
//
// Routes, cheapest first; each names itself in the evidence:
//
//  1. hints: paths the process holds open with that inode (ResolveAll);
//  2. handle: open_by_handle_at of the mark's file handle, where the
//     filesystem can decode it (watch_handle.go);
//  3. layers: a walk of the overlay's layer directories (watch_layers.go);
//  4. merged walk: a bounded walk of each mount of the superblock inside
//     the target root, matching getdents d_ino (watch_merged.go).
//
// Every answer is confirmed by stat inside the target root: the path must
// be that inode, on a visible mount of that superblock.
//
// Cost: the walks are bounded per watch (WalkLimit) and, through a
// Session, per process (WatchBudget, watch_budget.go): once the entries
// are spent the walking routes are not tried, once the time is spent (or
// the context is done) nothing is, and the watch is unresolved with a
// reason starting "budget:" (or "cancelled:").
func (r *Resolver) resolveWatch(o *fdinfo.Object, res *Result, hints Hints) {
	w := o.Watch
	res.Ino = w.Ino
	if err := r.meter.begin(); err != nil {
		res.unresolved("%v; inode %d on sdev %#x not searched", err, w.Ino, w.Sdev)
		return
	}
	mounts := r.Table.ByKernelDev(w.Sdev)
	if len(mounts) == 0 {
		major, minor := fdinfo.SplitKernelDev(w.Sdev)
		res.unresolved("sdev %#x (%d:%d) matches no mount of the target", w.Sdev, major, minor)
		return
	}
	res.note("sdev %#x is %s (%d mount(s), first %d on %q)", w.Sdev, mounts[0].FSType, len(mounts), mounts[0].ID, mounts[0].Mountpoint)
	s := &watchSearch{r: r, w: w, res: res, mounts: mounts}
	for _, m := range mounts {
		if r.Table.ByMountpoint(m.Mountpoint) == m {
			s.reach = append(s.reach, m)
		}
	}
	routes := r.watchRoutes
	walks := func() bool { return r.meter.walkStop() == nil }
	switch { // the first route that finds (and confirms) the path ends the search
	case routes.has(useHint) && s.byHints(hints[w.Ino]):
	case routes.has(useHandle) && s.byHandle():
	case routes.has(useLayers) && walks() && s.byLayers():
	case routes.has(useMergedWalk) && walks() && s.byMergedWalk():
	default:
		if err := r.meter.walkStop(); err != nil {
			res.unresolved("%v; inode %d on sdev %#x not found before that%s", err, w.Ino, w.Sdev, cluesSuffix(s.clues))
			return
		}
		res.unresolved("inode %d on sdev %#x found by no route: %s", w.Ino, w.Sdev, strings.Join(s.clues, "; "))
	}
}

// watchSearch is the state of one watch's resolution.
type watchSearch struct {
	r      *Resolver
	w      *fdinfo.Mark
	res    *Result
	mounts []*mountns.Mount // every mount of the mark's superblock
	reach  []*mountns.Mount // those visible at their mountpoint
	clues  []string         // why routes failed, for the reason
	// layerMisses counts layer entries with the inode number that no
	// visible overlay path confirmed.
	layerMisses int
}

func (s *watchSearch) clue(format string, args ...any) {
	s.clues = append(s.clues, fmt.Sprintf(format, args...))
}

func (s *watchSearch) onSB(m *mountns.Mount) bool {
	for _, c := range s.mounts {
		if c == m {
			return true
		}
	}
	return false
}

// accept confirms that path, inside the target root, is the watched inode
// on a visible mount of its superblock, and records it as found by route.
func (s *watchSearch) accept(path []byte, route WatchRoute, how string) bool {
	st, err := s.r.Root.Stat(string(path))
	if err != nil || st.Ino != s.w.Ino {
		return false
	}
	m := s.r.Table.Covering(string(path))
	if m == nil || !s.onSB(m) {
		return false
	}
	res := s.res
	res.Verdict = OK
	res.Path, res.MntID, res.Mount, res.Dev, res.Route = path, m.ID, m, st.Dev, route
	res.note("found by route %s: %s", route, how)
	res.note("stat in target root: %s on mount %d", devIno(st.Dev, st.Ino), m.ID)
	return true
}

// byHints tries the paths the process holds with the watched inode. A held
// path marked deleted is not tried but remembered for the reason: the
// watched file was unlinked while the process kept it open.
func (s *watchSearch) byHints(paths [][]byte) bool {
	for _, p := range paths {
		if bytes.HasSuffix(p, []byte(fdinfo.DeletedSuffix)) {
			s.clue("hint: the process holds inode %d open as %s: the file was deleted", s.w.Ino, quote.Bytes(p))
			continue
		}
		if s.accept(p, RouteHint, "the process holds "+quote.Bytes(p)+" open") {
			return true
		}
	}
	return false
}

// cluesSuffix is ": clue; clue" or "" when there is none.
func cluesSuffix(clues []string) string {
	if len(clues) == 0 {
		return ""
	}
	return ": " + strings.Join(clues, "; ")
}

func (r *Resolver) walkLimit() int {
	if r.WalkLimit > 0 {
		return r.WalkLimit
	}
	return DefaultWalkLimit
}
