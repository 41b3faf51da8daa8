package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/ovlfix/ovlfix/resolve"
	"github.com/spf13/cobra"
)

// Environment variables that set the hook's watch budget: CRIU starts an
// action script with no arguments but with its own environment, so this
// is the only way to tune the hook.
const (
	envWatchBudgetEntries = "OVLFIX_WATCH_BUDGET_ENTRIES"
	envWatchBudgetTime    = "OVLFIX_WATCH_BUDGET_TIME"
)

// addWatchBudgetFlags adds --watch-budget-entries and --watch-budget-time,
// the total budget for resolving the inotify/fanotify watches of one
// process (resolve.WatchBudget): a container controls how many watches it
// holds and how large the trees under them are, so their cost is bounded;
// watches past the budget are unresolved with a "budget:" reason.
func addWatchBudgetFlags(cmd *cobra.Command, b *resolve.WatchBudget) {
	cmd.Flags().IntVar(&b.Entries, "watch-budget-entries", 0,
		fmt.Sprintf("directory entries the watch search may read per process (0: %d; -1: no bound)", resolve.DefaultWatchBudgetEntries))
	cmd.Flags().DurationVar(&b.Time, "watch-budget-time", 0,
		fmt.Sprintf("time the watch search may take per process (0: %v; -1ns: no bound)", resolve.DefaultWatchBudgetTime))
}

// watchBudgetFromEnv reads the hook's budget from the environment; unset
// variables keep the defaults. A malformed value is an error naming it.
func watchBudgetFromEnv(lookup func(string) (string, bool)) (resolve.WatchBudget, error) {
	var b resolve.WatchBudget
	if v, ok := lookup(envWatchBudgetEntries); ok && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return b, fmt.Errorf("%s=%q is not a whole number", envWatchBudgetEntries, v)
		}
		b.Entries = n
	}
	if v, ok := lookup(envWatchBudgetTime); ok && v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return b, fmt.Errorf("%s=%q is not a duration (e.g. 500ms, 2s)", envWatchBudgetTime, v)
		}
		b.Time = d
	}
	return b, nil
}
