package fixup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/mountns"
	"github.com/ovlfix/ovlfix/resolve"
)

// observation is what one live object says about one files.img entry.
type observation struct {
	task *task
	host int // host pid, 0 when the task was not found
	ref  ref
	// why is set when the object could not be checked at all (task or
	// object not found, scan failed); res is then empty.
	why string
	res resolve.Result
	// stat is the live object's stat (nil when unknown), for the size
	// and mode comparison.
	stat *fdinfo.Stat
	// proof is what fixup's own checks say about CRIU's entry and the
	// resolver's value (proveEntry, proof.go).
	proof proof
	// place is where the file lives in its overlay (the resolution's
	// resolve.Place), table the task's mount table: for the manifest.
	place resolve.Place
	table *mountns.Table
}

func (o *observation) label() string {
	return fmt.Sprintf("pid %d %s", o.task.VPID, o.ref.label())
}

// checker scans the live tasks and collects observations per file id.
type checker struct {
	d       *dumpImages
	pm      *pidMap
	rootPID int
	scanner fdinfo.Scanner
	// sess resolves each task as dump.Run does (one per run).
	sess *resolve.Session
	obs  map[uint32][]*observation
	logf logFunc
	// treeTime is Options.TreeTime (0: no tree bound), start when the
	// run began by now.
	treeTime time.Duration
	start    time.Time
	now      func() time.Time
	// late is set when the check runs after the freeze (Observed.Finish
	// with Late): the tasks may have been resumed and changed their files,
	// so a proof by a name inside the root never fails the dump.
	late bool
}

// budget is the resolve budget of the next task: the default, with its
// time cut to what is left of the tree's; ok is false when nothing is.
func (c *checker) budget() (b resolve.WatchBudget, ok bool) {
	if c.treeTime <= 0 {
		return b, true
	}
	left := c.treeTime - c.now().Sub(c.start)
	if left <= 0 {
		return b, false
	}
	if left < resolve.DefaultWatchBudgetTime {
		b.Time = left
	}
	return b, true
}

// taskState is one task of the dump as observed while it was frozen
// (observeTask): either why none of its objects can be checked, or its
// scan (the objects its images can name, subset, indexed by at), the
// kernel's own mount id of each (kernelMnt, index for index) and the
// resolve.Capture its check needs after the freeze.
type taskState struct {
	t         *task
	host      int
	why       string
	subset    []fdinfo.Object
	at        map[liveKey]int
	kernelMnt []int
	capture   *resolve.Capture
}

// observeTask reads what checking task t needs of the live task: the part
// of the check that needs the tasks frozen (docs/fixup.md § Two steps).
// The error is only for a cancelled ctx or a denied scan; every other
// failure is the task's why.
func (c *checker) observeTask(ctx context.Context, t *task) (*taskState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	host, ok := c.pm.ByVPID[t.VPID]
	ts := &taskState{t: t, host: host}
	fail := func(why string) (*taskState, error) {
		ts.why = why
		return ts, nil
	}
	if !ok {
		return fail(fmt.Sprintf("task %d of the dump not found under host pid %d (walked /proc/<pid>/task/*/children, matched NSpid)", t.VPID, c.rootPID))
	}
	if len(t.Refs) == 0 {
		return ts, nil
	}
	if root, chrooted := chrootOf(host); chrooted {
		return fail(fmt.Sprintf("host pid %d is chrooted (its root is %s, not its mount namespace's root): CRIU's names and mount ids are the namespace's, which its root and mountinfo do not show, so nothing can be checked", host, quote.String(root)))
	}
	if _, ok := c.budget(); !ok {
		return fail(fmt.Sprintf("budget: the tree's time for checking (%v) ran out before host pid %d was scanned", c.treeTime, host))
	}
	p, err := c.scanner.Scan(host)
	if err != nil && (p == nil || !errors.Is(err, fdinfo.ErrExited)) {
		if errors.Is(err, fdinfo.ErrPermission) {
			return nil, err
		}
		return fail(fmt.Sprintf("scan of host pid %d: %v", host, err))
	}
	ts.subset, ts.at = indexObjects(p.Objects)
	if ts.capture, err = c.sess.Capture(host, ts.subset); err != nil {
		return fail(err.Error())
	}
	ts.kernelMnt = make([]int, len(ts.subset))
	for i := range ts.subset {
		ts.kernelMnt[i] = kernelMntID(host, &ts.subset[i])
	}
	return ts, nil
}

// frozenOnly says why the check of ts must finish while the tasks are
// frozen, "" when it may run after: some files.img entry of the task names
// a mount id in no mountinfo of the task and in none of the dump's
// mountpoints images. That is the fatal proof (proveWrong) that the
// captured state alone gives: restore cannot find the mount, and if no
// replacement is confirmed the dump must fail while CRIU can still resume
// the tasks.
func (c *checker) frozenOnly(ts *taskState) string {
	if ts.capture == nil {
		return ""
	}
	inDump := c.d.inDump()
	for _, rf := range ts.t.Refs {
		idx, ok := c.d.ByID[rf.FileID]
		if !ok {
			continue
		}
		reg := c.d.Entries[idx].GetReg()
		if reg == nil || reg.MntId == nil || reg.GetMntId() < 0 {
			continue
		}
		id := int(reg.GetMntId())
		if ts.capture.Table.ByID(id) == nil && (inDump == nil || !inDump(id)) {
			return fmt.Sprintf("files.img id %d (pid %d %s) names mount %d, which is in no mountinfo of the task", rf.FileID, ts.t.VPID, rf.label(), id)
		}
	}
	return ""
}

