package main

import (
	"errors"
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
	envWatchTreeTime      = "OVLFIX_WATCH_BUDGET_TREE_TIME"
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

// watchBudgetFromEnv reads the hook's budgets from the environment: the
// per-process one and the time of the whole tree (hook.Options.TreeTime).
// Unset variables keep the defaults. A malformed value is an error naming
// it (the other values read are still returned).
func watchBudgetFromEnv(lookup func(string) (string, bool)) (b resolve.WatchBudget, treeTime time.Duration, err error) {
	var errs []error
	if v, ok := lookup(envWatchBudgetEntries); ok && v != "" {
		if n, perr := strconv.Atoi(v); perr != nil {
			errs = append(errs, fmt.Errorf("%s=%q is not a whole number", envWatchBudgetEntries, v))
		} else {
			b.Entries = n
		}
	}
	for _, d := range []struct {
		name string
		to   *time.Duration
	}{{envWatchBudgetTime, &b.Time}, {envWatchTreeTime, &treeTime}} {
		if v, ok := lookup(d.name); ok && v != "" {
			if t, perr := time.ParseDuration(v); perr != nil {
				errs = append(errs, fmt.Errorf("%s=%q is not a duration (e.g. 500ms, 2s)", d.name, v))
			} else {
				*d.to = t
			}
		}
	}
	return b, treeTime, errors.Join(errs...)
}
