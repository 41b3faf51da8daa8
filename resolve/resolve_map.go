package resolve

import (
	"fmt"
	"strings"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/mountns"
	"golang.org/x/sys/unix"
)

// resolveMap handles a file-backed mapping (docs/kernel-quirks.md Matrix B).
//
// With map_files (privileged), the map_files link is the overlay path on
// every upstream kernel since 4.2, stat through it is the overlay inode and
// its mount id is the overlay's: the truth, confirmed by a stat inside the
// target root. maps' own dev:ino is then only compared and reported: before
// 6.8 it is the layer inode (Fixed, with the true dev:ino), from 6.8 on it
// is the overlay superblock dev and overlay inode (OK).
//
// Without map_files only the maps path and dev:ino are known; they are
// accepted when stat of the path inside the root agrees with them.
func (r *Resolver) resolveMap(o *fdinfo.Object, res *Result) {
	m := o.Map
	if m.MapFiles != nil && m.MapFilesMntID >= 0 && len(o.Link) > 0 {
		r.resolveMapFiles(o, res)
		return
	}
	res.Path, res.Deleted = m.Path, m.Deleted
	if m.Deleted {
		res.unresolved("mapped file deleted and map_files not readable (%v)", o.Err)
		return
	}
	mnt := r.Table.Covering(string(m.Path))
	if mnt == nil {
		res.unresolved("no mount covers %s", quote.Bytes(m.Path))
		return
	}
	res.MntID, res.Mount = mnt.ID, mnt
	got, err := r.Root.Stat(string(m.Path))
	if err != nil {
		res.unresolved("stat %s in the target root: %v", quote.Bytes(m.Path), err)
		return
	}
	res.Dev, res.Ino = got.Dev, got.Ino
	mapsDev := unix.Mkdev(m.DevMajor, m.DevMinor)
	if got.Ino == m.Ino && (got.Dev == mapsDev || (m.DevMajor == uint32(mnt.Major) && m.DevMinor == uint32(mnt.Minor))) {
		res.Verdict = OK
		res.note("maps %s agrees with stat in the target root (%s) on mount %d", devIno(mapsDev, m.Ino), devIno(got.Dev, got.Ino), mnt.ID)
		return
	}
	// Before 6.8 maps shows the layer inode. Find it in the mount's layers
	// at the same overlay-relative path (copy-up and xino make maps and
	// stat differ, the layer lookup does not care).
	if mnt.Overlay != nil && r.Layers != nil {
		rel := overlayRel(mnt, m.Path)
		if hit, ok, notes := r.Layers.Find(mnt, rel, mapsDev, m.Ino); ok {
			res.Verdict = Fixed
			res.Reason = fmt.Sprintf("maps shows %s, the %s inode (kernels before 6.8); the file is %s", devIno(mapsDev, m.Ino), hit.Layer, devIno(got.Dev, got.Ino))
			res.note("maps dev:ino is %s %q in %s (%s)", rel, hit.Layer, hit.Dir, "found by layer lookup")
			return
		} else {
			for _, n := range notes {
				res.note("%s", n)
			}
		}
	}
	// 3.18–4.1: the maps path itself is layer-relative.
	if r.Layers != nil && len(r.Table.Overlays()) > 0 {
		*res = Result{Object: o, MntID: -1, Evidence: res.Evidence}
		r.resolveCandidates(o, m.Path, &fdinfo.Stat{Dev: mapsDev, Ino: m.Ino}, res)
		if res.Verdict == Fixed || res.Verdict == Ambiguous {
			return
		}
	}
	res.unresolved("maps says %s but stat of %s in the target root is %s, and no layer of mount %d holds that inode (map_files not readable: %v)",
		devIno(mapsDev, m.Ino), quote.Bytes(m.Path), devIno(got.Dev, got.Ino), mnt.ID, o.Err)
}

// overlayRel is path (a path of the target, on overlay mount m) relative
// to the overlay's root: mountinfo root + (path − mountpoint).
func overlayRel(m *mountns.Mount, path []byte) string {
	mp := strings.TrimSuffix(m.Mountpoint, "/")
	rest := string(path)
	switch {
	case rest == mp: // the mount's root directory itself (a cwd)
		rest = ""
	case strings.HasPrefix(rest, mp+"/"):
		rest = rest[len(mp):]
	}
	return strings.TrimSuffix(m.Root, "/") + rest
}

func (r *Resolver) resolveMapFiles(o *fdinfo.Object, res *Result) {
	m := o.Map
	st := m.MapFiles
	res.Dev, res.Ino = st.Dev, st.Ino
	mnt := r.Table.ByID(m.MapFilesMntID)
	name := r.nameOf(o.Link, st, mnt != nil, res)
	if name == nameUnresolved {
		return
	}
	path := res.Path
	if mnt == nil {
		r.resolveForeignMount(o, path, &fdinfo.Stat{Dev: st.Dev, Ino: st.Ino}, m.MapFilesMntID, res)
		unlinkedForeign(name, res)
		return
	}
	res.MntID, res.Mount = mnt.ID, mnt
	res.note("map_files: %s, mount %d (%s on %q)", devIno(st.Dev, st.Ino), mnt.ID, mnt.FSType, mnt.Mountpoint)
	if !under(path, mnt.Mountpoint) {
		res.unresolved("map_files path %s is not under mountpoint %q of mount %d", quote.Bytes(path), mnt.Mountpoint, mnt.ID)
		return
	}
	if name == namePlain {
		r.confirm(path, &fdinfo.Stat{Dev: st.Dev, Ino: st.Ino}, res)
		if res.Verdict != OK {
			return
		}
	}
	res.Verdict = OK
	mapsDev := unix.Mkdev(m.DevMajor, m.DevMinor)
	sbDev := m.DevMajor == uint32(mnt.Major) && m.DevMinor == uint32(mnt.Minor)
	if m.Ino == st.Ino && (mapsDev == st.Dev || sbDev) {
		res.note("maps dev:ino %s agrees", devIno(mapsDev, m.Ino))
		return
	}
	res.Verdict = Fixed
	res.Reason = "maps shows " + devIno(mapsDev, m.Ino) + ", the layer inode (kernels before 6.8); the file is " + devIno(st.Dev, st.Ino)
	res.note("maps dev:ino %s is not the overlay's (%d:%d) nor stat's", devIno(mapsDev, m.Ino), mnt.Major, mnt.Minor)
}
