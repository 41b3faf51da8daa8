package fixup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/proto"
	"github.com/ovlfix/ovlfix/resolve"
)

func run(ctx context.Context, dir string, opts Options) (*Report, error) {
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	logf := func(format string, args ...any) { fmt.Fprintf(logw, "ovlfix fixup: "+format+"\n", args...) }
	pause := opts.pause
	if pause == nil {
		pause = func(string) {}
	}
	if opts.RootPID <= 0 {
		return nil, errors.New("fixup needs the host pid of the dump's root task (CRTOOLS_INIT_PID, --pid): the images are checked against the live, frozen tasks")
	}
	rep := &Report{Version: ReportVersion, ImagesDir: dir, RootPID: opts.RootPID, DryRun: opts.DryRun,
		Changes: []Change{}, Problems: []Problem{}}

	// 1. Every image, before anything else: a bad one stops the run
	// with nothing written.
	d, err := readDump(dir)
	if err != nil {
		return nil, fmt.Errorf("images in %s: %w", dir, err)
	}
	logf("%d task(s), %d files.img entries", len(d.Tasks), len(d.Files.Entries))

	// 2. The dump's pids on this host.
	pm, err := hostPIDs("/proc", opts.RootPID)
	if err != nil {
		return nil, fmt.Errorf("root task: %w", err)
	}
	if pm.Note != "" {
		logf("%s", pm.Note)
	}
	if root := d.Tasks[0].VPID; root != pm.RootVID {
		return nil, fmt.Errorf("host pid %d is pid %d in its pid namespace, but the dump's root task is pid %d (%s): not the root task of this dump",
			opts.RootPID, pm.RootVID, root, proto.PstreeImg)
	}

	// 3. Scan and resolve each task, then decide per entry.
	sess, err := resolve.NewSession(resolve.SessionOptions{TrustFdLinks: opts.Quirks.TrustFdLinks()})
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	c := &checker{d: d, pm: pm, rootPID: opts.RootPID, sess: sess, obs: map[uint32][]*observation{}, logf: logf}
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
	rep.Checked, rep.Changes, rep.Problems, rep.Notes = pl.checked, append(rep.Changes, pl.changes...), append(rep.Problems, pl.problems...), pl.notes
	rep.Leftovers = leftovers(dir)
	d.stamp(rep)
	for _, ch := range pl.changes {
		logf("files.img id %d (pid %d %s): %s", ch.FileID, ch.VPID, ch.Object, quote.String(ch.Reason))
	}
	for _, p := range pl.problems {
		logf("problem: files.img id %d (%s): %s", p.FileID, p.Object, quote.String(p.What))
	}
	if len(rep.Leftovers) > 0 {
		logf("temp files of an interrupted earlier write remain (CRIU ignores them): %s", quotedList(rep.Leftovers))
	}

	// 4. Unrepairable: files.img stays as CRIU wrote it; the report says why.
	if len(pl.unrepairable) > 0 {
		err := fmt.Errorf("%w: %s", ErrUnrepairable, strings.Join(pl.unrepairable, "; "))
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
	logf("files.img is right: nothing changed")
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
