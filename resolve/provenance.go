package resolve

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/manifest"
	"github.com/ovlfix/ovlfix/mountns"
	"golang.org/x/sys/unix"
)

// Place is where a resolved file lives in its overlay (the provenance of
// ovlfix-manifest.json): Overlay is nil when the file's mount is not an
// overlay, or when the layer could not be told, and then Why says why.
type Place struct {
	Overlay *manifest.Overlay
	Why     string
}

// Held is what the caller knows of the held inode, as stat'ed through the
// task (its fd, map_files): the overlay's st_dev/st_ino and link count.
type Held struct {
	Dev, Ino uint64
	// Nlink is the link count; HaveNlink false when no stat was made.
	Nlink     uint64
	HaveNlink bool
	// Deleted: the file was unlinked while held (Result.Deleted).
	Deleted bool
}

// Locate tells where the file at rel (relative to the overlay's root) of
// overlay mount m lives, in the layers Layers opens for m (the mounter's
// view; inside a layer rel is resolved with RESOLVE_IN_ROOT and a final
// symlink is never followed, so nothing a container planted leads
// outside a layer). It costs one stat per layer, plus one xattr read when
// the upper layer holds rel; where rel is in the upper layer and a lower
// one, one xattr read per ancestor (an opaque upper directory hides the
// lower), and for a lower layer that lacks rel, one stat and xattr read per
// ancestor it has (hidesBelow).
//
// The rules, for a file that is still linked into the overlay (the
// resolver confirmed that rel in the merged view is the held inode, so
// the topmost layer holding rel holds the file):
//
//   - upper holds rel and no lower does: UpperOnly;
//   - upper holds rel and so does lower k: CopiedUp (Layer k, the one it
//     shadows), or Metacopy when the upper file carries the overlay's
//     metacopy xattr (trusted.overlay.metacopy, user.overlay.metacopy with
//     userxattr; 4.19+): its data is still in lower k, the topmost lower
//     holding rel (a file renamed after a metacopy copy-up has its data
//     where overlay.redirect says: not followed, noted);
//   - upper does not hold rel and lower k does: Lower (Layer k).
//
// For a file unlinked while held (held.Deleted): with links left
// (nlink > 0) it is a lower file whited out through the overlay, and the
// topmost lower holding rel with the held inode number (layerInos: with
// xino the overlay's number carries the layer's fsid in its top bits) is
// WhitedOut (Layer k); in no lower layer, it is an upper file with
// another hard link (UpperOnly). With nlink 0 it was an upper file (CRIU
// dumps it as a ghost): UpperOnly, or CopiedUp when a lower still holds
// rel.
//
// An opaque directory at or above rel in the upper layer (rm -rf /d;
// mkdir /d) hides every lower: a file the upper holds there is UpperOnly.
// A whiteout in lower k (a char device 0:0) hides every layer below it,
// and so does, in a layer without rel, a whiteout, a non-directory or an
// opaque directory at an ancestor of rel;
// 6.7+'s xattr whiteouts (nested overlays) are not looked at, noted when
// met as a zero-size file.
func (l *Layers) Locate(m *mountns.Mount, rel string, held Held) Place {
	ov := m.Overlay
	if ov == nil {
		return Place{}
	}
	ls := l.set(m)
	if len(ls.layers) == 0 {
		return Place{Why: strings.Join(ls.notes, "; ")}
	}
	rel = path.Clean("/" + rel)
	out := &manifest.Overlay{Layer: -1, UpperDir: ov.Upper}
	out.Notes = append(out.Notes, ls.view)
	var upper *openLayer
	lowers := ls.layers
	if ov.Upper != "" && len(lowers) > 0 && lowers[0].hit.Layer == "upper" {
		upper, lowers = &lowers[0], lowers[1:]
	}
	lower, lowerSt, lowerNote := firstLower(lowers, rel, ov.UserXattr)
	if lowerNote != "" {
		out.Notes = append(out.Notes, lowerNote)
	}
	if lower >= 0 {
		out.LayerDir = lowers[lower].hit.Dir
	}
	set := func(where string, layer int) Place {
		out.Where, out.Layer = where, layer
		if layer < 0 {
			out.LayerDir = ""
		}
		return Place{Overlay: out}
	}
	if held.Deleted {
		if !held.HaveNlink {
			return Place{Why: fmt.Sprintf("unlinked while held, but its link count is unknown (no stat): whether it was a lower file whited out or an upper one removed cannot be told; %s", ls.view)}
		}
		if held.Nlink == 0 {
			out.Notes = append(out.Notes, "unlinked while held with no link left: the upper file was removed (CRIU dumps it as a ghost file)")
			if lower >= 0 && upper != nil && upper.root != nil {
				if hides, note := upper.hidesLower(rel, &unix.Stat_t{}, ov.UserXattr); hides {
					out.Notes = append(out.Notes, note)
					lower = -1
				}
			}
			if lower >= 0 {
				return set(manifest.CopiedUp, lower)
			}
			return set(manifest.UpperOnly, -1)
		}
		if lower >= 0 && matchesAny(lowerSt.Ino, layerInos(held.Ino, ov)) {
			out.Notes = append(out.Notes, fmt.Sprintf("removed through the overlay while held; lower layer %d still holds %s with the held inode number %d (CRIU dumps it as a link remap)", lower, quote.String(rel), lowerSt.Ino))
			return set(manifest.WhitedOut, lower)
		}
		if upper != nil && lower < 0 {
			out.Notes = append(out.Notes, fmt.Sprintf("unlinked while held with %d link(s) left and in no lower layer: an upper file with another name (a hard link)", held.Nlink))
			return set(manifest.UpperOnly, -1)
		}
		return Place{Why: fmt.Sprintf("unlinked while held with %d link(s) left, but no lower layer holds %s with inode number %d; %s", held.Nlink, quote.String(rel), held.Ino, ls.view)}
	}
	if upper != nil && upper.root == nil {
		return Place{Why: fmt.Sprintf("the upper layer %s could not be looked at: %s", quote.String(ov.Upper), strings.Join(ls.notes, "; "))}
	}
	if upper != nil {
		st, err := upper.stat(rel)
		switch {
		case err == nil && isWhiteout(&st):
			return Place{Why: fmt.Sprintf("the upper layer holds a whiteout at %s, yet the resolver found the file linked there (changed since?)", quote.String(rel))}
		case err == nil:
			if st.Mode&unix.S_IFMT == unix.S_IFDIR && lower >= 0 {
				out.Notes = append(out.Notes, "a directory: the overlay merges it from the upper layer and every lower layer holding it")
			}
			if meta, note := upper.metacopy(rel, &st, ov.UserXattr); meta {
				if note != "" {
					out.Notes = append(out.Notes, note)
				}
				if lower < 0 {
					out.Notes = append(out.Notes, "metacopy upper file, but no lower layer holds the same path: its data is where the overlay.redirect xattr says (not followed)")
				}
				return set(manifest.Metacopy, lower)
			} else if note != "" {
				out.Notes = append(out.Notes, note)
			}
			if lower >= 0 {
				if hides, note := upper.hidesLower(rel, &st, ov.UserXattr); hides {
					out.Notes = append(out.Notes, note)
					out.LayerDir = ""
					return set(manifest.UpperOnly, -1)
				}
				return set(manifest.CopiedUp, lower)
			}
			return set(manifest.UpperOnly, -1)
		case !errors.Is(err, fs.ErrNotExist):
			return Place{Why: fmt.Sprintf("stat of %s in the upper layer %s: %v", quote.String(rel), quote.String(ov.Upper), err)}
		}
	}
	if lower >= 0 {
		if !matchesAny(lowerSt.Ino, layerInos(held.Ino, ov)) {
			out.Notes = append(out.Notes, fmt.Sprintf("the held inode number %d is not lower layer %d's %d (layers on several filesystems without xino?)", held.Ino, lower, lowerSt.Ino))
		}
		return set(manifest.Lower, lower)
	}
	return Place{Why: fmt.Sprintf("no layer holds %s: %s", quote.String(rel), strings.Join(ls.notes, "; "))}
}

