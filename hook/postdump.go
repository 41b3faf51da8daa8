package hook

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ovlfix/ovlfix/fixup"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/manifest"
	"github.com/ovlfix/ovlfix/proto"
	"github.com/ovlfix/ovlfix/quirks"
	"golang.org/x/sys/unix"
)

// fixupFunc is the signature of fixup.Run.
type fixupFunc func(ctx context.Context, dir string, opts fixup.Options) (*fixup.Report, error)

// postDump repairs the dump in imageDir (CRTOOLS_IMAGE_DIR) with run
// (fixup.Run when nil), compared with the still frozen tree of rootPID, and
// logs the report and its diff. The error wraps fixup.ErrUnrepairable when
// the dump is wrong and cannot be repaired; any other error means ovlfix
// could not check the dump (Run logs it and lets the dump stand).
//
// treeTime bounds the check of the whole tree (fixup.Options.TreeTime; 0:
// DefaultTreeTime, negative: no bound), as it bounds pre-dump's watches:
// the tasks are frozen while CRIU waits, and a container chooses how many
// it has.
//
// deferWrite, when set, receives the manifest's write instead (see
// Options.DeferManifest): the manifest is computed during the freeze, its
// encoding, digest and fsynced writes happen when deferWrite's caller says.
func postDump(ctx context.Context, run fixupFunc, imageDir string, rootPID int, q *quirks.Set, treeTime time.Duration, deferWrite func(LateCheck), deferCheck func(LateCheck), log *Logger) (*fixup.Report, error) {
	if treeTime == 0 {
		treeTime = DefaultTreeTime
	}
	fopts := fixup.Options{RootPID: rootPID, Quirks: q, Log: log, TreeTime: max(treeTime, 0)}
	var rep *fixup.Report
	var err error
	done := false
	if deferCheck != nil && run == nil {
		rep, err, done = postDumpLate(ctx, imageDir, fopts, deferCheck, log)
	}
	if !done {
		if run == nil {
			run = fixup.Run
		}
		rep, err = run(ctx, imageDir, fopts)
	}
	log.Flush()
	written := false
	if rep != nil {
		logReport(rep, log)
		if deferWrite != nil && rep.Manifest != nil && !rep.DryRun {
			if write, derr := deferredManifest(imageDir, rep, log); derr == nil {
				deferWrite(write)
				return rep, err
			} else {
				log.Printf("post-dump: the images directory not held for a later write of %s (written now): %s", manifest.FileName, quote.Error(derr))
			}
		}
		written = writeManifest(imageDir, rep, log)
		log.Flush()
	}
	if !written {
		dropStaleManifest(imageDir, rep != nil && rep.DryRun, log)
		log.Flush()
	}
	return rep, err
}

// dropStaleManifest handles an ovlfix-manifest.json this post-dump did not
// write: CRIU reuses images directories, and one left by an earlier dump
// (its ids and names may match a re-dumped container's) would be read by
// inspect and verify as this dump's provenance. It is unlinked (unlinkat:
// a symlink itself, never its target; a directory of that name is left);
// a dry run writes nothing and warns instead.
func dropStaleManifest(imageDir string, dryRun bool, log *Logger) {
	p := filepath.Join(imageDir, manifest.FileName)
	if _, err := os.Lstat(p); err != nil {
		return
	}
	if dryRun {
		log.Printf("post-dump: %s in the images directory is not this dump's (dry run: left; inspect and verify would read it)", manifest.FileName)
		return
	}
	if err := unix.Unlinkat(unix.AT_FDCWD, p, 0); err != nil {
		log.Printf("post-dump: %s of an earlier dump not removed (the dump is not affected; inspect and verify would read it): %s", manifest.FileName, quote.Error(err))
		return
	}
	log.Printf("post-dump: %s of an earlier dump removed: this dump has no manifest", manifest.FileName)
}

