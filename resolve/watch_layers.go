package resolve

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/ovlfix/ovlfix/mountns"
	"golang.org/x/sys/unix"
)

// byLayers walks the overlay's layer directories, upper first, then the
// lowers top-down, matching getdents d_ino against the real inode numbers
// the watched overlay inode can have (layerInos). A layer entry at rel
// gives the candidate mountpoint + rel on each visible mount of the
// superblock (minus the mount's root for bind mounts of a subtree), which
// accept confirms inside the target root.
//
// Why it works (docs/kernel-quirks.md Matrix C): for a non-directory the
// overlay inode number is the real one of the upper file (pure upper) or
// of its lower origin (lower-only and copied-up files keep the origin's),
// when all layers are on one filesystem (4.12+) and, for lower-origin
// files, also when they are not (4.15+); with xino the layer's fsid sits
// in the high bits. Directories carry the real number on one filesystem
// only; elsewhere (and for files renamed after copy-up) this route finds
// nothing and the merged walk takes over.
//
// Why it is cheaper than the merged walk: a layer directory is read as it
// is on its own filesystem, while every merged directory read makes the
// overlay merge all layers and look up each entry to translate d_ino.
//
// Threat model: layers are opened through r.Layers, from the host's view
// for an overlay mounted in ovlfix's namespace and from the target's
// otherwise, never one after the other (layers.go); every directory below
// is opened through the layer's own mountns.Root (RESOLVE_IN_ROOT,
// O_NOFOLLOW): nothing planted in a layer leads outside it. Directories
// on another mount than the layer's root are not entered (overlay does
// not cross mounts inside a layer). The walk reads at most WalkLimit
// entries and stops when the process's watch budget is spent.
func (s *watchSearch) byLayers() bool {
	var ov *mountns.Mount
	for _, m := range s.mounts {
		if m.Overlay != nil {
			ov = m
			break
		}
	}
	switch {
	case ov == nil:
		return false // not an overlay: no layers
	case s.r.Layers == nil:
		s.clue("layers: not looked at (no layer access configured)")
		return false
	}
	ls := s.r.Layers.set(ov)
	s.res.note("%s", ls.view)
	for _, n := range ls.problems {
		s.res.note("layers: %s", n)
	}
	inos := layerInos(s.w.Ino, ov.Overlay)
	budget := s.r.walkLimit()
	walked := 0
	for _, ly := range ls.layers {
		if ly.root == nil {
			continue
		}
		walked++
		found, err := s.walkLayer(ly, inos, &budget)
		if found {
			return true
		}
		if err != nil {
			s.clue("layers: %s %q: %v", ly.hit.Layer, ly.hit.Dir, err)
			if stopsWalks(err) {
				return false
			}
		}
	}
	switch {
	case walked == 0:
		s.clue("layers: none of the %d layer directories is reachable", len(ls.layers))
	case s.layerMisses == 0:
		s.clue("layers: inode %d is in none of the %d reachable layer directories", s.w.Ino, walked)
	}
	return false
}

// walkLayer walks one layer breadth-first for an entry whose d_ino is one
// of inos, and tries each hit on the visible mounts.
func (s *watchSearch) walkLayer(ly openLayer, inos []uint64, budget *int) (bool, error) {
	rootMnt, err := mountOfFd(ly.root.Fd())
	if err != nil {
		return false, err
	}
	buf := make([]byte, 64<<10)
	queue := []string{"/"}
	var walkErr error
	for len(queue) > 0 && walkErr == nil {
		dir := queue[0]
		queue = queue[1:]
		f, err := ly.open(dir, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			continue // raced away or unreadable; keep walking elsewhere
		}
		if dir != "/" {
			if m, err := mountOfFd(int(f.Fd())); err != nil || m != rootMnt {
				f.Close()
				continue // another mount inside the layer: not the overlay's
			}
		}
		found := false
		_, _ = eachDirent(int(f.Fd()), buf, func(d direntry) bool {
			if *budget--; *budget < 0 {
				walkErr = walkLimitError{}
				return true
			}
			if err := s.r.meter.entry(); err != nil {
				walkErr = err
				return true
			}
			if matchesAny(d.ino, inos) {
				rel := childPath(dir, d.name)
				if s.tryLayerHit(ly, rel) {
					found = true
					return true
				}
			}
			if d.typ == unix.DT_DIR {
				queue = append(queue, childPath(dir, d.name))
			}
			return false
		})
		f.Close()
		if found {
			return true, nil
		}
	}
	return false, walkErr
}