// firstLower is the index (0: topmost) of the topmost lower layer
// holding rel, and its lstat; -1 when none does. A whiteout in a lower
// layer ends the search (it hides the layers below), and so does, in a
// layer that lacks rel, an ancestor of rel that hides what is below it
// (hidesBelow); an unreachable layer is skipped with a note.
func firstLower(lowers []openLayer, rel string, userXattr bool) (int, unix.Stat_t, string) {
	var note string
	for i := range lowers {
		ly := &lowers[i]
		if ly.root == nil {
			note = fmt.Sprintf("%s (%s) not reachable: skipped", ly.hit.Layer, quote.String(ly.hit.Dir))
			continue
		}
		st, err := ly.stat(rel)
		if err != nil {
			if hides, why := ly.hidesBelow(rel, userXattr); hides {
				return -1, unix.Stat_t{}, why
			}
			continue
		}
		if isWhiteout(&st) {
			return -1, st, fmt.Sprintf("%s holds a whiteout at %s: the layers below do not show it", ly.hit.Layer, quote.String(rel))
		}
		return i, st, note
	}
	return -1, unix.Stat_t{}, note
}

// isWhiteout: overlay's whiteout is a char device 0:0.
func isWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// metacopy reports whether the upper file at rel carries the overlay's
// metacopy xattr. Only a regular file can; it is opened O_PATH (no open
// of the file itself: a FIFO swapped in cannot block us) and the xattr
// read through its /proc/self/fd link, which names that very inode.
func (ly *openLayer) metacopy(rel string, st *unix.Stat_t, userXattr bool) (bool, string) {
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return false, ""
	}
	name := "trusted.overlay.metacopy"
	if userXattr {
		name = "user.overlay.metacopy"
	}
	f, err := ly.open(rel, unix.O_PATH)
	if err != nil {
		return false, fmt.Sprintf("metacopy xattr of %s in the upper layer not read: %v", quote.String(rel), err)
	}
	defer f.Close()
	_, err = unix.Getxattr("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), name, nil)
	switch {
	case err == nil:
		return true, fmt.Sprintf("the upper file carries %s: metadata only, data in a lower layer", name)
	case errors.Is(err, unix.ENODATA), errors.Is(err, unix.ENOTSUP):
		return false, ""
	}
	return false, fmt.Sprintf("metacopy xattr %s of %s in the upper layer not read: %v", name, quote.String(rel), err)
}

