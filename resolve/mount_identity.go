package resolve

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/mountns"
	"golang.org/x/sys/unix"
)

// MountIdentity says, for each old-style mount id that fdinfo gave the
// process's fds, whether that id still names the fd's own mount in the
// target's mount table (docs/kernel-quirks.md §7, docs/design.md §3.4).
//
// Why: fdinfo mnt_id and mountinfo ids are reused at once after a mount is
// freed, and fdinfo and mountinfo are read at different times. Between the
// two an fd can be closed, its mount unmounted and freed, and a new mount
// take the id, so mountinfo's line for that id describes another mount.
// Likewise the mount the id names may be hidden under a later mount on
// the same mountpoint, so a path through the mountpoint reaches the other
// one. A stat of the path cannot always tell (a bind mount of the same
// directory shows the same dev:ino).
//
// How (6.8+, STATX_MNT_ID_UNIQUE: 64-bit ids that are never reused): the
// unique id of the fd's mount, statx through /proc/<pid>/fd/<N> (the magic
// link reaches the open file itself), must equal the unique id of the
// mount at that id's mountpoint, statx of the mountpoint opened inside the
// target root. Before 6.8 the kernel ignores the flag; the check cannot
// run and the results say so (keep the target frozen instead).
//
// Cost: two statx calls per distinct mount id (one fd stands for all fds
// with its id), not per fd. Immutable once made; safe for concurrent use.
type MountIdentity struct {
	// Supported is false when this kernel has no STATX_MNT_ID_UNIQUE
	// (before 6.8); Note then says why nothing was checked.
	Supported bool
	Note      string
	// Mounts holds the check of each distinct fdinfo mnt_id of a path fd
	// whose id is in the target's mountinfo.
	Mounts map[int]*MountCheck
}

// MountCheck is the identity check of one old-style mount id.
type MountCheck struct {
	MntID int
	// FD is the fd statted through /proc/<pid>/fd/<FD>.
	FD int
	// FDUnique is the unique id of FD's mount; PointUnique that of the
	// mount at MntID's mountpoint inside the target root.
	FDUnique, PointUnique uint64
	// Err says why the check could not run for this id (the fd closed, the
	// mountpoint unreachable); the ids are then not meaningful.
	Err error
	// note is the evidence line (or, when the ids differ, the reason) for
	// every fd on this mount, made once.
	note string
}

// Same reports whether the check ran and both unique ids are equal.
func (c *MountCheck) Same() bool { return c.Err == nil && c.FDUnique == c.PointUnique }

// fdTries bounds the fds tried for one mount id when they raced (closed or
// replaced since the scan): one is enough in the common case.
const fdTries = 3

// CheckMountIdentity checks the mount ids of process pid's fds, objs being
// its scan. Call it once per process before resolving and store the
// result in Resolver.Identity; resolveLink then refuses to accept an fd on
// a mount whose identity differs.
func (r *Resolver) CheckMountIdentity(pid int, objs []fdinfo.Object) *MountIdentity {
	statx := r.statx
	if statx == nil {
		statx = unix.Statx
	}
	mi := &MountIdentity{Supported: true, Mounts: map[int]*MountCheck{}}
	byID := map[int][]*fdinfo.Object{}
	var order []int
	for i := range objs {
		o := &objs[i]
		if o.Kind != fdinfo.KindFD || o.Info == nil || o.Info.MntID < 0 || o.Stat == nil ||
			len(o.Link) == 0 || o.Link[0] != '/' || r.Table.ByID(o.Info.MntID) == nil {
			continue
		}
		id := o.Info.MntID
		if _, seen := byID[id]; !seen {
			order = append(order, id)
		}
		if len(byID[id]) < fdTries {
			byID[id] = append(byID[id], o)
		}
	}
	for _, id := range order {
		c, err := r.checkMount(pid, r.Table.ByID(id), byID[id], statx)
		if err != nil {
			return &MountIdentity{Note: err.Error()}
		}
		mi.Mounts[id] = c
	}
	return mi
}

// errNoUniqueID: the kernel ignored STATX_MNT_ID_UNIQUE.
var errNoUniqueID = errors.New("this kernel has no statx STATX_MNT_ID_UNIQUE (added in 6.8): mount ids were not cross-checked")

