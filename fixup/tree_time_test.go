package fixup

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/internal/fixuptest"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
)

// TestTreeTimeBoundsTheTree: each task may spend its own resolve budget
// (2 s of candidate searches), and a container chooses how many tasks it
// has, so the post-dump hook's wait while the tree is frozen needs a bound
// on the whole tree (Options.TreeTime). Here the clock jumps past it
// while the first task is checked (after both were observed: Observe, then
// Finish): the second one is not checked, each of its objects is a
// "budget:" problem, and nothing of it is changed.
func TestTreeTimeBoundsTheTree(t *testing.T) {
	c := scenariotest.StartT(t, "", fixuptest.NestedSpec)
	f := fixuptest.Build(t, c)
	start := time.Unix(1_000_000, 0)
	calls := 0
	// The run's start, the budget at each task's observation and at the
	// first one's check, then 10 s later.
	now := func() time.Time {
		calls++
		if calls <= 4 {
			return start
		}
		return start.Add(10 * time.Second)
	}
	var log bytes.Buffer
	rep, err := Run(context.Background(), f.Dir, Options{RootPID: f.RootPID, Log: &log, DryRun: true, TreeTime: 5 * time.Second, now: now})
	if err != nil {
		t.Fatalf("Run: %v\nlog:\n%s", err, log.String())
	}
	budgeted := map[string]bool{}
	for _, p := range rep.Problems {
		if strings.Contains(p.What, "budget: the tree's time for checking (5s) ran out") {
			budgeted[p.Object] = true
		}
	}
	if len(budgeted) == 0 {
		t.Fatalf("no object left out by the tree's time budget; problems %+v\nlog:\n%s", rep.Problems, log.String())
	}
	first := "pid " + strconv.Itoa(f.RootPID) + " "
	for o := range budgeted {
		if strings.HasPrefix(o, first) {
			t.Errorf("%s of the first task left out: it was checked within the tree's time", o)
		}
	}
	if len(rep.Changes) == 0 {
		t.Errorf("the first task, checked in time, got no change planned (the nested case has CRIU's wrong mnt_ids)")
	}
	for _, ch := range rep.Changes {
		if budgeted[ch.Object] {
			t.Errorf("%s changed although its task was not checked: %+v", ch.Object, ch)
		}
	}
	t.Logf("left out by the tree budget: %v; %d change(s) planned for the task checked in time", budgeted, len(rep.Changes))
}
