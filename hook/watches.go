package hook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/mountns"
	"github.com/ovlfix/ovlfix/resolve"
)

// FoundWatch is one inotify watch or fanotify inode mark of the tree on an
// overlay, resolved to a path.
type FoundWatch struct {
	PID   int    // the task whose fdinfo showed it
	Name  string // "watch <fd>:<wd>"
	Entry IrmapEntry
}

// SkippedWatch is a watch that gets no irmap-cache entry, and why.
type SkippedWatch struct {
	PID    int
	Name   string
	Sdev   uint32
	Ino    uint64
	Reason string
}

// overlayWatches scans the tree of pid and resolves every inode watch on an
// overlay mount through one resolve.Session (package resolve: hints,
// handle, layer walk, merged walk, within budget per process; every
// answer confirmed by stat inside the task's root). Watches on other
// filesystems are not counted: CRIU opens their handles itself. notes
// say what a process's watches cost when a budget ran out.
func overlayWatches(ctx context.Context, pid int, opts SeedOptions) (found []FoundWatch, skipped []SkippedWatch, notes []string, err error) {
	procs, err := opts.Scanner.ScanTree(pid)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("scan the tree of pid %d: %w", pid, err)
	}
	sess, err := resolve.NewSession(resolve.SessionOptions{WatchBudget: opts.WatchBudget})
	if err != nil {
		return nil, nil, nil, err
	}
	defer sess.Close()
	tree := newTreeClock(opts)
	for _, p := range procs {
		if err := ctx.Err(); err != nil {
			return nil, nil, nil, err
		}
		objs := watchSubset(p.Objects)
		if objs == nil {
			continue
		}
		budget, ok := tree.share(opts.WatchBudget)
		if !ok {
			notes = append(notes, fmt.Sprintf("pid %d: the tree's time budget of watch resolution (%v) ran out before its %d watch(es) were searched: they get no entry (CRIU handles them as it does without ovlfix)",
				p.TGID, tree.limit, countWatches(objs)))
			continue
		}
		rp, err := sess.ResolveWith(ctx, p.TGID, objs, budget)
		if err != nil {
			if errors.Is(fdinfo.Classify(err), fdinfo.ErrExited) {
				continue // a task of the tree exited: CRIU will not dump it
			}
			return nil, nil, nil, err // names the pid
		}
		if w := rp.Watches; w.Exhausted != "" {
			notes = append(notes, fmt.Sprintf("pid %d: the %s budget of watch resolution ran out (%d directory entries read in %v): the overlay watches it left unresolved get no entry (CRIU handles them as it does without ovlfix)",
				p.TGID, w.Exhausted, w.Entries, w.Time.Round(time.Millisecond)))
		}
		for _, r := range rp.Results {
			o := r.Object
			if o.Kind != fdinfo.KindWatch {
				continue
			}
			if r.Verdict != resolve.OK && r.Verdict != resolve.Fixed {
				if onOverlay(r, rp.Table) {
					skipped = append(skipped, SkippedWatch{PID: o.PID, Name: o.Name(), Sdev: o.Watch.Sdev, Ino: o.Watch.Ino,
						Reason: fmt.Sprintf("not resolved (%s): %s", r.Verdict, r.Reason)})
				}
				continue
			}
			if r.Mount == nil || r.Mount.FSType != "overlay" {
				continue
			}
			found = append(found, FoundWatch{PID: o.PID, Name: o.Name(),
				Entry: IrmapEntry{Dev: o.Watch.Sdev, Ino: o.Watch.Ino, Path: string(r.Path)}})
		}
	}
	return found, skipped, notes, nil
}

// watchSubset returns the objects ResolveAll needs for the watches of one
// file table: the watches, the cwd (a tie-breaker between overlays) and
// every object holding an inode a watch names (the cheapest route to a
// path). nil when there is no watch.
func watchSubset(objs []fdinfo.Object) []fdinfo.Object {
	inos := map[uint64]bool{}
	for i := range objs {
		if objs[i].Kind == fdinfo.KindWatch && objs[i].Watch != nil {
			inos[objs[i].Watch.Ino] = true
		}
	}
	if len(inos) == 0 {
		return nil
	}
	var out []fdinfo.Object
	for _, o := range objs {
		switch {
		case o.Kind == fdinfo.KindWatch && o.Watch != nil, o.Kind == fdinfo.KindCwd:
			out = append(out, o)
		case o.Stat != nil && inos[o.Stat.Ino]:
			out = append(out, o)
		}
	}
	return out
}

// onOverlay reports whether an unresolved watch's sdev is an overlay's in
// the task's mount table (only those are worth a word in the log).
func onOverlay(r resolve.Result, t *mountns.Table) bool {
	for _, m := range t.ByKernelDev(r.Object.Watch.Sdev) {
		if m.FSType == "overlay" {
			return true
		}
	}
	return false
}

// treeClock spends SeedOptions.TreeTime over the processes of a tree.
type treeClock struct {
	now   func() time.Time
	start time.Time
	limit time.Duration // <0: no bound
}

func newTreeClock(opts SeedOptions) *treeClock {
	now := opts.WatchBudget.Now
	if now == nil {
		now = time.Now
	}
	limit := opts.TreeTime
	if limit == 0 {
		limit = DefaultTreeTime
	}
	return &treeClock{now: now, start: now(), limit: limit}
}

// share returns the budget of the next process: b, with its time cut to
// what is left of the tree's; ok is false when nothing is left.
func (c *treeClock) share(b resolve.WatchBudget) (resolve.WatchBudget, bool) {
	if c.limit < 0 {
		return b, true
	}
	left := c.limit - c.now().Sub(c.start)
	if left <= 0 {
		return b, false
	}
	per := b.Time
	if per == 0 {
		per = resolve.DefaultWatchBudgetTime
	}
	if per < 0 || per > left {
		b.Time = left
	}
	return b, true
}

func countWatches(objs []fdinfo.Object) int {
	n := 0
	for i := range objs {
		if objs[i].Kind == fdinfo.KindWatch {
			n++
		}
	}
	return n
}
