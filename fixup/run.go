package fixup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/proto"
	"github.com/ovlfix/ovlfix/resolve"
)

// Run checks the REG entries of files.img in the CRIU images directory
// dir against the live tasks of the dump and repairs reg.name and
// reg.mnt_id where CRIU got them wrong (docs/fixup.md). It returns the
// report also when the error wraps ErrUnrepairable. An error wrapping
// ErrBackupMismatch or proto.ErrBadImageFile comes before any check:
// nothing was written.
//
// The steps: read every image and find the dump's tasks on this host
// (readDumpOnHost), scan, resolve and decide (checkTasks), then write the
// repair or the report (writeOutcome).
func Run(ctx context.Context, dir string, opts Options) (*Report, error) {
	if opts.RootPID <= 0 {
		return nil, errors.New("fixup needs the host pid of the dump's root task (CRTOOLS_INIT_PID, --pid): the images are checked against the live, frozen tasks")
	}
	logf := progressLog(opts.Log)
	d, pm, err := readDumpOnHost(dir, opts.RootPID, logf)
	if err != nil {
		return nil, err
	}
	pl, err := checkTasks(ctx, d, pm, opts, logf)
	if err != nil {
		return nil, err
	}
	rep := newReport(dir, opts, d, pl)
	logPlan(logf, pl, rep.Leftovers)
	return writeOutcome(dir, d, rep, pl.unrepairable, opts, logf)
}

// logFunc writes one progress line.
type logFunc func(format string, args ...any)

// progressLog writes "ovlfix fixup: "-prefixed lines to w (nil: nowhere).
func progressLog(w io.Writer) logFunc {
	if w == nil {
		w = io.Discard
	}
	return func(format string, args ...any) { fmt.Fprintf(w, "ovlfix fixup: "+format+"\n", args...) }
}

// readDumpOnHost reads every image, before anything else (a bad one stops
// the run with nothing written), and maps the dump's pids to this host's,
// checking that rootPID is the dump's root task.
func readDumpOnHost(dir string, rootPID int, logf logFunc) (*dumpImages, *pidMap, error) {
	d, err := readDump(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("images in %s: %w", dir, err)
	}
	logf("%d task(s), %d files.img entries", len(d.Tasks), len(d.Files.Entries))
	pm, err := hostPIDs("/proc", rootPID)
	if err != nil {
		return nil, nil, fmt.Errorf("root task: %w", err)
	}
	if pm.Note != "" {
		logf("%s", pm.Note)
	}
	if root := d.Tasks[0].VPID; root != pm.RootVID {
		return nil, nil, fmt.Errorf("host pid %d is pid %d in its pid namespace, but the dump's root task is pid %d (%s): not the root task of this dump",
			rootPID, pm.RootVID, root, proto.PstreeImg)
	}
	return d, pm, nil
}

// checkTasks scans and resolves each task through one resolve.Session,
// then decides per entry (patching d's files.img in memory).
func checkTasks(ctx context.Context, d *dumpImages, pm *pidMap, opts Options, logf logFunc) (*plan, error) {
	sess, err := resolve.NewSession(resolve.SessionOptions{TrustFdLinks: opts.Quirks.TrustFdLinks(), Provenance: true})
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	c := &checker{d: d, pm: pm, rootPID: opts.RootPID, sess: sess, obs: map[uint32][]*observation{}, logf: logf,
		treeTime: opts.TreeTime, now: opts.now}
	if c.now == nil {
		c.now = time.Now
	}
	c.start = c.now()
	for _, t := range d.Tasks {
		if len(t.Missing) > 0 {
			logf("pid %d: no %s (nothing to check there)", t.VPID, strings.Join(t.Missing, ", "))
		}
		if err := c.scanTask(ctx, t); err != nil {
			return nil, err
		}
	}
	pl, err := decide(d, c.obs)
	if err != nil {
		return nil, err
	}
	pl.manifest = buildManifest(d, c.obs)
	return pl, nil
}

// newReport is the report of the plan, stamped with the files.img hashes;
// it lists the temp files an interrupted earlier write left in dir.
func newReport(dir string, opts Options, d *dumpImages, pl *plan) *Report {
	rep := &Report{Version: ReportVersion, ImagesDir: dir, RootPID: opts.RootPID, DryRun: opts.DryRun,
		Checked: pl.checked, Changes: append([]Change{}, pl.changes...), Problems: append([]Problem{}, pl.problems...),
		Notes: pl.notes, Leftovers: leftovers(dir), Manifest: pl.manifest}
	d.stamp(rep)
	return rep
}

// logPlan logs every change, problem and leftover, each untrusted string
// quoted.
func logPlan(logf logFunc, pl *plan, leftovers []string) {
	for _, ch := range pl.changes {
		logf("files.img id %d (pid %d %s): %s", ch.FileID, ch.VPID, ch.Object, quote.String(ch.Reason))
	}
	for _, p := range pl.problems {
		logf("problem: files.img id %d (%s): %s", p.FileID, p.Object, quote.String(p.What))
	}
	if len(leftovers) > 0 {
		logf("temp files of an interrupted earlier write remain (CRIU ignores them): %s", quotedList(leftovers))
	}
}

// writeOutcome writes what the plan calls for: for an unrepairable dump
// the report only (files.img stays as CRIU wrote it; the report says why),
// in a dry run nothing, else the repair (writeRepair) or, when nothing
// changes, the report.
func writeOutcome(dir string, d *dumpImages, rep *Report, unrepairable []string, opts Options, logf logFunc) (*Report, error) {
	pause := opts.pause
	if pause == nil {
		pause = func(string) {}
	}
	if len(unrepairable) > 0 {
		err := fmt.Errorf("%w: %s", ErrUnrepairable, strings.Join(unrepairable, "; "))
		logf("%s", quote.Error(err))
		if !opts.DryRun {
			if werr := writeReport(dir, rep); werr != nil {
				return rep, errors.Join(err, werr)
			}
		}
		return rep, err
	}
	if opts.DryRun {
		logf("dry run: %d change(s) planned, nothing written", len(rep.Changes))
		return rep, nil
	}
	if len(rep.Changes) > 0 {
		if err := writeRepair(dir, d, rep, pause); err != nil {
			return nil, err
		}
		logf("files.img rewritten: %d entr(y/ies) changed; original kept as %s next to it", len(rep.Changes), BackupFile)
		return rep, nil
	}
	if len(rep.Problems) > 0 {
		logf("nothing changed; %d problem(s): not every entry could be checked", len(rep.Problems))
	} else {
		logf("files.img is right: nothing changed")
	}
	pause(ReportFile)
	if err := writeReport(dir, rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// quotedList shows file names from a directory listing, each quoted.
func quotedList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quote.String(n)
	}
	return strings.Join(q, ", ")
}
