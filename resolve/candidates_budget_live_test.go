package resolve_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/resolve"
)

// foreignFanout is a process holding fds fds on one overlay file, opened
// before it moved to a new mount namespace (their mount ids are in no
// mountinfo of the target), where it then bind-mounts the overlay on
// binds directories and hides the original path under a tmpfs: the same
// path no longer shows the held inode, so every fd tries every overlay
// mount as a candidate (none matches: on 4.2+ the link is no
// layer-relative path, which is what the candidates are for).
func foreignFanout(fds, binds int) func(base string) scenario.Spec {
	return func(base string) scenario.Spec {
		steps := []scenario.Step{
			{Do: "write", Path: b("lower/f"), Content: "f"},
			{Do: "mkdir", Path: b("upper")}, {Do: "mkdir", Path: b("work")},
			{Do: "overlay", Path: b("merged"), Lower: []string{"lower"}, Upper: "upper", Work: "work", Label: "main"},
			{Do: "open", Path: b("merged/f"), Count: fds, Label: "fd"},
			{Do: "unshare-mnt"},
		}
		for i := range binds {
			d := b(fmt.Sprintf("b/%d", i))
			steps = append(steps, scenario.Step{Do: "mkdir", Path: d}, scenario.Step{Do: "bind", Path: d, Src: b("merged")})
		}
		steps = append(steps, scenario.Step{Do: "tmpfs", Path: b("merged")})
		return scenario.Spec{Base: base, Steps: steps}
	}
}

// TestCandidateFanoutIsBudgeted: the candidate search for fds whose mount
// is in no mountinfo of the target costs a stat per overlay mount per fd,
// and a container chooses both numbers (nofile 1,048,576; fs.mount-max
// 100,000 bind mounts of its own overlay): fds × mounts with no bound, in
// every command, the post-dump hook included, while CRIU waits. The
// candidates tried count against the process's budget (the entries of
// WatchBudget); past it the objects are unresolved with a "budget:"
// reason, and the work done is bounded by the budget, not by fds × mounts.
func TestCandidateFanoutIsBudgeted(t *testing.T) {
	const fds, binds, budget = 40, 40, 200
	c := scenariotest.StartT(t, "", foreignFanout(fds, binds))
	var s fdinfo.Scanner
	p, err := s.Scan(c.PID)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := resolve.NewSession(resolve.SessionOptions{TrustFdLinks: true, WatchBudget: resolve.WatchBudget{Entries: budget}})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	start := time.Now()
	r, err := sess.Resolve(context.Background(), c.PID, p.Objects)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	h := held(t, c, "fd")
	tried, budgeted, searched := 0, 0, 0
	for _, res := range r.Results {
		if st := res.Object.Stat; res.Object.Kind != fdinfo.KindFD || st == nil || st.Dev != h.Dev || st.Ino != h.Ino {
			continue
		}
		tried += len(res.Candidates)
		switch {
		case res.Verdict == resolve.Unresolved && strings.HasPrefix(res.Reason, "no overlay mount of the target shows"):
			searched++
		case res.Verdict == resolve.Unresolved && strings.HasPrefix(res.Reason, "budget:"):
			budgeted++
		default:
			t.Errorf("%s: %s (%s), want unresolved (searched or budget)", res.Object.Name(), res.Verdict, res.Reason)
		}
	}
	t.Logf("%d fds x %d bind mounts, budget %d: %d candidates tried, %d fds searched in vain, %d unresolved: budget, in %v",
		fds, binds, budget, tried, searched, budgeted, took)
	if max := budget + binds + 1; tried > max {
		t.Errorf("%d candidates tried for %d fds x %d overlay mounts, want at most the budget (%d) plus one fd's worth", tried, fds, binds, max)
	}
	if budgeted == 0 || searched == 0 {
		t.Errorf("want some fds searched within the budget and the rest unresolved: budget; got %d and %d", searched, budgeted)
	}
}