// deferredManifest returns writeManifest for later: it holds the images
// directory open (CRIU's fd on it, imageDir, may be closed by then), and
// an earlier dump's manifest is removed now, so a dump whose write never
// comes (CRIU failed it after post-dump) has none. The write logs through
// log, as writeManifest does, with the held fd shown as ImageDirLabel.
func deferredManifest(imageDir string, rep *fixup.Report, log *Logger) (LateCheck, error) {
	d, err := os.OpenFile(imageDir, os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Unlinkat(int(d.Fd()), manifest.FileName, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		log.Printf("post-dump: %s of an earlier dump not removed: %s", manifest.FileName, quote.Error(err))
	}
	return func(ctx context.Context, run bool) {
		defer d.Close()
		if !run || ctx.Err() != nil {
			return
		}
		dir := "/proc/self/fd/" + strconv.Itoa(int(d.Fd()))
		log.hideDir(dir, ImageDirLabel)
		writeManifest(dir, rep, log)
		log.Flush()
	}, nil
}

// writeManifest writes the provenance manifest fixup made
// (fixup.Report.Manifest) into the images directory, so that it travels
// with the dump (checkpoint archives copy the whole directory). It
// replaces an earlier one atomically, so a second post-dump run rewrites
// the same file. A failure is logged and never fails the dump: the
// manifest describes the dump, CRIU's restore does not read it. It
// reports whether the manifest was written.
func writeManifest(imageDir string, rep *fixup.Report, log *Logger) bool {
	if rep.Manifest == nil || rep.DryRun {
		return false
	}
	// The digest of files.img as the repair left it: a reader refuses the
	// manifest next to another files.img. Unreadable: written without.
	if b, _, err := proto.ReadFileCapped(filepath.Join(imageDir, proto.FilesImg), proto.MaxImageFileSize); err == nil {
		rep.Manifest.FilesImgSHA256 = manifest.Digest(b)
	} else {
		log.Printf("post-dump: files.img not read for the manifest's digest (written without): %s", quote.Error(err))
	}
	if err := manifest.Write(imageDir, rep.Manifest); err != nil {
		log.Printf("post-dump: %s not written (the dump is not affected): %s", manifest.FileName, quote.Error(err))
		return false
	}
	log.Printf("post-dump: provenance of %d REG entries written to %s", len(rep.Manifest.Files), manifest.FileName)
	return true
}

// logReport logs the summary line and the diff of a check.
func logReport(rep *fixup.Report, log *Logger) {
	summarize(rep, log)
	shown := *rep // the diff names the backup by its file name only
	if shown.Backup != "" {
		shown.Backup = filepath.Base(shown.Backup)
	}
	if werr := shown.WriteDiff(log); werr != nil {
		log.Printf("writing the diff: %v", werr)
	}
}

// summarize logs one line about the run; "files.img is right" only when
// nothing was changed and no problem was found. The images directory is a
// /proc/<criu-pid>/fd/N link, so only file names inside it are shown.
func summarize(rep *fixup.Report, log *Logger) {
	switch {
	case len(rep.Changes) > 0 && rep.Backup != "":
		log.Printf("post-dump: %d REG entries checked, %d repaired in files.img (original kept as %s, report %s)",
			rep.Checked, len(rep.Changes), filepath.Base(rep.Backup), fixup.ReportFile)
	case len(rep.Changes) > 0:
		log.Printf("post-dump: %d REG entries checked, %d to repair", rep.Checked, len(rep.Changes))
	case len(rep.Problems) > 0:
		// Not "right": some entries could not be checked, or are wrong
		// and could not be repaired (then the dump fails).
		log.Printf("post-dump: %d REG entries checked, none changed, %d problem(s) (below)", rep.Checked, len(rep.Problems))
	default:
		log.Printf("post-dump: %d REG entries checked, files.img is right", rep.Checked)
	}
}

// unrepairable reports whether err must fail the dump.
func unrepairable(err error) bool { return errors.Is(err, fixup.ErrUnrepairable) }

// loadQuirks loads the probed kernel behaviour; on error it logs once and
// returns nil, which makes fixup confirm every object by stat. The default
// reads the per-boot cache only (quirks.LoadCached): post-dump runs while
// the tasks are frozen, so it never probes (no mounts, no child process, no
// temporary directory) and never writes the cache.
func loadQuirks(ctx context.Context, load func(context.Context) (*quirks.Set, error), log *Logger) *quirks.Set {
	if load == nil {
		load = func(context.Context) (*quirks.Set, error) { return quirks.LoadCached(quirks.DefaultCacheDir) }
	}
	q, err := load(ctx)
	if err != nil {
		log.Printf("post-dump: kernel behaviour not known (%s), and the hook does not probe during the freeze: every object is confirmed by stat (`ovlfix check` caches the probe for this boot)", quote.Error(err))
		return nil
	}
	return q
}
