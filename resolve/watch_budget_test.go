package resolve

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/scenario"
)

// deletedWatches opens and watches n files of the lower tree of
// treeOverlay(base, 20+, 5+) through the overlay, and then
// unlinks them (whiteouts in the upper layer). The process holds them
// open, so the watches stay (an inode no one holds is evicted, and its
// watch with it) but no path names them any more: every route searches
// in vain, and both walks read the whole tree for each.
func deletedWatches(n int) []scenario.Step {
	var held, unlinks []scenario.Step
	for i := range n {
		f := p(fmt.Sprintf("merged/d%02d/s%02d/f%04d", i%20, i/20%10, i/200))
		held = append(held, scenario.Step{Do: "open", Path: f}, scenario.Step{Do: "watch", Path: f, Label: fmt.Sprintf("w%d", i)})
		unlinks = append(unlinks, scenario.Step{Do: "unlink", Path: f})
	}
	return append(held, unlinks...)
}

// watchResults are the results of watches.
func watchResults(rs []Result) []Result {
	var out []Result
	for _, r := range rs {
		if r.Object.Kind == fdinfo.KindWatch {
			out = append(out, r)
		}
	}
	return out
}

// treeOverlay mounts base/lower and base/upper on base/merged, all on the
// child's tmpfs, with dirs×10×files lower files lower/dNN/sNN/fNNNN (the
// names buildTree writes) and one upper file, then runs steps.
func treeOverlay(base string, dirs, files int, steps ...scenario.Step) scenario.Spec {
	var all []scenario.Step
	for d := range dirs {
		for s := range 10 {
			for f := range files {
				all = append(all, scenario.Step{Do: "write", Path: p(fmt.Sprintf("lower/d%02d/s%02d/f%04d", d, s, f)), Content: "l"})
			}
		}
	}
	all = append(all,
		scenario.Step{Do: "write", Path: p("upper/u/f0000"), Content: "u"},
		scenario.Step{Do: "mkdir", Path: p("work")},
		scenario.Step{Do: "overlay", Path: p("merged"), Lower: []string{"lower"}, Upper: "upper", Work: "work", Label: "main"})
	return scenario.Spec{Base: base, Steps: append(all, steps...)}
}

// treeWithDeleted starts a target on a lower tree of dirs×10×files files
// with n watches on deleted files.
func treeWithDeleted(t *testing.T, dirs, files, n int) *liveProc {
	return startLive(t, func(base string) scenario.Spec {
		return treeOverlay(base, dirs, files, deletedWatches(n)...)
	})
}

