package hook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/fixup"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/proto"
	"github.com/ovlfix/ovlfix/quirks"
	"github.com/ovlfix/ovlfix/resolve"
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
	// WatchBudget bounds pre-dump's watch resolution per process (zero:
	// resolve's defaults); watches past it get no irmap-cache entry.
	WatchBudget resolve.WatchBudget
	// TreeTime bounds pre-dump's watch resolution of the whole tree
	// (SeedOptions.TreeTime) and post-dump's check of it
	// (fixup.Options.TreeTime); 0: DefaultTreeTime, negative: no bound.
	TreeTime time.Duration
	// LoadQuirks loads the kernel's probed behaviour for post-dump; nil
	// means quirks.LoadCached(quirks.DefaultCacheDir): the per-boot cache
	// `ovlfix check` writes, read only. The hook never probes: post-dump
	// runs while the tasks are frozen, and the probe mounts, starts a
	// child and writes files outside CRIU's directories.
	LoadQuirks func(context.Context) (*quirks.Set, error)

	// DeferManifest, when set, takes post-dump's write of the provenance
	// manifest (ovlfix-manifest.json) out of the freeze: post-dump
	// computes the manifest from the frozen tasks, then passes its write
	// (digest of files.img, encoding, fsynced atomic write; it logs its
	// own failure) to DeferManifest instead of running it, and the caller
	// runs it (run true) once CRIU has finished the dump, or with run false
	// if the dump failed: then it only closes the directory it holds.
	// An earlier dump's manifest is removed before. The CRIU proxy uses it;
	// nil (an action script, which must have finished when it exits):
	// written during the freeze.
	DeferManifest func(write LateCheck)

	// DeferCheck, when set, takes post-dump's check itself out of the
	// freeze: post-dump observes the frozen tasks (fixup.Observe: the
	// images, the scan and a capture of each task, which pins its mount
	// namespace) and hands the rest (resolution, proofs, the repair of
	// files.img, the report, the manifest) to DeferCheck as a LateCheck,
	// which the caller runs once CRIU has finished the dump and before
	// anyone reads the images. Not when an entry names a mount in no
	// mountinfo (fixup.Observed.FrozenOnly): such a dump may be
	// unrepairable, which must fail it while CRIU can still resume the
	// tasks; that check finishes during the freeze (and DeferManifest
	// applies). The CRIU proxy uses it (docs/hook.md § After the freeze).
	DeferCheck func(LateCheck)

	// fixupRun is fixup.Run (nil); tests of the exit policy replace it.
	fixupRun fixupFunc
}

// Run does what the action in env asks. It returns an error only when the
// dump must fail: post-dump found the dump wrong and unrepairable (the
// error wraps fixup.ErrUnrepairable). Everything else (an action the hook
// does not act on, nothing to do, ovlfix unable to help, ctx cancelled by
// SIGINT/SIGTERM) is logged and returns nil, so ovlfix never fails a dump
// CRIU would have got right. Every untrusted string in the log is quoted
// (internal/quote) and the images directory, a /proc/<criu-pid>/fd/N link,
// is never shown as a directory name. A streamed dump (criu --stream,
// stream.go) has no images to check, and a dump an earlier post-dump of
// the same CRIU process handled needs no second check (rerun.go): both
// are logged and return nil.
func Run(ctx context.Context, env Env, opts Options) error {
	log := NewLogger(opts.Log)
	if env.CRIUPID > 0 {
		log.hideDir(env.ImageDir, ImageDirLabel)
	}
	defer log.Flush()
	switch env.Action {
	case ActionPreDump:
		dir := opts.WorkDir
		if dir == "" {
			dir = "."
		}
		notePreDumpStream(env, log)
		s, err := SeedIrmap(ctx, env.InitPID, dir, SeedOptions{Scanner: opts.Scanner, CRIUPID: env.CRIUPID, WatchBudget: opts.WatchBudget, TreeTime: opts.TreeTime})
		logSeed(s, err, log)
		switch {
		case err == nil:
		case stopped(ctx, err):
			log.Printf("pre-dump: %v: irmap-cache not written; the dump goes on without it", context.Cause(ctx))
		default:
			log.Printf("pre-dump: cannot help, irmap-cache not written: %s", quote.Error(err))
		}
		return nil
	case ActionPostDump:
		logImageDir(env, log)
		if streamedPostDump(env, log) || repeatedPostDump(env, log) {
			return nil
		}
		q := loadQuirks(ctx, opts.LoadQuirks, log)
		rep, err := postDump(ctx, opts.fixupRun, env.ImageDir, env.InitPID, q, opts.TreeTime, opts.DeferManifest, opts.DeferCheck, log)
		switch {
		case err == nil:
			return nil
		case unrepairable(err):
			log.Printf("post-dump: FAILING THE DUMP: %s", quote.Error(err))
			return fmt.Errorf("post-dump: %w", err)
		case stopped(ctx, err):
			log.Printf("post-dump: %v: %s; the dump goes on with it", context.Cause(ctx), filesImgState(rep))
			return nil
		default:
			log.Printf("post-dump: cannot help, %s: %s", filesImgState(rep), quote.Error(err))
			return nil
		}
	}
	return nil
}

