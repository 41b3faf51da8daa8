package hook

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/proto"
	"github.com/ovlfix/ovlfix/resolve"
)

// criuStandIn starts a process whose cwd is dir, as CRIU's is its work
// dir, for SeedIrmap's work dir check; it is killed when the test ends.
func criuStandIn(t *testing.T, dir string) int {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}

// TestSeedIrmapWatchBudget: when the watch budget runs out, the watches
// it leaves unresolved get no irmap-cache entry (CRIU then does what it
// does without ovlfix), the log says which budget ran out, and nothing is
// written. The same tree with the default budget is seeded: the budget is
// what made the difference.
func TestSeedIrmapWatchBudget(t *testing.T) {
	c := scenariotest.StartT(t, "", func(base string) scenario.Spec {
		return scenario.Spec{Base: base, Steps: []scenario.Step{
			{Do: "write", Path: []byte("lower/a.txt"), Content: "a"},
			{Do: "write", Path: []byte("lower/dir/b.txt"), Content: "b"},
			{Do: "mkdir", Path: []byte("upper")},
			{Do: "mkdir", Path: []byte("work")},
			{Do: "overlay", Path: []byte("merged"), Lower: []string{"lower"}, Upper: "upper", Work: "work", Label: "main"},
			{Do: "watch", Path: []byte("merged/a.txt")},
			{Do: "watch", Path: []byte("merged/dir")},
		}}
	})
	dir := t.TempDir()
	criu := criuStandIn(t, dir)
	cache := filepath.Join(dir, proto.IrmapCache)

	// A clock that moves a second at each reading spends a budget of a
	// millisecond before the first watch is searched.
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { now = now.Add(time.Second); return now }
	s, err := SeedIrmap(context.Background(), c.PID, dir, SeedOptions{CRIUPID: criu, WatchBudget: resolve.WatchBudget{Time: time.Millisecond, Now: clock}})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Found) != 0 || s.Wrote || len(s.Skipped) != 2 {
		t.Fatalf("with the time budget spent: found %+v, skipped %+v, wrote %v; want both watches skipped, nothing written", s.Found, s.Skipped, s.Wrote)
	}
	t.Logf("notes %q", s.Notes)
	for _, k := range s.Skipped {
		t.Logf("%s: %s", k.Name, k.Reason)
		if !strings.Contains(k.Reason, "budget: time: ") {
			t.Errorf("%s skipped for %q, want the time budget", k.Name, k.Reason)
		}
	}
	if !strings.Contains(strings.Join(s.Notes, "\n"), "the time budget of watch resolution ran out") {
		t.Errorf("notes %q do not say the budget ran out", s.Notes)
	}
	if _, err := os.Stat(cache); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s: %v, want none written", cache, err)
	}

	s, err = SeedIrmap(context.Background(), c.PID, dir, SeedOptions{CRIUPID: criu})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Found) != 2 || !s.Wrote {
		t.Errorf("with the default budget: found %+v, skipped %+v, wrote %v; want both watches seeded", s.Found, s.Skipped, s.Wrote)
	}
}
