package resolve

import (
	"fmt"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/mountns"
	"golang.org/x/sys/unix"
)

// DefaultWalkLimit bounds the directory entries one watch lookup may read.
const DefaultWalkLimit = 200000

// Hints maps an inode number to paths the process itself holds open with
// that inode: the cheapest route from a watch's (sdev, ino) to a path.
type Hints map[uint64][][]byte

// NewHints collects the paths of a process's fds, cwd/root/exe and mapped
// files by inode number.
func NewHints(objs []fdinfo.Object) Hints {
	h := Hints{}
	for i := range objs {
		o := &objs[i]
		if o.Stat == nil || len(o.Link) == 0 || o.Link[0] != '/' {
			continue
		}
		h[o.Stat.Ino] = append(h[o.Stat.Ino], o.Link)
	}
	return h
}

// resolveWatch turns an fsnotify mark's (sdev, ino) into a path in the
// target's namespace (kernel-quirks.md §5). sdev is the overlay superblock
// dev in kernel encoding on every kernel; ino is the overlay inode number.
// st_dev is never required to equal sdev: for non-directories on overlays
// whose layers are on different filesystems it is a pseudo dev.
//
// Routes, cheapest first: paths the process holds open with that inode
// (hints), then a bounded walk of each mount of that superblock inside the
// target root, matching getdents d_ino. Every answer is confirmed by stat
// inside the root.
func (r *Resolver) resolveWatch(o *fdinfo.Object, res *Result, hints Hints) {
	w := o.Watch
	res.Ino = w.Ino
	mounts := r.Table.ByKernelDev(w.Sdev)
	if len(mounts) == 0 {
		res.unresolved("sdev %#x (%d:%d) matches no mount of the target", w.Sdev, w.Sdev>>20, w.Sdev&0xfffff)
		return
	}
	res.note("sdev %#x is %s (%d mount(s), first %d on %q)", w.Sdev, mounts[0].FSType, len(mounts), mounts[0].ID, mounts[0].Mountpoint)
	onSB := func(m *mountns.Mount) bool {
		for _, c := range mounts {
			if c == m {
				return true
			}
		}
		return false
	}
	for _, p := range hints[w.Ino] {
		if r.acceptWatch(p, w.Ino, onSB, res) {
			res.note("found through a path the process holds open")
			return
		}
	}
	budget := r.WalkLimit
	if budget <= 0 {
		budget = DefaultWalkLimit
	}
	for _, m := range mounts {
		if r.Table.ByMountpoint(m.Mountpoint) != m {
			continue // over-mounted: not reachable by path
		}
		found, err := r.walkFor(m, w.Ino, &budget, func(p []byte) bool { return r.acceptWatch(p, w.Ino, onSB, res) })
		if found {
			res.note("found by walking mount %d", m.ID)
			return
		}
		if err != nil {
			res.note("walk of mount %d: %v", m.ID, err)
		}
	}
	res.unresolved("inode %d not found on the mounts of sdev %#x (walked within the limit of %d entries)", w.Ino, w.Sdev, r.walkLimit())
}

func (r *Resolver) walkLimit() int {
	if r.WalkLimit > 0 {
		return r.WalkLimit
	}
	return DefaultWalkLimit
}

// acceptWatch confirms that path, inside the target root, is inode ino on
// one of the watch's mounts, and records it.
func (r *Resolver) acceptWatch(path []byte, ino uint64, onSB func(*mountns.Mount) bool, res *Result) bool {
	st, err := r.Root.Stat(string(path))
	if err != nil || st.Ino != ino {
		return false
	}
	m := r.Table.Covering(string(path))
	if m == nil || !onSB(m) {
		return false
	}
	res.Verdict = OK
	res.Path, res.MntID, res.Mount, res.Dev = path, m.ID, m, st.Dev
	res.note("stat in target root: %s", devIno(st.Dev, st.Ino))
	return true
}

// walkFor walks mount m breadth-first inside the target root, calling try
// for every entry whose d_ino is ino, without entering other mounts. It
// stops when try accepts or the budget of directory entries is spent.
func (r *Resolver) walkFor(m *mountns.Mount, ino uint64, budget *int, try func([]byte) bool) (bool, error) {
	queue := [][]byte{[]byte(m.Mountpoint)}
	buf := make([]byte, 64<<10)
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		f, err := r.Root.Open(string(dir), unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			continue // raced away or unreadable; keep walking elsewhere
		}
		for {
			n, err := unix.Getdents(int(f.Fd()), buf)
			if err != nil || n <= 0 {
				break
			}
			for off := 0; off < n; {
				d := dirent(buf[off:n])
				off += d.reclen
				if d.name == "." || d.name == ".." {
					continue
				}
				*budget--
				if *budget < 0 {
					f.Close()
					return false, fmt.Errorf("walk limit reached")
				}
				child := join(dir, d.name)
				if d.ino == ino && try(child) {
					f.Close()
					return true, nil
				}
				if d.typ == unix.DT_DIR && r.Table.Covering(string(child)) == m {
					queue = append(queue, child)
				}
			}
		}
		f.Close()
	}
	return false, nil
}

type direntry struct {
	ino    uint64
	reclen int
	typ    uint8
	name   string
}

// dirent decodes one linux_dirent64 at the start of b.
func dirent(b []byte) direntry {
	le := func(p []byte) uint64 {
		var v uint64
		for i := len(p) - 1; i >= 0; i-- {
			v = v<<8 | uint64(p[i])
		}
		return v
	}
	d := direntry{ino: le(b[0:8]), reclen: int(le(b[16:18])), typ: b[18]}
	name := b[19:d.reclen]
	for i, c := range name {
		if c == 0 {
			name = name[:i]
			break
		}
	}
	d.name = string(name)
	return d
}

func join(dir []byte, name string) []byte {
	out := make([]byte, 0, len(dir)+1+len(name))
	out = append(out, dir...)
	if len(dir) == 0 || dir[len(dir)-1] != '/' {
		out = append(out, '/')
	}
	return append(out, name...)
}