// checkMount checks mount m (named by fdinfo mnt_id m.ID) with the first
// of fds that is still the file the scan saw. The only error returned is
// errNoUniqueID; everything else is recorded in the check.
func (r *Resolver) checkMount(pid int, m *mountns.Mount, fds []*fdinfo.Object, statx statxFunc) (*MountCheck, error) {
	c := &MountCheck{MntID: m.ID, FD: -1}
	for _, o := range fds {
		var stx unix.Statx_t
		p := "/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(o.FD)
		err := statx(unix.AT_FDCWD, p, 0, unix.STATX_INO|unix.STATX_MNT_ID_UNIQUE, &stx)
		switch {
		case errors.Is(err, unix.ENOSYS):
			return nil, errNoUniqueID
		case err != nil:
			c.Err = fmt.Errorf("statx %s: %w", p, err)
			continue
		case stx.Mask&unix.STATX_MNT_ID_UNIQUE == 0:
			return nil, errNoUniqueID
		case stx.Ino != o.Stat.Ino || unix.Mkdev(stx.Dev_major, stx.Dev_minor) != o.Stat.Dev:
			c.Err = fmt.Errorf("fd %d is another file than at the scan (closed and reused)", o.FD)
			continue
		}
		c.FD, c.FDUnique, c.Err = o.FD, stx.Mnt_id, nil
		break
	}
	if c.FD < 0 {
		c.note = fmt.Sprintf("mount identity of mount %d not checked: %v", m.ID, c.Err)
		return c, nil
	}
	c.PointUnique, c.Err = r.uniqueAt(m.Mountpoint, statx)
	switch {
	case c.Err != nil:
		c.note = fmt.Sprintf("mount identity of mount %d not checked: %v", m.ID, c.Err)
	case c.Same():
		c.note = fmt.Sprintf("unique mount id %#x: fd %d's mount is the one at %q", c.FDUnique, c.FD, m.Mountpoint)
	default:
		why := "the id was reused after an umount, or the mountpoint is over-mounted"
		if top := r.Table.ByMountpoint(m.Mountpoint); top != nil && top != m {
			why = fmt.Sprintf("mount %d is over-mounted there by mount %d", m.ID, top.ID)
		}
		c.note = fmt.Sprintf("fdinfo mnt_id %d is not the fd's mount: the fds' mount (checked through fd %d) has unique id %#x, the mount at %q has %#x: %s",
			m.ID, c.FD, c.FDUnique, m.Mountpoint, c.PointUnique, why)
	}
	return c, nil
}

// uniqueAt is the unique id of the mount visible at mountpoint inside the
// target root. O_PATH opens nothing (no side effects); a final symlink is
// not followed (Root.Open adds O_NOFOLLOW).
func (r *Resolver) uniqueAt(mountpoint string, statx statxFunc) (uint64, error) {
	f, err := r.Root.Open(mountpoint, unix.O_PATH)
	if err != nil {
		return 0, fmt.Errorf("open the mountpoint in the target root: %w", err)
	}
	defer f.Close()
	var stx unix.Statx_t
	if err := statx(int(f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID_UNIQUE, &stx); err != nil {
		return 0, fmt.Errorf("statx of the mountpoint %q: %w", mountpoint, err)
	}
	if stx.Mask&unix.STATX_MNT_ID_UNIQUE == 0 {
		return 0, errNoUniqueID
	}
	return stx.Mnt_id, nil
}

// statxFunc is statx(2) (unix.Statx).
type statxFunc func(dirfd int, path string, flags, mask int, st *unix.Statx_t) error

// vouch is called by resolveLink once fdinfo's mnt_id has named a mount.
// It returns false, leaving res unresolved with no mount, when the check
// found that mnt is not the fd's mount; otherwise it adds its evidence and
// returns true. A nil MountIdentity (no check made) vouches for anything.
func (mi *MountIdentity) vouch(o *fdinfo.Object, res *Result) bool {
	if mi == nil || o.Kind != fdinfo.KindFD || o.Info == nil || o.Info.MntID < 0 {
		return true
	}
	if !mi.Supported {
		res.note("mount identity not checked: %s", mi.Note)
		return true
	}
	c := mi.Mounts[o.Info.MntID]
	switch {
	case c == nil:
		res.note("mount identity of mount %d not checked: not among the process's fds when checked", o.Info.MntID)
		return true
	case c.Err != nil || c.Same():
		res.Evidence = append(res.Evidence, c.note)
		return true
	}
	res.MntID, res.Mount = -1, nil
	res.Verdict, res.Reason = Unresolved, c.note
	return false
}

// refutes reports whether the check found that o's fdinfo mnt_id names
// another mount than o's own: then not even the kernel's id is kept for
// an unresolved result (Resolver.settle).
func (mi *MountIdentity) refutes(o *fdinfo.Object) bool {
	if mi == nil || !mi.Supported || o.Kind != fdinfo.KindFD || o.Info == nil || o.Info.MntID < 0 {
		return false
	}
	c := mi.Mounts[o.Info.MntID]
	return c != nil && c.Err == nil && !c.Same()
}
