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
// It is Observe then Finish at once: the whole check while the tasks are
// frozen.
func Run(ctx context.Context, dir string, opts Options) (*Report, error) {
	o, err := Observe(ctx, dir, opts)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	return o.Finish(ctx, false)
}

// Observed is a dump's images and what checking them needs of its live
// tasks, taken while they are frozen (Observe): the first of fixup's two
// steps. The second, Finish, resolves, proves, decides and writes; it
// reads nothing of the tasks, so it may run after CRIU has resumed or
// ended them (the CRIU proxy does, to keep its work out of the freeze;
// docs/fixup.md § Two steps). Close must be called.
type Observed struct {
	dir   string
	opts  Options
	d     *dumpImages
	c     *checker
	tasks []*taskState
	logf  logFunc
}

// Observe reads every image, before anything else (a bad one stops the
// run with nothing written), finds the dump's tasks on this host and
// scans and captures each (resolve.Capture: mount table, root, a pin on
// its mount namespace).
func Observe(ctx context.Context, dir string, opts Options) (*Observed, error) {
	if opts.RootPID <= 0 {
		return nil, errors.New("fixup needs the host pid of the dump's root task (CRTOOLS_INIT_PID, --pid): the images are checked against the live, frozen tasks")
	}
	logf := progressLog(opts.Log)
	d, pm, err := readDumpOnHost(dir, opts.RootPID, logf)
	if err != nil {
		return nil, err
	}
	sess, err := resolve.NewSession(resolve.SessionOptions{TrustFdLinks: opts.Quirks.TrustFdLinks(), Provenance: true})
	if err != nil {
		return nil, err
	}
	c := &checker{d: d, pm: pm, rootPID: opts.RootPID, sess: sess, obs: map[uint32][]*observation{}, logf: logf,
		treeTime: opts.TreeTime, now: opts.now}
	if c.now == nil {
		c.now = time.Now
	}
	c.start = c.now()
	o := &Observed{dir: dir, opts: opts, d: d, c: c, logf: logf}
	for _, t := range d.Tasks {
		if len(t.Missing) > 0 {
			logf("pid %d: no %s (nothing to check there)", t.VPID, strings.Join(t.Missing, ", "))
		}
		ts, err := c.observeTask(ctx, t)
		if err != nil {
			o.Close()
			return nil, err
		}
		o.tasks = append(o.tasks, ts)
	}
	return o, nil
}

// FrozenOnly says why the check must finish before the tasks are let go,
// "" when Finish may run after the freeze: an entry names a mount in no
// mountinfo of its task (and in no mountpoints image of the dump), the
// one fatal proof the captured state gives, so the dump may have to fail
// while CRIU can still resume the tasks.
func (o *Observed) FrozenOnly() string {
	for _, ts := range o.tasks {
		if why := o.c.frozenOnly(ts); why != "" {
			return why
		}
	}
	return ""
}

// Finish resolves and proves every entry from the observation, decides
// and writes the repair or the report (as Run does). late says the tasks
// were let go since Observe: a proof by a name inside the root (which a
// resumed task may have renamed) is then a problem, never a failure of
// the dump. Call it once.
func (o *Observed) Finish(ctx context.Context, late bool) (*Report, error) {
	o.c.late = late
	for _, ts := range o.tasks {
		if err := o.c.checkTask(ctx, ts); err != nil {
			return nil, err
		}
	}
	pl, err := decide(o.d, o.c.obs)
	if err != nil {
		return nil, err
	}
	pl.manifest = buildManifest(o.d, o.c.obs)
	rep := newReport(o.dir, o.opts, o.d, pl)
	logPlan(o.logf, pl, rep.Leftovers)
	// A check stopped while it wrote nothing yet writes nothing.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return writeOutcome(o.dir, o.d, rep, pl.unrepairable, o.opts, o.logf)
}

// Close releases the captures (their namespace pins) and the session.
func (o *Observed) Close() {
	for _, ts := range o.tasks {
		if ts.capture != nil {
			ts.capture.Close()
			ts.capture = nil
		}
	}
	o.c.sess.Close()
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

// newReport is the report of the plan, stamped with the files.img hashes;
// it lists the temp files an interrupted earlier write left in dir.
func newReport(dir string, opts Options, d *dumpImages, pl *plan) *Report {
	name := dir
	if opts.ImagesDirName != "" {
		name = opts.ImagesDirName
	}
	rep := &Report{Version: ReportVersion, ImagesDir: name, RootPID: opts.RootPID, DryRun: opts.DryRun,
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
