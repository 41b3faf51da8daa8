package resolve

import (
	"fmt"
	"path"
	"strings"
	"sync"

	"github.com/ovlfix/ovlfix/mountns"
	"golang.org/x/sys/unix"
)

// Layers opens the layer directories of overlay mounts and answers: which
// layer holds path rel of the overlay, with which real inode? It is how a
// layer inode the kernel reports (fds on 3.18–4.1, maps before 6.8) is
// tied to an overlay path.
//
// Where layers are: an overlay's options name its layers as the mounter
// saw them. For a container the mounter is the runtime in the host's
// namespace, so the paths resolve from our own root; for an overlay
// mounted inside the target's namespace they resolve from the target's
// root. Target first, then ours: a wrong guess cannot cause a false match,
// since every answer is an exact (dev, ino) equality. Relative layer paths
// (dockerd's "l/<id>" form, relative to the mounter's cwd) cannot be
// resolved and are skipped, with a note.
//
// Threat model: rel comes from the target (a link, a maps line). Each
// layer directory is opened as a mountns.Root, and rel is resolved inside
// it with RESOLVE_IN_ROOT, never following a final symlink: nothing
// planted in a layer can lead outside it.
type Layers struct {
	target, host *mountns.Root // host may be nil: no host-side lookups
	mu           sync.Mutex
	open         map[*mountns.Mount]*layerSet
}

// NewLayers prepares layer lookups through the target's root and, when
// host is not nil, our own.
func NewLayers(target, host *mountns.Root) *Layers {
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
	notes  []string // why a layer could not be opened
}

type openLayer struct {
	hit  LayerHit
	root *mountns.Root // nil when not reachable
}

// LayerHit says where a layer lookup found the inode.
type LayerHit struct {
	Layer string // "upper", "lower 1", ...
	Dir   string // the layer directory, as the overlay options name it
}

func (l *Layers) set(m *mountns.Mount) *layerSet {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ls, ok := l.open[m]; ok {
		return ls
	}
	ls := &layerSet{}
	add := func(name, dir string) {
		r, note := l.openDir(dir)
		ls.layers = append(ls.layers, openLayer{hit: LayerHit{Layer: name, Dir: dir}, root: r})
		if note != "" {
			ls.notes = append(ls.notes, name+": "+note)
		}
	}
	if ov := m.Overlay; ov != nil {
		if ov.Upper != "" {
			add("upper", ov.Upper)
		}
		for i, lw := range ov.Lower {
			add(fmt.Sprintf("lower %d", i+1), lw.Path)
		}
	}
	l.open[m] = ls
	return ls
}

func (l *Layers) openDir(dir string) (*mountns.Root, string) {
	if !strings.HasPrefix(dir, "/") {
		return nil, fmt.Sprintf("relative layer path %q (relative to the mounter's cwd) cannot be resolved", dir)
	}
	var errs []string
	for _, base := range []*mountns.Root{l.target, l.host} {
		if base == nil {
			continue
		}
		r, err := base.Sub(dir)
		if err == nil {
			return r, ""
		}
		errs = append(errs, err.Error())
	}
	return nil, "not reachable: " + strings.Join(errs, "; ")
}

// Find looks for the real inode (dev, ino) at path rel (relative to the
// overlay's root) in each layer of overlay mount m, upper first. It returns
// the hit, or ok=false with notes on what could not be looked at.
func (l *Layers) Find(m *mountns.Mount, rel string, dev, ino uint64) (hit LayerHit, ok bool, notes []string) {
	ls := l.set(m)
	rel = path.Clean("/" + rel)
	for _, ly := range ls.layers {
		if ly.root == nil {
			continue
		}
		if st, err := ly.root.Stat(rel); err == nil && st.Dev == dev && st.Ino == ino {
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
	for _, ly := range ls.layers {
		if ly.root == nil {
			continue
		}
		if st, err := ly.root.Stat(rel); err == nil {
			return ly.hit, st, true
		}
	}
	return LayerHit{}, unix.Stat_t{}, false
}
