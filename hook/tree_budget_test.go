package hook

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/resolve"
)

// Each process gets what is left of the tree's time, at most its own
// budget, and nothing once the tree's time is spent.
func TestTreeClockShares(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { return now }
	c := newTreeClock(SeedOptions{TreeTime: 5 * time.Second, WatchBudget: resolve.WatchBudget{Now: clock}})
	for _, tc := range []struct {
		elapsed time.Duration
		per     time.Duration
		want    time.Duration
		ok      bool
	}{
		{0, 0, resolve.DefaultWatchBudgetTime, true}, // default per-process time fits: unchanged (0 means default)
		{0, time.Second, time.Second, true},          // a smaller own budget stays
		{4 * time.Second, 0, time.Second, true},      // cut to what is left
		{4 * time.Second, -1, time.Second, true},     // "no bound" is bounded by the tree
		{4500 * time.Millisecond, 3 * time.Second, 500 * time.Millisecond, true},
		{5 * time.Second, time.Second, 0, false}, // spent
		{time.Minute, time.Second, 0, false},
	} {
		now = time.Unix(1_000_000, 0).Add(tc.elapsed)
		b, ok := c.share(resolve.WatchBudget{Time: tc.per, Now: clock})
		got := b.Time
		if tc.per == 0 && tc.want == resolve.DefaultWatchBudgetTime && got == 0 {
			got = resolve.DefaultWatchBudgetTime // left at 0: resolve's default
		}
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("after %v with own budget %v: got %v, %v; want %v, %v", tc.elapsed, tc.per, b.Time, ok, tc.want, tc.ok)
		}
	}
	unbounded := newTreeClock(SeedOptions{TreeTime: -1, WatchBudget: resolve.WatchBudget{Now: clock}})
	now = now.Add(time.Hour)
	if b, ok := unbounded.share(resolve.WatchBudget{Time: 7}); !ok || b.Time != 7 {
		t.Errorf("no tree bound: got %v, %v", b.Time, ok)
	}
}

// TestSeedIrmapTreeBudget: once the tree's time is spent, the processes
// not yet searched get no entry and the log says so; with the default the
// same tree is seeded.
func TestSeedIrmapTreeBudget(t *testing.T) {
	c := scenariotest.StartT(t, "", func(base string) scenario.Spec {
		return scenario.Spec{Base: base, Steps: []scenario.Step{
			{Do: "write", Path: []byte("lower/a.txt"), Content: "a"},
			{Do: "mkdir", Path: []byte("upper")},
			{Do: "mkdir", Path: []byte("work")},
			{Do: "overlay", Path: []byte("merged"), Lower: []string{"lower"}, Upper: "upper", Work: "work", Label: "main"},
			{Do: "watch", Path: []byte("merged/a.txt")},
		}}
	})
	dir := t.TempDir()
	criu := criuStandIn(t, dir)
	s, err := SeedIrmap(context.Background(), c.PID, dir, SeedOptions{CRIUPID: criu, TreeTime: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Found) != 0 || s.Wrote {
		t.Fatalf("with the tree's time spent: found %+v, wrote %v; want nothing", s.Found, s.Wrote)
	}
	if notes := strings.Join(s.Notes, "\n"); !strings.Contains(notes, "the tree's time budget of watch resolution (1ns) ran out before its 1 watch(es)") {
		t.Errorf("notes %q do not say the tree's budget ran out", notes)
	}
	s, err = SeedIrmap(context.Background(), c.PID, dir, SeedOptions{CRIUPID: criu})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Found) != 1 || !s.Wrote {
		t.Errorf("with the default tree budget: found %+v, wrote %v; want the watch seeded", s.Found, s.Wrote)
	}
}
