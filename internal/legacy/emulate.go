// Package legacy rewrites a live scan of a process into the /proc view a
// 3.18–4.1 kernel would have shown for it (docs/kernel-quirks.md Matrix A, and
// Matrix B's 3.18–4.1 column), so that the pre-4.2 paths of the resolver
// run against real files on a kernel we can run. No 3.18–4.1 kernel runs
// here; tests that use this say "EmulatedLegacyKernel" in their names.
//
// What changes, for non-directories on overlay mounts only (directories
// were served by overlay itself and looked right on every kernel):
//   - the fd link (and exe link, map_files link, maps path) becomes the
//     path relative to the layer directory, which is the path relative to
//     the overlay's root: "/a/foo" instead of "/mnt/a/foo";
//   - the fdinfo mnt_id (and map_files mount id) becomes the id of a
//     private clone of the layer's mount, which is in no mountinfo;
//   - the stat through the link (and maps dev:ino) becomes the real layer
//     inode's: the topmost layer holding the path, upper first;
//   - fdinfo has no ino: line (it came with ~5.14).
//
// Known limits of the emulation: a file opened before a copy-up keeps the
// lower inode on those kernels, but the emulator sees only the state at
// scan time (a renamed lower file, a copy-up after open); a deleted file's
// layer inode cannot be found, so it keeps the overlay stat.
package legacy

import (
	"bytes"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/mountns"
	"github.com/ovlfix/ovlfix/resolve"
	"golang.org/x/sys/unix"
)

const deleted = fdinfo.DeletedSuffix

// Emulate returns a copy of p as a 3.18–4.1 kernel would have shown it.
// t is the target's mount table, layers opens the overlays' layer dirs.
func Emulate(p *fdinfo.Process, t *mountns.Table, layers *resolve.Layers) *fdinfo.Process {
	out := *p
	out.Objects = make([]fdinfo.Object, len(p.Objects))
	fake := fakeIDs(t)
	for i, o := range p.Objects {
		out.Objects[i] = rewrite(o, t, layers, fake)
	}
	return &out
}

// fakeIDs hands out one mount id per (overlay, layer), all above every id
// of the table: the private layer clones of those kernels.
func fakeIDs(t *mountns.Table) func(m *mountns.Mount, layer string) int {
	next := 0
	for _, m := range t.Mounts() {
		next = max(next, m.ID)
	}
	next += 1000
	type key struct {
		mnt   int
		layer string
	}
	ids := map[key]int{}
	return func(m *mountns.Mount, layer string) int {
		k := key{m.ID, layer}
		if _, ok := ids[k]; !ok {
			ids[k] = next
			next++
		}
		return ids[k]
	}
}

func rewrite(o fdinfo.Object, t *mountns.Table, layers *resolve.Layers, fake func(*mountns.Mount, string) int) fdinfo.Object {
	switch o.Kind {
	case fdinfo.KindFD:
		if o.Info == nil || o.Stat == nil || o.Stat.Mode&unix.S_IFMT == unix.S_IFDIR {
			return o
		}
		m := t.ByID(o.Info.MntID)
		rel, hit, st, ok := layerFile(m, o.Link, layers)
		if !ok {
			return o
		}
		info := *o.Info
		info.MntID = fake(m, hit.Layer)
		info.HasIno, info.Ino = false, 0
		o.Info = &info
		o.Link = rel
		if st != nil {
			o.Stat = st
		}
	case fdinfo.KindExe:
		if o.Stat == nil {
			return o
		}
		m := t.Covering(string(o.Link))
		if rel, _, st, ok := layerFile(m, o.Link, layers); ok {
			o.Link = rel
			if st != nil {
				o.Stat = st
			}
		}
	case fdinfo.KindMap:
		if o.Map == nil || o.Map.MapFiles == nil {
			return o
		}
		m := t.ByID(o.Map.MapFilesMntID)
		rel, hit, st, ok := layerFile(m, o.Link, layers)
		if !ok {
			return o
		}
		mp := *o.Map
		mp.Path = bytes.TrimSuffix(rel, []byte(deleted))
		mp.MapFilesMntID = fake(m, hit.Layer)
		if st != nil {
			mp.MapFiles = st
			mp.DevMajor, mp.DevMinor, mp.Ino = unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino
		}
		o.Map, o.Link, o.Stat = &mp, rel, mp.MapFiles
	}
	return o
}

// layerFile maps an overlay path to the layer-relative link and the layer
// file's stat (nil for a deleted file, which no layer holds any more).
func layerFile(m *mountns.Mount, link []byte, layers *resolve.Layers) ([]byte, resolve.LayerHit, *fdinfo.Stat, bool) {
	if m == nil || m.Overlay == nil {
		return nil, resolve.LayerHit{}, nil, false
	}
	path := bytes.TrimSuffix(link, []byte(deleted))
	mp := m.Mountpoint
	if mp == "/" {
		mp = ""
	}
	if !bytes.HasPrefix(path, []byte(mp+"/")) {
		return nil, resolve.LayerHit{}, nil, false
	}
	root := m.Root
	if root == "/" {
		root = ""
	}
	rel := append([]byte(root), path[len(mp):]...)
	out := rel
	if len(path) != len(link) {
		out = append(append([]byte(nil), rel...), deleted...)
	}
	hit, st, ok := layers.Top(m, string(rel))
	if !ok {
		return out, resolve.LayerHit{Layer: "deleted"}, nil, true
	}
	return out, hit, &fdinfo.Stat{Dev: st.Dev, Ino: st.Ino, Mode: st.Mode, Size: st.Size, Nlink: uint64(st.Nlink), Rdev: st.Rdev}, true
}