// tryLayerHit maps rel (a path in the layer, so in the overlay's tree) to
// each visible mount of the superblock and accepts the first that the
// target confirms. A hit nothing confirms is kept as a clue: the file is
// in the layer but not visible there through the overlay (deleted, under a
// whiteout, or renamed).
func (s *watchSearch) tryLayerHit(ly openLayer, rel string) bool {
	for _, m := range s.reach {
		p, ok := overlayPath(m, rel)
		if !ok {
			continue
		}
		how := fmt.Sprintf("%s %q holds it at %q", ly.hit.Layer, ly.hit.Dir, rel)
		if s.accept(p, RouteLayers, how) {
			return true
		}
	}
	if s.layerMisses++; s.layerMisses <= 4 {
		s.clue("layers: %s has inode %d at %q, but no visible mount shows the watched inode there (deleted, whited out or renamed)",
			ly.hit.Layer, s.w.Ino, rel)
	}
	return false
}

// overlayPath maps rel, a path from the overlay's root, onto mount m:
// mountpoint + (rel − root) when rel lies under the mount's root (a bind
// mount of an overlay subtree shows only that subtree).
func overlayPath(m *mountns.Mount, rel string) ([]byte, bool) {
	if !under([]byte(rel), m.Root) {
		return nil, false
	}
	return mountChild(m.Mountpoint, rel[len(strings.TrimSuffix(m.Root, "/")):]), true
}

// mountChild is mountpoint + rel, rel being "" or "/" for the mount's
// root directory itself, else "/"-prefixed.
func mountChild(mountpoint, rel string) []byte {
	if rel == "" || rel == "/" {
		return []byte(mountpoint)
	}
	return []byte(strings.TrimSuffix(mountpoint, "/") + rel)
}

// layerInos returns the real inode numbers a layer entry may carry when the
// overlay inode number is ino. Without xino that is ino itself.
//
// With xino (4.17+, 64-bit; mountinfo shows xino=on or xino=auto only when
// the layers are on several filesystems) st_ino of a non-directory is the
// real number with the layer's fsid in the top bits: ino | fsid <<
// (65 − xinobits), xinobits = ilog2(numfs − 1) + 2, the upper's fsid being
// 0 (fs/overlayfs ovl_map_dev_ino; 6.18 shows 0x8000000000984465 for a
// lower inode 0x984465 with numfs 2). numfs, the number of distinct
// filesystems, is not known here but is at most the number of layers, so
// each possible xinobits gives one candidate: ino with its top xinobits
// cleared. A wrong candidate costs one stat: accept still compares the
// overlay path's st_ino with ino itself.
func layerInos(ino uint64, ov *mountns.Overlay) []uint64 {
	out := []uint64{ino}
	if ov == nil || (ov.Xino != "on" && ov.Xino != "auto") {
		return out
	}
	layers := len(ov.Lower)
	if ov.Upper != "" {
		layers++
	}
	maxBits := bits.Len(uint(max(layers-1, 1))) + 1 // ilog2(numfs-1) + 2
	for xb := 2; xb <= maxBits; xb++ {
		if r := ino & (^uint64(0) >> xb); r != out[len(out)-1] {
			out = append(out, r)
		}
	}
	return out
}

func matchesAny(ino uint64, inos []uint64) bool {
	for _, v := range inos {
		if ino == v {
			return true
		}
	}
	return false
}

// childPath is dir + "/" + name for layer-relative paths ("/" is the root).
func childPath(dir string, name []byte) string {
	if dir == "/" {
		return "/" + string(name)
	}
	return dir + "/" + string(name)
}

// mountOfFd identifies the mount an fd is on: statx STATX_MNT_ID (5.8+),
// else the device number (older kernels; it tells filesystems apart,
// which is what matters inside a layer).
func mountOfFd(fd int) (uint64, error) {
	var stx unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &stx); err != nil {
		return 0, fmt.Errorf("statx: %w", err)
	}
	if stx.Mask&unix.STATX_MNT_ID != 0 {
		return stx.Mnt_id, nil
	}
	return 1<<63 | unix.Mkdev(stx.Dev_major, stx.Dev_minor), nil
}
