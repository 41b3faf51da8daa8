package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/resolve"
)

func TestWatchBudgetFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want resolve.WatchBudget
		tree time.Duration
		err  string
	}{
		{name: "unset: defaults", env: nil, want: resolve.WatchBudget{}},
		{name: "both", env: map[string]string{envWatchBudgetEntries: "5000", envWatchBudgetTime: "250ms"},
			want: resolve.WatchBudget{Entries: 5000, Time: 250 * time.Millisecond}},
		{name: "no bound", env: map[string]string{envWatchBudgetEntries: "-1"}, want: resolve.WatchBudget{Entries: -1}},
		{name: "tree", env: map[string]string{envWatchTreeTime: "7s"}, tree: 7 * time.Second},
		{name: "bad entries", env: map[string]string{envWatchBudgetEntries: "lots"}, err: envWatchBudgetEntries + `="lots" is not a whole number`},
		{name: "bad time", env: map[string]string{envWatchBudgetTime: "2"}, err: envWatchBudgetTime + `="2" is not a duration`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, tree, err := watchBudgetFromEnv(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got.Entries != tc.want.Entries || got.Time != tc.want.Time || tree != tc.tree {
				t.Fatalf("got %+v, tree %v, %v; want %+v, tree %v", got, tree, err, tc.want, tc.tree)
			}
		})
	}
}

func TestDumpWatchBudgetFlags(t *testing.T) {
	cmd := newDumpCmd()
	if err := cmd.ParseFlags([]string{"--watch-budget-entries", "77", "--watch-budget-time", "3s"}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"watch-budget-entries": "77", "watch-budget-time": "3s"} {
		if got := cmd.Flags().Lookup(name).Value.String(); got != want {
			t.Errorf("--%s = %s, want %s", name, got, want)
		}
	}
}
