package resolve

import (
	"bytes"
	"fmt"
	"os"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/mountns"
	"golang.org/x/sys/unix"
)

// Stater stats and opens paths inside the target's root, never following
// a final symlink and never leaving the root. *mountns.Root is the real one; tests may pass others.
type Stater interface {
	Stat(path string) (unix.Stat_t, error)
	Open(path string, flags int) (*os.File, error)
}

// Resolver resolves the objects of one process against one snapshot of its
// mount namespace. It is safe for concurrent use (Layers caches the layer
// directories it opened behind a lock).
type Resolver struct {
	Table *mountns.Table
	Root  Stater
	// Layers looks inodes up in overlay layer directories (nil: no layer
	// lookups, so no pre-4.2 fd fixes and no pre-6.8 maps fixes without
	// map_files).
	Layers *Layers
	// TrustFdLinks skips the confirming stat of the fast accept: a probe
	// of this kernel showed 4.2+ behaviour (fd links and mnt_ids of overlay
	// files are the overlay's), so mnt_id in mountinfo + link under its
	// mountpoint is enough (docs/design.md §3.1). Set it from quirks.Set.
	TrustFdLinks bool
	// CwdMntID is the mount holding the target's cwd (-1 or 0: unknown),
	// a tie-breaker between overlays sharing a layer. ResolveAll sets it.
	CwdMntID int
	// WalkLimit bounds the directory entries read to find one watched
	// inode (0: DefaultWalkLimit).
	WalkLimit int
	// Identity is the mount identity check of the process's fds, made by
	// CheckMountIdentity once per process (nil: not checked). An fd whose
	// fdinfo mnt_id it finds to name another mount is not accepted there.
	Identity *MountIdentity

	// watchRoutes limits the watch routes tried (zero: all of them), so
	// tests and benchmarks can pin or time one route.
	watchRoutes routeSet
	// statx is statx(2) for CheckMountIdentity (nil: unix.Statx), a seam
	// for tests that count calls or play a kernel without unique ids.
	statx statxFunc
	meter *watchMeter // spends the process's WatchBudget (watch_budget.go); nil: unbounded
	// reach is reaches' memo within one ResolveAll (nil elsewhere).
	reach *reachMemo
}

// trustedNote is the evidence of the fast accept without a stat.
const trustedNote = "mnt_id is in the target's mountinfo, the link lies under its mountpoint and the path reaches that mount; fd links are trusted on this kernel (probed 4.2+ behaviour), so no stat was needed"

// Resolve returns the verdict for one object.
func (r *Resolver) Resolve(o *fdinfo.Object) Result {
	res := Result{Object: o, MntID: -1}
	switch o.Kind {
	case fdinfo.KindMap:
		r.resolveMap(o, &res)
	case fdinfo.KindWatch:
		r.resolveWatch(o, &res, nil)
	default:
		r.resolveLink(o, &res)
	}
	r.settle(&res)
	return res
}

// ResolveAll resolves the objects of one process in order. Watches use the
// paths the process holds as hints (see NewHints).
func (r *Resolver) ResolveAll(objs []fdinfo.Object) []Result {
	out := make([]Result, len(objs))
	done := make([]bool, len(objs))
	rr := *r
	for i := range objs { // the cwd first: it breaks ties between overlays
		if objs[i].Kind == fdinfo.KindCwd {
			out[i], done[i] = r.Resolve(&objs[i]), true
			if out[i].MntID >= 0 && rr.CwdMntID <= 0 {
				rr.CwdMntID = out[i].MntID
			}
		}
	}
	rr.reach = newReachMemo()
	r = &rr
	var hints Hints
	for i := range objs {
		o := &objs[i]
		if done[i] {
			continue
		}
		if o.Kind != fdinfo.KindWatch {
			out[i] = r.Resolve(o)
			continue
		}
		if hints == nil {
			hints = NewHints(objs)
		}
		out[i] = Result{Object: o, MntID: -1}
		r.resolveWatch(o, &out[i], hints)
		r.settle(&out[i])
	}
	return out
}

// settle makes an unresolved result keep only what the kernel reported
// (Result.MntID): a mount found on the way (the mount covering a cwd's
// path, a mapping's, a candidate's) is a guess the confirming stat
// refuted, and the images writer would write it.
func (r *Resolver) settle(res *Result) {
	if res.Verdict != Unresolved {
		return
	}
	res.MntID, res.Mount = -1, nil
	if id := kernelMntID(res.Object); id >= 0 && r.Table.ByID(id) != nil && !r.Identity.refutes(res.Object) {
		res.MntID = id
	}
}

// kernelMntID is the mount id the kernel itself gave for o: fdinfo's
// mnt_id of an fd, the map_files mount id of a mapping; -1 for cwd, root,
// exe, maps-only mappings and watches, which carry none.
func kernelMntID(o *fdinfo.Object) int {
	switch {
	case o.Kind == fdinfo.KindFD && o.Info != nil:
		return o.Info.MntID
	case o.Kind == fdinfo.KindMap && o.Map != nil && o.Map.MapFiles != nil:
		return o.Map.MapFilesMntID
	}
	return -1
}

func (res *Result) note(format string, args ...any) {
	res.Evidence = append(res.Evidence, fmt.Sprintf(format, args...))
}

func (res *Result) unresolved(format string, args ...any) {
	res.Verdict = Unresolved
	res.Reason = fmt.Sprintf(format, args...)
}