// placeKey is one classification: many holders of one file (a library
// mapped in a hundred VMAs) share it, so the cost is per file, not per
// holder.
type placeKey struct {
	m       *mountns.Mount
	rel     string
	dev     uint64
	ino     uint64
	deleted bool
}

// placer classifies the results of one process, once per file.
type placer struct {
	layers *Layers
	memo   map[placeKey]Place
	// located counts the Locate calls made (the layer lookups), for the
	// cost tests.
	located int
}

// place is the Place of one result: an empty one when it has no mount
// (Unresolved) or its mount is not an overlay.
func (p *placer) place(res *Result) Place {
	m := res.Mount
	if m == nil || m.Overlay == nil || res.Path == nil || res.Verdict == Skipped || res.Verdict == Unresolved {
		return Place{}
	}
	h := Held{Dev: res.Dev, Ino: res.Ino, Deleted: res.Deleted}
	if st := heldStat(res.Object); st != nil {
		h.Nlink, h.HaveNlink = st.Nlink, true
	}
	rel := overlayRel(m, res.Path)
	key := placeKey{m: m, rel: rel, dev: h.Dev, ino: h.Ino, deleted: h.Deleted}
	if pl, ok := p.memo[key]; ok {
		return pl
	}
	p.located++
	pl := p.layers.Locate(m, rel, h)
	p.memo[key] = pl
	return pl
}

// heldStat is the stat of the held inode: a mapping's through map_files
// (maps' own dev:ino may be the layer's), any other object's through its
// link.
func heldStat(o *fdinfo.Object) *fdinfo.Stat {
	if o.Kind == fdinfo.KindMap && o.Map != nil {
		return o.Map.MapFiles
	}
	return o.Stat
}

// ancestors are the directories above rel, topmost first ("/a/b/c":
// "/a", "/a/b").
func ancestors(rel string) []string {
	var out []string
	for i := 1; i < len(rel); i++ {
		if rel[i] == '/' {
			out = append(out, rel[:i])
		}
	}
	return out
}

// hidesBelow reports whether a lower layer that lacks rel still hides the
// layers below it at rel: an ancestor there that is a whiteout or not a
// directory ends the merge, and so does an opaque directory
// (trusted.overlay.opaque "y"; with userxattr user.overlay.opaque). One
// stat per ancestor the layer has, plus one xattr read per directory;
// only for layers without rel.
func (ly *openLayer) hidesBelow(rel string, userXattr bool) (bool, string) {
	for _, a := range ancestors(rel) {
		st, err := ly.stat(a)
		if err != nil {
			return false, "" // the layer has nothing at a: it hides nothing below
		}
		switch {
		case isWhiteout(&st):
			return true, fmt.Sprintf("%s holds a whiteout at %s: the layers below do not show %s", ly.hit.Layer, quote.String(a), quote.String(rel))
		case st.Mode&unix.S_IFMT != unix.S_IFDIR:
			return true, fmt.Sprintf("%s holds a non-directory at %s: the layers below do not show %s", ly.hit.Layer, quote.String(a), quote.String(rel))
		}
		if ly.opaque(a, userXattr) {
			return true, fmt.Sprintf("%s holds an opaque directory at %s: the layers below do not show %s", ly.hit.Layer, quote.String(a), quote.String(rel))
		}
	}
	return false, ""
}

// hidesLower reports whether the upper layer, which holds rel (st), hides
// every lower layer at rel: an opaque directory at an ancestor of rel, or
// at rel itself when it is a directory. A container that removed a lower
// directory and made it again (rm -rf /d; mkdir /d) gets an opaque /d:
// what it then creates under /d is new, not a copy-up of the hidden lower
// file of the same path.
func (ly *openLayer) hidesLower(rel string, st *unix.Stat_t, userXattr bool) (bool, string) {
	dirs := ancestors(rel)
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		dirs = append(dirs, rel)
	}
	for _, a := range dirs {
		if ly.opaque(a, userXattr) {
			return true, fmt.Sprintf("the upper layer's %s is an opaque directory (made again after the lower one was removed): no lower layer shows through it", quote.String(a))
		}
	}
	return false, ""
}

// opaque reports whether the directory a of the layer carries the opaque
// xattr with value "y" ("x", 6.7+, marks a directory holding xattr
// whiteouts, not an opaque one). Read through an O_PATH fd's
// /proc/self/fd link, as metacopy; any error is "not opaque".
func (ly *openLayer) opaque(a string, userXattr bool) bool {
	name := "trusted.overlay.opaque"
	if userXattr {
		name = "user.overlay.opaque"
	}
	f, err := ly.open(a, unix.O_PATH)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 4)
	n, err := unix.Getxattr("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), name, buf)
	return err == nil && n == 1 && buf[0] == 'y'
}
