package resolve

import (
	"fmt"
	"os"
	"path"
	"strings"
	"sync"

	"github.com/ovlfix/ovlfix/mountns"
	"golang.org/x/sys/unix"
)

// Layers opens the layer directories of overlay mounts and answers: which
// layer holds path rel of the overlay, with which real inode? It is how a
// layer inode the kernel reports (fds on 3.18–4.1, maps before 6.8) is
// tied to an overlay path, and how the layer walk finds a watched inode.
//
// Where layers are: an overlay's options name its layers as the mounter
// saw them, so they are opened in the mounter's view, decided per
// superblock and never by trying one view after the other:
//
//   - from the host's view (ovlfix's own root) when the overlay's
//     superblock is mounted in ovlfix's own mount namespace: a container
//     runtime mounted it there, and its paths are the runtime's;
//   - from the target's view (its root) otherwise: the target (or
//     something in its namespace) mounted the overlay itself, and its
//     paths are the target's.
//
// The choice is the first note of every lookup ("layers of mount N from
// the host's view: ..."). A layer a view cannot reach is not looked up at
// all. Relative layer paths (dockerd's "l/<id>" form, relative to the
// mounter's cwd) cannot be resolved and are skipped, with a note.
//
// Threat model: rel comes from the target (a link, a maps line), and so
// do the layer paths of an overlay the target mounted. Falling back to our
// root for those would open and list a host directory of the target's
// choosing (a container that breaks the path inside its namespace after
// mounting: even a root-only one); trying the target's root first for the
// runtime's overlays would let the target shadow the real layer with a
// decoy inside its namespace. Neither is done. An unprivileged container
// cannot put an overlay into ovlfix's namespace: mounts of a namespace
// owned by a less privileged user namespace do not propagate back
// (mount_namespaces(7)), so the host's view serves only the runtime's
// overlays. Inside a view, each layer directory is opened as a
// mountns.Root and rel is resolved inside it with RESOLVE_IN_ROOT, never
// following a final symlink: nothing planted in a layer leads outside it.
type Layers struct {
	target *mountns.Root
	host   *HostView // nil: no host view, so no layers are opened
	mu     sync.Mutex
	open   map[*mountns.Mount]*layerSet
}

// HostView is ovlfix's own view: its root directory and the mount table of
// its own mount namespace, read once per Session (Session makes it).
type HostView struct {
	Root  *mountns.Root
	Table *mountns.Table
	// Opened, when set, is called with every path opened through Root (a
	// mountpoint confirmed, a layer directory, a path inside one), as
	// "/<layer dir>/<rel>": an audit of the host paths ovlfix touched on a
	// target's behalf. Tests assert on it. It is called from whichever
	// goroutine uses the Layers.
	Opened func(path string)
}

func (h *HostView) opened(p string) {
	if h.Opened != nil {
		h.Opened(p)
	}
}

// NewLayers prepares layer lookups for the target whose root is target.
// host is ovlfix's own view; nil means that it is unknown, and then no
// layer directory is opened at all (which overlays are the runtime's
// cannot be told).
func NewLayers(target *mountns.Root, host *HostView) *Layers {
	return &Layers{target: target, host: host, open: map[*mountns.Mount]*layerSet{}}
}

// Close releases every opened layer directory.
func (l *Layers) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ls := range l.open {
		for _, ly := range ls.layers {
			if ly.root != nil {
				ly.root.Close()
			}
		}
	}
	l.open = map[*mountns.Mount]*layerSet{}
}

// layerSet is one overlay's layers: upper first, then lowers top-down.
type layerSet struct {
	layers []openLayer
	// view says from which view the layers were opened (or why none);
	// problems say why a layer could not be ("upper: ..."); notes is
	// both, view first, as Find returns them.
	view     string
	problems []string
	notes    []string
}

type openLayer struct {
	hit  LayerHit
	root *mountns.Root // nil when not reachable
	// host is set for a layer opened from the host's view: every path
	// opened inside it is reported to host.Opened.
	host *HostView
}

// LayerHit says where a layer lookup found the inode.
type LayerHit struct {
	Layer string // "upper", "lower 1", ...
	Dir   string // the layer directory, as the overlay options name it
}

// stat is lstat of rel inside the layer.
func (ly *openLayer) stat(rel string) (unix.Stat_t, error) {
	if ly.host != nil {
		ly.host.opened(path.Join(ly.hit.Dir, rel))
	}
	return ly.root.Stat(rel)
}

// open opens rel inside the layer (O_NOFOLLOW always).
func (ly *openLayer) open(rel string, flags int) (*os.File, error) {
	if ly.host != nil {
		ly.host.opened(path.Join(ly.hit.Dir, rel))
	}
	return ly.root.Open(rel, flags)
}

