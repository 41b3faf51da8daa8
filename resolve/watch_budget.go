package resolve

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Defaults of WatchBudget.
//
// Why these: here (AMD EPYC, Linux 6.18, 2 shared cores) the layer walk
// reads ~2.7 M directory entries/s from a warm cache and the merged walk
// ~2 M/s (a 20,000-file tree in 7.5 and 9.4 ms, BenchmarkWatch), ~1 M/s
// when every directory is merged (whiteouts in the upper layer), so
// 1,000,000 entries are 0.4–1 s of walking: five full walks at
// DefaultWalkLimit, or 24 watches on deleted files in a 20,000-file tree
// (each reads the whole tree twice). The 2 s of wall time bound what the
// entry count does not see: a cold cache, a slow or remote layer
// filesystem, the merged walk that must stat every entry (layers on
// several filesystems without xino, 6× slower). CRIU waits for the
// pre-dump hook; a few seconds per process is what a checkpoint can
// afford, while the per-user inotify limit allows ~190,000 watches, each
// of which may need a walk of the whole tree (1,000 watches on deleted
// files in that tree: 42 s here without a budget, TestWatchBudgetDeletedFiles
// on the code before the budget).
const (
	DefaultWatchBudgetEntries = 1_000_000
	DefaultWatchBudgetTime    = 2 * time.Second
)

// WatchBudget bounds the total work of resolving the watches of one
// process (one Session.Resolve call), over all its watches: directory
// entries read by the walking routes (layers, merged walk) and wall time
// from its first watch on. DefaultWalkLimit still bounds each watch's own
// walks. Once the entries are spent, the remaining watches get only the
// routes that read no directory (hints, handle); once the time is spent,
// none. A watch left unresolved so has a Reason starting with "budget:"
// that names the budget. The overlay mounts tried as candidates for
// objects whose mount is in no mountinfo of the target (resolveCandidates)
// spend entries too, one each. The zero value is the defaults.
type WatchBudget struct {
	// Entries is the directory entries the walks may read in total
	// (0: DefaultWatchBudgetEntries; negative: no total bound).
	Entries int
	// Time is the wall time watch resolution may take (0:
	// DefaultWatchBudgetTime; negative: no bound).
	Time time.Duration
	// Now is the clock (nil: time.Now), a seam for tests.
	Now func() time.Time
}

// WatchSpend is what resolving the watches of one process cost.
type WatchSpend struct {
	// Entries is the directory entries the walks read.
	Entries int
	// Time is the wall time from the first watch to the end (by the
	// budget's clock); 0 when the process had no watch.
	Time time.Duration
	// Exhausted names the budget that ran out ("entries", "time"), or
	// "cancelled" when the context was; "" when none did.
	Exhausted string
}

// checkEvery is how many directory entries the walks read between two
// looks at the clock and the context.
const checkEvery = 1024

// watchMeter spends one process's WatchBudget. A nil meter spends nothing
// and never stops (a Resolver made without a Session). Not safe for
// concurrent use: watches are resolved one after another.
type watchMeter struct {
	ctx        context.Context
	maxEntries int           // < 0: no bound
	maxTime    time.Duration // < 0: no bound
	now        func() time.Time

	started bool
	start   time.Time
	read    int
	// entriesOut is set once the entries are spent: walks stop, the
	// other routes go on.
	entriesOut *budgetError
	// halt is set once the time is spent or ctx is done: nothing more
	// is searched.
	halt error
}

func newWatchMeter(ctx context.Context, b WatchBudget) *watchMeter {
	m := &watchMeter{ctx: ctx, maxEntries: b.Entries, maxTime: b.Time, now: b.Now}
	if m.maxEntries == 0 {
		m.maxEntries = DefaultWatchBudgetEntries
	}
	if m.maxTime == 0 {
		m.maxTime = DefaultWatchBudgetTime
	}
	if m.now == nil {
		m.now = time.Now
	}
	return m
}

// budgetError says which budget ran out. Its text starts with "budget:".
type budgetError struct {
	which  string // "entries" or "time"
	detail string
}

func (e *budgetError) Error() string { return "budget: " + e.which + ": " + e.detail }

// cancelError says the context ended the search.
type cancelError struct{ err error }

func (e cancelError) Error() string { return "cancelled: " + e.err.Error() }
func (e cancelError) Unwrap() error { return e.err }

// begin is called before each watch: it starts the clock on the first
// one and returns the halt error once the time is spent or ctx is done.
func (m *watchMeter) begin() error {
	if m == nil {
		return nil
	}
	if !m.started {
		m.started, m.start = true, m.now()
	}
	return m.check()
}

// check looks at the context and the clock.
func (m *watchMeter) check() error {
	if m.halt != nil {
		return m.halt
	}
	if err := m.ctx.Err(); err != nil {
		m.halt = cancelError{err}
	} else if m.maxTime >= 0 {
		if used := m.now().Sub(m.start); used > m.maxTime {
			m.halt = &budgetError{"time", fmt.Sprintf("watch resolution of this process has used %v of its %v", used.Round(time.Millisecond), m.maxTime)}
		}
	}
	return m.halt
}

// walkStop returns why walks may not read on (time, cancel, entries), or
// nil.
func (m *watchMeter) walkStop() error {
	switch {
	case m == nil:
		return nil
	case m.halt != nil:
		return m.halt
	case m.entriesOut != nil:
		return m.entriesOut
	}
	return nil
}

// entry accounts for one directory entry a walk is about to look at; a
// non-nil error means stop the walk (the entry is not looked at).
func (m *watchMeter) entry() error {
	if m == nil {
		return nil
	}
	if err := m.walkStop(); err != nil {
		return err
	}
	if m.maxEntries >= 0 && m.read >= m.maxEntries {
		m.entriesOut = &budgetError{"entries", fmt.Sprintf("the walks for this process's watches have read its %d directory entries", m.maxEntries)}
		return m.entriesOut
	}
	m.read++
	if m.read%checkEvery == 0 {
		return m.check()
	}
	return nil
}

// candidate accounts for one overlay mount that resolveCandidates is about
// to try: it spends one entry, like a directory entry a walk reads (a stat
// costs more than reading an entry, so the entries bound candidates at
// least as tightly), and it starts the clock as begin does. A non-nil
// error means stop trying.
func (m *watchMeter) candidate() error {
	if m == nil {
		return nil
	}
	if !m.started {
		m.started, m.start = true, m.now()
	}
	return m.entry()
}

// spend reports what was spent (one more look at the clock).
func (m *watchMeter) spend() WatchSpend {
	if m == nil {
		return WatchSpend{}
	}
	s := WatchSpend{Entries: m.read}
	if m.started {
		s.Time = m.now().Sub(m.start)
	}
	var be *budgetError
	switch err := m.walkStop(); {
	case err == nil:
	case errors.As(err, &be):
		s.Exhausted = be.which
	default:
		s.Exhausted = "cancelled"
	}
	return s
}