// resolveLink handles fds and cwd/root/exe: a link the kernel printed, a
// stat of the open file and (for fds) fdinfo's mnt_id.
//
// Fast accept (docs/design.md §3.1): the mount named by mnt_id is in the
// target's mountinfo, the link lies under its mountpoint, and stat of the
// link inside the target root is the inode the kernel holds. On 4.2+
// kernels that is every overlay fd. With TrustFdLinks the stat is skipped
// when nothing could make it fail: the link has no " (deleted)" suffix
// (nameOf) and the mount the path reaches is the fd's own (a directory
// over-mounted after the open hides the file, as it does for the cwd).
func (r *Resolver) resolveLink(o *fdinfo.Object, res *Result) {
	if o.Err != nil && o.Link == nil {
		res.unresolved("%v", o.Err)
		return
	}
	if len(o.Link) == 0 || o.Link[0] != '/' {
		res.Verdict, res.Reason = Skipped, "not a path: "+quote.Bytes(o.Link)
		return
	}
	if bytes.HasPrefix(o.Link, []byte("/memfd:")) && o.Stat != nil && o.Stat.Nlink == 0 {
		res.Verdict, res.Reason = Skipped, "memfd (CRIU dumps it as a memfd, not a path)"
		return
	}
	res.Path = o.Link
	if o.Stat == nil {
		res.unresolved("no stat of the open file: %v", o.StatErr)
		return
	}
	res.Dev, res.Ino = o.Stat.Dev, o.Stat.Ino
	mnt := r.mountOf(o)
	name := r.nameOf(o.Link, o.Stat, mnt != nil, res)
	if name == nameUnresolved {
		return
	}
	path := res.Path
	if mnt == nil {
		if o.Kind == fdinfo.KindFD {
			r.resolveForeignMount(o, path, o.Stat, mntIDOf(o), res)
		} else {
			res.unresolved("no mount of the target covers %s", quote.Bytes(path))
		}
		unlinkedForeign(name, res)
		return
	}
	res.MntID, res.Mount = mnt.ID, mnt
	if r.TrustFdLinks && o.Info != nil && name == namePlain && under(path, mnt.Mountpoint) && r.reaches(path, mnt) {
		// The common case on 4.2+ kernels, kept free of formatting: the
		// report names the mount from res.Mount.
		res.Evidence = append(res.Evidence, trustedNote)
		if r.Identity.vouch(o, res) {
			res.Verdict = OK
		}
		return
	}
	if o.Info != nil && o.Info.MntID >= 0 {
		res.note("mnt_id %d is %s on %q", mnt.ID, mnt.FSType, mnt.Mountpoint)
	} else {
		res.note("no mount id from the kernel: mount %d (%s on %q) covers the path", mnt.ID, mnt.FSType, mnt.Mountpoint)
	}
	if !r.Identity.vouch(o, res) {
		return
	}
	if !under(path, mnt.Mountpoint) {
		res.unresolved("path %s is not under the mountpoint %q of mount %d", quote.Bytes(path), mnt.Mountpoint, mnt.ID)
		return
	}
	switch name {
	case nameUnlinked:
		res.Verdict = OK
		res.note("mount and inode from the open file")
		return
	case nameConfirmed:
		res.Verdict = OK
		return
	}
	r.confirm(path, o.Stat, res)
	if res.Verdict != OK && o.Kind == fdinfo.KindExe && r.Layers != nil {
		// exe has no mount id of its own: a layer-relative link (3.18–4.1)
		// lands on whatever covers it. Try the overlays.
		*res = Result{Object: o, MntID: -1, Evidence: res.Evidence}
		r.resolveCandidates(o, path, o.Stat, res)
	}
}

// mountOf returns the mount the kernel named for o: fdinfo's mnt_id for
// fds. cwd/root/exe have no fdinfo: the visible mount covering the link is
// the candidate, and confirm's stat decides; it is never reported for an
// unresolved object (settle).
func (r *Resolver) mountOf(o *fdinfo.Object) *mountns.Mount {
	if o.Info != nil && o.Info.MntID >= 0 {
		return r.Table.ByID(o.Info.MntID)
	}
	return r.Table.Covering(string(o.Link))
}

func mntIDOf(o *fdinfo.Object) int {
	if o.Info != nil {
		return o.Info.MntID
	}
	return -1
}

// confirm stats path in the target root and compares it with the open
// file's stat; a match makes the kernel's report OK.
func (r *Resolver) confirm(path []byte, want *fdinfo.Stat, res *Result) {
	got, err := r.Root.Stat(string(path))
	if err != nil {
		res.unresolved("stat %s in the target root: %v", quote.Bytes(path), err)
		return
	}
	if got.Dev != want.Dev || got.Ino != want.Ino {
		res.unresolved("stat %s in the target root gives %s, the open file is %s (renamed or over-mounted since open?)",
			quote.Bytes(path), devIno(got.Dev, got.Ino), devIno(want.Dev, want.Ino))
		return
	}
	res.Verdict = OK
	res.note("stat in target root matches %s", devIno(want.Dev, want.Ino))
}

// under reports whether path lies at or below mountpoint, component-wise.
func under(path []byte, mountpoint string) bool {
	if mountpoint == "/" {
		return len(path) > 0 && path[0] == '/'
	}
	if !bytes.HasPrefix(path, []byte(mountpoint)) {
		return false
	}
	return len(path) == len(mountpoint) || path[len(mountpoint)] == '/'
}

func devIno(dev, ino uint64) string {
	return fmt.Sprintf("%d:%d/%d", unix.Major(dev), unix.Minor(dev), ino)
}