func (l *Layers) set(m *mountns.Mount) *layerSet {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ls, ok := l.open[m]; ok {
		return ls
	}
	ls := &layerSet{}
	l.open[m] = ls
	base, host, view := l.viewOf(m)
	ls.view = view
	add := func(name, dir string) {
		ly := openLayer{hit: LayerHit{Layer: name, Dir: dir}, host: host}
		if !strings.HasPrefix(dir, "/") {
			ls.problems = append(ls.problems, fmt.Sprintf("%s: relative layer path %q (relative to the mounter's cwd) cannot be resolved", name, dir))
		} else {
			if host != nil {
				host.opened(dir)
			}
			r, err := base.Sub(dir)
			if err != nil {
				ls.problems = append(ls.problems, fmt.Sprintf("%s: not reachable: %v", name, err))
			}
			ly.root = r
		}
		ls.layers = append(ls.layers, ly)
	}
	if ov := m.Overlay; ov != nil && base != nil {
		if ov.Upper != "" {
			add("upper", ov.Upper)
		}
		for i, lw := range ov.Lower {
			add(fmt.Sprintf("lower %d", i+1), lw.Path)
		}
	}
	ls.notes = append([]string{ls.view}, ls.problems...)
	return ls
}

// viewOf decides from which root the layers of overlay m are opened
// (see Layers): the host's (host non-nil) when m's superblock is mounted
// in ovlfix's namespace, else the target's; base nil when neither may be
// used. note says which and why.
//
// The superblock is known by its major:minor, which an unmounted one
// gives back and a new one may get (the lowest free anonymous dev is
// handed out): a runtime's overlay in our table, read when the Session
// began, could since be gone and its number taken by an overlay the
// target mounted. So the mount in our namespace is confirmed now, by
// fstat of its mountpoint in our root (overlay directories carry the
// overlay's own st_dev on every kernel), after the target's table named
// the number: both superblocks were alive at once, so they are one.
func (l *Layers) viewOf(m *mountns.Mount) (base *mountns.Root, host *HostView, note string) {
	if l.host == nil || l.host.Table == nil || l.host.Root == nil {
		return nil, nil, fmt.Sprintf("layers of mount %d not looked up: ovlfix's own mount table is unknown, so whose paths they are cannot be told", m.ID)
	}
	sb := fmt.Sprintf("%d:%d", m.Major, m.Minor)
	listed := false
	for _, own := range l.host.Table.ByDev(uint32(m.Major), uint32(m.Minor)) {
		if own.FSType != "overlay" {
			continue
		}
		listed = true
		l.host.opened(own.Mountpoint)
		st, err := l.host.Root.Stat(own.Mountpoint)
		if err == nil && st.Dev == unix.Mkdev(uint32(m.Major), uint32(m.Minor)) {
			return l.host.Root, l.host, fmt.Sprintf("layers of mount %d from the host's view: its superblock %s is mounted in ovlfix's namespace (mount %d on %q), so the layer paths are its mounter's there",
				m.ID, sb, own.ID, own.Mountpoint)
		}
	}
	if listed {
		return nil, nil, fmt.Sprintf("layers of mount %d not looked up: superblock %s was an overlay in ovlfix's namespace, but its mountpoint there no longer shows it (unmounted since?)", m.ID, sb)
	}
	return l.target, nil, fmt.Sprintf("layers of mount %d from the target's view: its superblock %s is not mounted in ovlfix's namespace, so the target's side mounted it and the layer paths are the target's", m.ID, sb)
}

// Find looks for the real inode (dev, ino) at path rel (relative to the
// overlay's root) in each layer of overlay mount m, upper first. It returns
// the hit, or ok=false, and the notes of the lookup (the view, what could
// not be looked at).
func (l *Layers) Find(m *mountns.Mount, rel string, dev, ino uint64) (hit LayerHit, ok bool, notes []string) {
	ls := l.set(m)
	rel = path.Clean("/" + rel)
	for i := range ls.layers {
		ly := &ls.layers[i]
		if ly.root == nil {
			continue
		}
		if st, err := ly.stat(rel); err == nil && st.Dev == dev && st.Ino == ino {
			return ly.hit, true, ls.notes
		}
	}
	return LayerHit{}, false, ls.notes
}

// Top returns the layer that provides rel in overlay m (the topmost one
// holding it) and its stat: the file a 3.18–4.1 kernel really opened.
func (l *Layers) Top(m *mountns.Mount, rel string) (LayerHit, unix.Stat_t, bool) {
	ls := l.set(m)
	rel = path.Clean("/" + rel)
	for i := range ls.layers {
		ly := &ls.layers[i]
		if ly.root == nil {
			continue
		}
		if st, err := ly.stat(rel); err == nil {
			return ly.hit, st, true
		}
	}
	return LayerHit{}, unix.Stat_t{}, false
}
