package hook

import (
	"context"
	"fmt"
	"io"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/quirks"
)

// Options tune Run.
type Options struct {
	// Log receives the hook's lines (CRIU's log: the script's stderr).
	// Each line is prefixed with LogPrefix.
	Log io.Writer
	// WorkDir is CRIU's work dir, where pre-dump writes irmap-cache; ""
	// means "." (a script inherits CRIU's cwd, which is its work dir).
	WorkDir string
	// Scanner reads /proc; its zero value reads /proc.
	Scanner fdinfo.Scanner
	// LoadQuirks loads the kernel's probed behaviour for post-dump; nil
	// means quirks.Load with the default per-boot cache.
	LoadQuirks func(context.Context) (*quirks.Set, error)

	// fixupRun is fixup.Run (nil); tests of the exit policy replace it.
	fixupRun fixupFunc
}

// Run does what the action in env asks. It returns an error only when the
// dump must fail: post-dump found the dump wrong and unrepairable (the
// error wraps fixup.ErrUnrepairable). Everything else (an action the hook
// does not act on, nothing to do, ovlfix unable to help) is logged and
// returns nil, so ovlfix never fails a dump CRIU would have got right.
func Run(ctx context.Context, env Env, opts Options) error {
	log := NewLogger(opts.Log)
	defer log.Flush()
	switch env.Action {
	case ActionPreDump:
		dir := opts.WorkDir
		if dir == "" {
			dir = "."
		}
		s, err := SeedIrmap(ctx, env.InitPID, dir, SeedOptions{Scanner: opts.Scanner, CRIUPID: env.CRIUPID})
		logSeed(s, log)
		if err != nil {
			log.Printf("pre-dump: cannot help, irmap-cache not written: %v", err)
		}
		return nil
	case ActionPostDump:
		q := loadQuirks(ctx, opts.LoadQuirks, log)
		_, err := postDump(ctx, opts.fixupRun, env.ImageDir, env.InitPID, q, log)
		switch {
		case err == nil:
			return nil
		case unrepairable(err):
			log.Printf("post-dump: FAILING THE DUMP: %v", err)
			return fmt.Errorf("post-dump: %w", err)
		default:
			log.Printf("post-dump: cannot help, the dump is left as CRIU wrote it: %v", err)
			return nil
		}
	}
	return nil
}

func logSeed(s *Seed, log *Logger) {
	if s == nil {
		return
	}
	for _, n := range s.Notes {
		log.Printf("pre-dump: %s", n)
	}
	for _, k := range s.Skipped {
		log.Printf("pre-dump: pid %d %s (sdev %#x ino %#x): no entry: %s", k.PID, k.Name, k.Sdev, k.Ino, k.Reason)
	}
	for _, o := range s.Outcomes {
		switch o.What {
		case KeptExisting:
			log.Printf("pre-dump: irmap %s: kept the existing entry %q (still valid)", o.Entry, o.Existing.Path)
		case Replaced:
			log.Printf("pre-dump: irmap %s: replaced the stale entry %q", o.Entry, o.Existing.Path)
		default:
			log.Printf("pre-dump: irmap %s: added", o.Entry)
		}
	}
	switch {
	case s.Wrote:
		log.Printf("pre-dump: wrote irmap-cache in CRIU's work dir (%d overlay watch(es))", len(s.Found))
	case len(s.Found) == 0 && len(s.Skipped) == 0:
		log.Printf("pre-dump: no inotify/fanotify watch on an overlay: nothing to do")
	case len(s.Outcomes) > 0:
		log.Printf("pre-dump: irmap-cache already holds valid entries for every overlay watch: not rewritten")
	}
}
