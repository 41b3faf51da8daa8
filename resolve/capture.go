package resolve

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/mountns"
	"golang.org/x/sys/unix"
)

// Capture is what resolving a process needs of the live process itself,
// taken at one instant (the post-dump hook: while CRIU holds the tasks
// frozen) so that the resolution can run later, after the process has
// been resumed or has exited: its mount table, its root, a pin on its
// mount namespace and the identity check of its fds' mount ids (the one
// part of resolution that reads /proc/<pid> itself).
//
// Why the pin: the root fd alone keeps the root mount, but when the last
// task of a mount namespace exits the kernel dissolves the namespace
// (put_mnt_ns → umount_tree) and every path below the root stops crossing
// into the mounts on it. An open /proc/<pid>/ns/mnt holds the namespace,
// so its mounts stay attached and walks inside the root see what the
// captured mountinfo describes. Close releases it: a pinned namespace
// keeps its mounts (a container's overlay) busy.
//
// Nothing here is trusted more than at capture time: the resolution after
// it stats and opens inside the root as usual (RESOLVE_IN_ROOT), and a
// process that kept running may have changed its files since.
//
// Cost: the processes of a tree mostly share one mount namespace and one
// root; they share one root fd and one pin (Session keeps them, counted),
// so a tree of many tasks holds two fds per distinct (namespace, root),
// not per task — a container chooses how many tasks it has.
type Capture struct {
	PID       int
	Table     *mountns.Table
	Namespace uint64
	view      *sharedView
	identity  *MountIdentity
	s         *Session
}

// sharedView is one (mount namespace, root) the captures of a Session
// hold: the root fd and the namespace pin, closed with the last capture.
type sharedView struct {
	key  viewKey
	root *mountns.Root
	pin  *os.File
	refs int
}

// viewKey identifies a root directory in a namespace: the namespace's
// inode and the root's device, inode and mount id.
type viewKey struct {
	ns, dev, ino, mnt uint64
}

// Capture reads pid's mount table (through the session's cache), opens
// its root, pins its mount namespace and checks its fds' mount ids, objs
// being its scan. Errors name pid; an exited pid satisfies
// errors.Is(err, fs.ErrNotExist). Close must be called.
func (s *Session) Capture(pid int, objs []fdinfo.Object) (*Capture, error) {
	table, ns, _, err := s.tables.For(pid)
	if err != nil {
		return nil, err
	}
	root, err := mountns.OpenRoot(pid)
	if err != nil {
		return nil, err
	}
	var stx unix.Statx_t
	if err := unix.Statx(root.Fd(), "", unix.AT_EMPTY_PATH, unix.STATX_INO|unix.STATX_MNT_ID, &stx); err != nil {
		root.Close()
		return nil, fmt.Errorf("root of pid %d: statx: %w", pid, err)
	}
	key := viewKey{ns: ns, dev: unix.Mkdev(stx.Dev_major, stx.Dev_minor), ino: stx.Ino, mnt: stx.Mnt_id}
	v := s.views[key]
	if v != nil {
		root.Close()
	} else {
		pin, err := pinNamespace(pid, ns)
		if err != nil {
			root.Close()
			return nil, err
		}
		v = &sharedView{key: key, root: root, pin: pin}
		if s.views == nil {
			s.views = map[viewKey]*sharedView{}
		}
		s.views[key] = v
	}
	v.refs++
	c := &Capture{PID: pid, Table: table, Namespace: ns, view: v, s: s}
	c.identity = (&Resolver{Table: table, Root: v.root}).CheckMountIdentity(pid, objs)
	return c, nil
}

// Root is the captured root, inside which resolution and its callers'
// own checks stat and open.
func (c *Capture) Root() *mountns.Root { return c.view.root }

// Close releases the capture's share of the root and the namespace pin,
// which the last capture of that view closes. A second Close does nothing.
func (c *Capture) Close() error {
	v := c.view
	if v == nil {
		return nil
	}
	c.view = nil
	if v.refs--; v.refs > 0 {
		return nil
	}
	delete(c.s.views, v.key)
	return errors.Join(v.root.Close(), v.pin.Close())
}

// ResolveCaptured is ResolveWith on a capture: it reads nothing of the
// process, only the capture, the objects and the files inside its root,
// so it also runs once the process has exited.
func (s *Session) ResolveCaptured(ctx context.Context, c *Capture, objs []fdinfo.Object, budget WatchBudget) (*Resolved, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pid %d: %w", c.PID, err)
	}
	layers := NewLayers(c.view.root, &s.host)
	defer layers.Close()
	r := &Resolver{Table: c.Table, Root: c.view.root, Layers: layers, TrustFdLinks: s.opts.TrustFdLinks,
		Identity: c.identity, meter: newWatchMeter(ctx, budget)}
	out := &Resolved{Results: r.ResolveAll(objs), Table: c.Table, Namespace: c.Namespace, Watches: r.meter.spend()}
	var ce cancelError
	if err := r.meter.walkStop(); errors.As(err, &ce) {
		return nil, fmt.Errorf("pid %d: watch resolution stopped: %w", c.PID, ce.err)
	}
	if s.opts.Provenance {
		p := &placer{layers: layers, memo: map[placeKey]Place{}}
		out.Places = make([]Place, len(out.Results))
		for i := range out.Results {
			out.Places[i] = p.place(&out.Results[i])
		}
		out.Located = p.located
	}
	return out, nil
}

// pinNamespace opens pid's mount namespace and checks that it is the one
// whose table was read (inode ns).
func pinNamespace(pid int, ns uint64) (*os.File, error) {
	p := "/proc/" + strconv.Itoa(pid) + "/ns/mnt"
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("pin the mount namespace of pid %d: %w", pid, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("pin the mount namespace of pid %d: %w", pid, err)
	}
	if st.Ino != ns {
		f.Close()
		return nil, fmt.Errorf("pid %d: its mount namespace changed (inode %d, read as %d) while it was captured", pid, st.Ino, ns)
	}
	return f, nil
}