// checkTask resolves ts's objects from its capture and proves each entry
// its images name, adding one observation per ref. It reads nothing of
// the live task, so it runs during the freeze or after it.
func (c *checker) checkTask(ctx context.Context, ts *taskState) error {
	t, host := ts.t, ts.host
	fail := func(why string) {
		for _, r := range t.Refs {
			c.add(&observation{task: t, host: host, ref: r, why: why})
		}
	}
	if ts.why != "" {
		fail(ts.why)
		return nil
	}
	if len(t.Refs) == 0 {
		return nil
	}
	budget, ok := c.budget()
	if !ok {
		fail(fmt.Sprintf("budget: the tree's time for checking (%v) ran out before host pid %d was checked", c.treeTime, host))
		return nil
	}
	resolved, err := c.sess.ResolveCaptured(ctx, ts.capture, ts.subset, budget)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if err != nil {
		fail(err.Error())
		return nil
	}
	results, table := resolved.Results, resolved.Table
	for _, rf := range t.Refs {
		ob := &observation{task: t, host: host, ref: rf}
		if i, ok := ts.at[refKey(rf)]; ok {
			ob.res = results[i]
			ob.stat = statOf(&ts.subset[i])
			ob.table = table
			if i < len(resolved.Places) {
				ob.place = resolved.Places[i]
			}
			if idx, ok := c.d.ByID[rf.FileID]; ok && c.d.Entries[idx].GetReg() != nil {
				ob.proof = proveEntry(c.d.Entries[idx].GetReg(), table, c.d.inDump(), ts.capture.Root(), ts.subset[i].Kind, ts.kernelMnt[i], &ob.res, ob.stat, mountIDOf)
				if c.late && ob.proof.fatal && ob.proof.byName {
					ob.proof.fatal = false
					ob.proof.wrong += " (seen after the freeze: the task's files may have changed since, so this does not fail the dump)"
				}
			}
		} else {
			ob.why = fmt.Sprintf("host pid %d has no %s now", host, rf.label())
		}
		c.add(ob)
	}
	c.logf("pid %d (host %d): %d objects checked", t.VPID, host, len(t.Refs))
	return nil
}

func (c *checker) add(o *observation) {
	c.obs[o.ref.FileID] = append(c.obs[o.ref.FileID], o)
}

// indexObjects picks the objects an image ref can name, in scan order
// (cwd too: it breaks ties between overlays), the first of each key, and
// maps each key to its index in subset.
func indexObjects(objs []fdinfo.Object) (subset []fdinfo.Object, at map[liveKey]int) {
	at = map[liveKey]int{}
	for i := range objs {
		o := &objs[i]
		key, ok := objectKey(o)
		if !ok {
			continue
		}
		if _, dup := at[key]; !dup {
			at[key] = len(subset)
			subset = append(subset, *o)
		}
	}
	return subset, at
}

// liveKey identifies one object of a task, comparably, so that a live
// object (objectKey) and an image ref (refKey) meet in one map: the fd
// number for an fd, the VMA start for a mapping, the kind alone for cwd,
// root and exe.
type liveKey struct {
	kind  fdinfo.Kind
	fd    int    // KindFD
	start uint64 // KindMap
}

// objectKey is the key of a live object, false for kinds no image ref
// names (and a mapping without its maps line).
func objectKey(o *fdinfo.Object) (liveKey, bool) {
	switch o.Kind {
	case fdinfo.KindFD:
		return liveKey{kind: o.Kind, fd: o.FD}, true
	case fdinfo.KindCwd, fdinfo.KindRoot, fdinfo.KindExe:
		return liveKey{kind: o.Kind}, true
	case fdinfo.KindMap:
		if o.Map != nil {
			return liveKey{kind: o.Kind, start: o.Map.Start}, true
		}
	}
	return liveKey{}, false
}

// refKey is the key of the object an image ref names.
func refKey(r ref) liveKey {
	switch r.Kind {
	case fdinfo.KindFD:
		return liveKey{kind: r.Kind, fd: r.FD}
	case fdinfo.KindMap:
		return liveKey{kind: r.Kind, start: r.Start}
	}
	return liveKey{kind: r.Kind}
}

// statOf is the live stat of an object: through the magic link, or for a
// mapping through map_files (maps' own dev:ino may be the layer's).
func statOf(o *fdinfo.Object) *fdinfo.Stat {
	if o.Kind == fdinfo.KindMap && o.Map != nil {
		return o.Map.MapFiles
	}
	return o.Stat
}

// chrootOf reports whether host pid's root is not the root of its mount
// namespace (chroot(2) inside it: sshd's privsep child, a chrooted
// daemon), and the root's path from the namespace's root.
//
// CRIU names files from the mount namespace's root and records mounts of
// the whole namespace; the task's /proc/<pid>/root and mountinfo show
// only what lies inside its chroot (mounts outside it are omitted,
// mountpoints are relative to it). Checked from there, every entry of the
// task would look wrong ("does not exist", "in no mountinfo") and the
// dump unrepairable while CRIU restores it fine. The link of
// /proc/<pid>/root, read from any mount namespace, is "/" exactly when the
// task's root is its namespace's root (or ovlfix's own); a link that
// cannot be read is left to the scan, which reports it.
func chrootOf(host int) (string, bool) {
	root, err := os.Readlink("/proc/" + strconv.Itoa(host) + "/root")
	if err != nil {
		return "", false
	}
	return root, root != "/"
}