// TestWatchBudgetDeletedFiles: 1,000 watches on files unlinked after
// watching (held open), in a lower tree of 20,000 files on a real
// overlay. Each one's walks read the whole tree twice (layers, then the
// merged tree), ~40,000 entries, 40 M in all without a budget (42 s
// here). With the default budget the entries read stop at
// DefaultWatchBudgetEntries, resolution ends well within the default time
// budget, and every watch is unresolved: as deleted (no route finds it)
// while the budget lasted, then with a reason naming the budget. The
// guard (5× the time budget) fails a resolver without a budget.
func TestWatchBudgetDeletedFiles(t *testing.T) {
	const n = 1000
	lp := treeWithDeleted(t, 20, 100, n)
	s, err := NewSession(SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	watches := 0
	for _, o := range lp.objs {
		if o.Kind == fdinfo.KindWatch {
			watches++
		}
	}
	if watches != n {
		t.Fatalf("%d watches scanned, want %d", watches, n)
	}
	type outcome struct {
		got *Resolved
		err error
	}
	done := make(chan outcome, 1)
	start := time.Now()
	go func() {
		got, err := s.Resolve(context.Background(), lp.c.PID, lp.objs)
		done <- outcome{got, err}
	}()
	guard := 5 * DefaultWatchBudgetTime
	var out outcome
	select {
	case out = <-done:
	case <-time.After(guard):
		t.Fatalf("%d watches on deleted files not resolved within %v", n, guard)
	}
	elapsed := time.Since(start)
	if out.err != nil {
		t.Fatal(out.err)
	}
	spend := out.got.Watches
	t.Logf("%d watches: %v wall time, %d directory entries read, %q budget ran out (spend %+v)", n, elapsed, spend.Entries, spend.Exhausted, spend)
	if spend.Entries > DefaultWatchBudgetEntries || spend.Exhausted == "" {
		t.Errorf("spend %+v: want at most %d entries and a budget that ran out", spend, DefaultWatchBudgetEntries)
	}
	budget, deleted := 0, 0
	for _, r := range watchResults(out.got.Results) {
		switch {
		case r.Verdict != Unresolved:
			t.Errorf("%s: %s %q, want unresolved", r.Object.Name(), r.Verdict, r.Path)
		case strings.HasPrefix(r.Reason, "budget: "+spend.Exhausted+": "):
			budget++
		case strings.Contains(r.Reason, "found by no route") && strings.Contains(r.Reason, "the file was deleted"):
			deleted++
		default:
			t.Errorf("%s: reason %q is neither the budget's nor a deleted file's", r.Object.Name(), r.Reason)
		}
	}
	t.Logf("%d unresolved as deleted, %d for the budget", deleted, budget)
	if budget == 0 || deleted == 0 {
		t.Errorf("%d unresolved as deleted, %d for the budget: want both", deleted, budget)
	}
}

// steppingClock is a clock that moves on by step at each reading.
func steppingClock(step time.Duration) func() time.Time {
	now := time.Unix(1_000_000, 0)
	return func() time.Time {
		now = now.Add(step)
		return now
	}
}

// TestWatchBudgetTimeInjectedClock: with a clock that moves 1 s at each
// reading and a time budget of 1.5 s, the first watch is searched (the
// clock read at its start: 1 s used) and the others are not (2 s used at
// the second's start): their reason names the time budget. The tree is
// smaller than checkEvery entries, so the walks never read the clock.
func TestWatchBudgetTimeInjectedClock(t *testing.T) {
	lp := treeWithDeleted(t, 3, 1, 3)
	r := *lp.r
	r.meter = newWatchMeter(context.Background(), WatchBudget{Time: 1500 * time.Millisecond, Now: steppingClock(time.Second)})
	res := watchResults(r.ResolveAll(lp.objs))
	if len(res) != 3 {
		t.Fatalf("%d watches", len(res))
	}
	if !strings.Contains(res[0].Reason, "found by no route") {
		t.Errorf("first watch: %s (%s), want searched in vain", res[0].Verdict, res[0].Reason)
	}
	for _, x := range res[1:] {
		if x.Verdict != Unresolved || !strings.HasPrefix(x.Reason, "budget: time: watch resolution of this process has used 2s of its 1.5s") ||
			!strings.HasSuffix(x.Reason, "not searched") {
			t.Errorf("%s: %s (%s), want unresolved for the time budget, not searched", x.Object.Name(), x.Verdict, x.Reason)
		}
	}
	// Readings: the first watch's start and check, the second's check
	// (the third watch finds the budget out without one), spend's: 3 s.
	if sp := r.meter.spend(); sp.Exhausted != "time" || sp.Time != 3*time.Second || sp.Entries == 0 || sp.Entries >= checkEvery {
		t.Errorf("spend %+v, want the time budget out after 3 s and fewer than %d entries", sp, checkEvery)
	}
}

// TestWatchBudgetEntries: a budget of 25 entries stops the first walk at
// its 25th entry; the watches after it are not walked, but the routes that
// read no directory still run: the watch on a file the process holds open
// is found by its hint.
func TestWatchBudgetEntries(t *testing.T) {
	lp := startLive(t, func(base string) scenario.Spec {
		return treeOverlay(base, 3, 3, append(deletedWatches(3),
			scenario.Step{Do: "open", Path: p("merged/d00/s00/f0002")},
			scenario.Step{Do: "watch", Path: p("merged/d00/s00/f0002"), Label: "held"})...)
	})
	r := *lp.r
	r.meter = newWatchMeter(context.Background(), WatchBudget{Entries: 25})
	held := lp.object(t, lp.held(t, "held"))
	for _, x := range r.ResolveAll(lp.objs) {
		o := x.Object
		switch {
		case o.Kind != fdinfo.KindWatch:
		case o.FD == held.FD && o.Watch.WD == held.Watch.WD:
			if x.Verdict != OK || x.Route != RouteHint {
				t.Errorf("held file: %s by %q (%s), want ok by its hint", x.Verdict, x.Route, x.Reason)
			}
		case x.Verdict != Unresolved || !strings.HasPrefix(x.Reason, "budget: entries: the walks for this process's watches have read its 25 directory entries"):
			t.Errorf("%s: %s (%s), want unresolved for the entries budget", o.Name(), x.Verdict, x.Reason)
		}
	}
	if sp := r.meter.spend(); sp.Entries != 25 || sp.Exhausted != "entries" {
		t.Errorf("spend %+v, want exactly the 25 entries and the entries budget out", sp)
	}
}

// cancelAfter is a context whose Err turns to context.Canceled at its
// n+1st call: a SIGTERM at a known point of the walk.
type cancelAfter struct {
	context.Context
	n int
}

func (c *cancelAfter) Err() error {
	if c.n--; c.n < 0 {
		return context.Canceled
	}
	return nil
}

// TestWatchResolutionCancelled: a context cancelled while the first walk
// runs stops it at the next check (checkEvery entries), leaves every
// watch unresolved as cancelled, and Session.Resolve says so with an
// error wrapping context.Canceled.
func TestWatchResolutionCancelled(t *testing.T) {
	lp := treeWithDeleted(t, 5, 100, 3)
	// Err is read at the start of the first watch, then every checkEvery
	// entries: the second read is the walk's first check.
	ctx := &cancelAfter{Context: context.Background(), n: 1}
	r := *lp.r
	r.meter = newWatchMeter(ctx, WatchBudget{})
	for _, x := range watchResults(r.ResolveAll(lp.objs)) {
		if x.Verdict != Unresolved || !strings.HasPrefix(x.Reason, "cancelled: context canceled") {
			t.Errorf("%s: %s (%s), want unresolved as cancelled", x.Object.Name(), x.Verdict, x.Reason)
		}
	}
	if sp := r.meter.spend(); sp.Entries != checkEvery || sp.Exhausted != "cancelled" {
		t.Errorf("spend %+v, want the walk stopped at %d entries", sp, checkEvery)
	}

	s, err := NewSession(SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Resolve reads Err once before it starts: the third read cancels.
	got, err := s.Resolve(&cancelAfter{Context: context.Background(), n: 2}, lp.c.PID, lp.objs)
	if !errors.Is(err, context.Canceled) || got != nil {
		t.Errorf("Resolve cancelled during a walk: %v, %v; want no results and an error wrapping context.Canceled", got, err)
	}
}