// LeftIfStopped says what the hook leaves behind if it is stopped at any
// instant of action (SIGINT/SIGTERM and a system call that does not
// return, so the process exits without Run returning). Every file the hook
// writes is replaced by one rename of a complete, fsynced temporary file
// (proto.WriteFileAtomic), so each is the old or the complete new one; a
// temporary file ".<name>.tmp-*" may remain, a name CRIU never reads.
func LeftIfStopped(action string) string {
	switch action {
	case ActionPreDump:
		return "pre-dump: irmap-cache in CRIU's work dir is the one that was there (or none) or the complete merged one, never a partial file; the dump goes on"
	case ActionPostDump:
		return fmt.Sprintf("post-dump: %s is CRIU's own or ovlfix's complete repair (CRIU's original then kept as %s), never a partial file; the dump goes on with it",
			proto.FilesImg, fixup.BackupFile)
	}
	return "nothing was done; the dump goes on"
}

// stopped reports whether err is ctx's cancellation (SIGINT/SIGTERM).
func stopped(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

// filesImgState says what files.img is after a post-dump that did not
// finish: the repair's backup exists only once files.img was replaced.
func filesImgState(rep *fixup.Report) string {
	if rep != nil && !rep.DryRun && rep.Backup != "" {
		return fmt.Sprintf("%s is ovlfix's complete repair (CRIU's original kept as %s)", proto.FilesImg, fixup.BackupFile)
	}
	return "the dump is left as CRIU wrote it"
}

// logImageDir says once which directory CRTOOLS_IMAGE_DIR is: the link's
// target as CRIU's process sees it, quoted, and labelled as such. Later
// lines name the link ImageDirLabel.
func logImageDir(env Env, log *Logger) {
	if env.CRIUPID <= 0 {
		log.Printf("post-dump: images dir %s", quote.String(env.ImageDir))
		return
	}
	fd := env.ImageDir[len("/proc/"+strconv.Itoa(env.CRIUPID)+"/fd/"):]
	target, err := os.Readlink(env.ImageDir)
	if err != nil {
		log.Printf("post-dump: %s is fd %s of CRIU (pid %d), whose target cannot be read: %s", ImageDirLabel, fd, env.CRIUPID, quote.Error(err))
		return
	}
	log.Printf("post-dump: %s is fd %s of CRIU (pid %d), open on the directory CRIU calls %s", ImageDirLabel, fd, env.CRIUPID, quote.String(target))
}

func logSeed(s *Seed, err error, log *Logger) {
	if s == nil {
		return
	}
	for _, n := range s.Notes {
		log.Printf("pre-dump: %s", quote.String(n))
	}
	for _, k := range s.Skipped {
		log.Printf("pre-dump: pid %d %s (sdev %#x ino %#x): no entry: %s", k.PID, k.Name, k.Sdev, k.Ino, quote.String(k.Reason))
	}
	for _, o := range s.Outcomes {
		switch o.What {
		case KeptExisting:
			log.Printf("pre-dump: irmap %s: kept the existing entry %s (still valid)", o.Entry, quote.String(o.Existing.Path))
		case Replaced:
			log.Printf("pre-dump: irmap %s: replaced the stale entry %s", o.Entry, quote.String(o.Existing.Path))
		default:
			log.Printf("pre-dump: irmap %s: added", o.Entry)
		}
	}
	switch {
	case err != nil:
		// The caller says why; "nothing to do" would be a lie.
	case s.Wrote:
		log.Printf("pre-dump: wrote irmap-cache in CRIU's work dir (%d overlay watch(es))", len(s.Found))
	case len(s.Found) == 0 && len(s.Skipped) == 0:
		log.Printf("pre-dump: no inotify/fanotify watch on an overlay: nothing to do")
	case len(s.Outcomes) > 0:
		log.Printf("pre-dump: irmap-cache already holds valid entries for every overlay watch: not rewritten")
	default:
		log.Printf("pre-dump: no overlay watch CRIU could use an entry for: irmap-cache not written")
	}
}
