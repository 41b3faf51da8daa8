package main

import (
	"fmt"
	"path/filepath"

	"github.com/checkpoint-restore/go-criu/v7/crit/images/stats"
	"github.com/ovlfix/ovlfix/proto"
)

// frozenTime is CRIU's frozen_time (µs, from the freeze of the tasks to
// their resume) in dir's stats-dump.
func frozenTime(dir string) (uint32, error) {
	img, err := proto.ReadImageFile(filepath.Join(dir, "stats-dump"))
	if err != nil {
		return 0, err
	}
	if len(img.Entries) != 1 {
		return 0, fmt.Errorf("stats-dump: %d entries, want 1", len(img.Entries))
	}
	var e stats.StatsEntry
	if err := img.Decode(0, &e); err != nil {
		return 0, fmt.Errorf("stats-dump: %w", err)
	}
	if e.GetDump() == nil {
		return 0, fmt.Errorf("stats-dump: no dump entry")
	}
	return e.GetDump().GetFrozenTime(), nil
}
