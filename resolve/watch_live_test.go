package resolve

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/internal/scenario"
	"golang.org/x/sys/unix"
)

func p(s string) []byte { return []byte(s) }

// watchFiles are the steps of one overlay "main" on base/merged with the
// objects every watch test looks at: a lower-only file, a copied-up file,
// a pure-upper file, a lower directory and a file renamed after copy-up,
// each watched; the lower-only and pure-upper files are also held open
// (hints for ResolveAll). upper/work are under upperBase.
func watchFiles(upperBase, opts string, extra ...scenario.Step) []scenario.Step {
	steps := []scenario.Step{
		{Do: "mkdir", Path: p("lower/dir/sub")},
		{Do: "mkdir", Path: p(upperBase + "/upper")},
		{Do: "mkdir", Path: p(upperBase + "/work")},
		{Do: "write", Path: p("lower/lower-only.txt"), Content: "l"},
		{Do: "write", Path: p("lower/copied.txt"), Content: "c"},
		{Do: "write", Path: p("lower/old-name.txt"), Content: "r"},
		{Do: "write", Path: p("lower/dir/sub/inner.txt"), Content: "i"},
		{Do: "overlay", Path: p("merged"), Lower: []string{"lower"}, Upper: upperBase + "/upper", Work: upperBase + "/work", Opts: opts, Label: "main"},
		{Do: "copyup", Path: p("merged/copied.txt")},
		{Do: "write", Path: p("merged/pure-upper.txt"), Content: "u"},
		{Do: "rename", Src: p("merged/old-name.txt"), Path: p("merged/renamed.txt")},
		{Do: "open", Path: p("merged/lower-only.txt"), Label: "fd-lower"},
		{Do: "open", Path: p("merged/pure-upper.txt"), Label: "fd-upper"},
		{Do: "watch", Path: p("merged/lower-only.txt"), Label: "lower-only"},
		{Do: "watch", Path: p("merged/copied.txt"), Label: "copied-up"},
		{Do: "watch", Path: p("merged/pure-upper.txt"), Label: "pure-upper"},
		{Do: "watch", Path: p("merged/dir/sub"), Label: "directory"},
		{Do: "watch", Path: p("merged/renamed.txt"), Label: "renamed"},
	}
	return append(steps, extra...)
}

// watchWant is what one watch must resolve to: the route without hints
// (Resolve) and with them (ResolveAll).
type watchWant struct {
	label           string
	alone, withHint WatchRoute
}

// checkWatches resolves each watch both ways and compares it with the
// child's own view: its path, the overlay's mount id from the child's
// mountinfo, stat(2) dev:ino in the child's namespace, and the route.
func checkWatches(t *testing.T, lp *liveProc, mountLabel string, wants []watchWant) {
	t.Helper()
	checkWatchesOn(t, lp, lp.mountID(t, mountLabel), wants)
}

// checkWatchesOn is checkWatches for the mount with id mnt.
func checkWatchesOn(t *testing.T, lp *liveProc, mnt int, wants []watchWant) {
	t.Helper()
	all := lp.r.ResolveAll(lp.objs)
	for _, w := range wants {
		h := lp.held(t, w.label)
		o := lp.object(t, h)
		alone := lp.r.Resolve(o)
		for _, c := range []struct {
			how   string
			res   *Result
			route WatchRoute
		}{{"Resolve", &alone, w.alone}, {"ResolveAll", resultFor(t, all, o), w.withHint}} {
			r := c.res
			if r.Verdict != OK || !bytes.Equal(r.Path, h.Path) || r.MntID != mnt || r.Ino != h.Ino || r.Dev != h.Dev || r.Route != c.route {
				t.Errorf("%s %s: got %s %q mnt %d %d/%d route %q (%s)\n  want ok %q mnt %d %d/%d route %q\n  evidence %q",
					c.how, w.label, r.Verdict, r.Path, r.MntID, r.Dev, r.Ino, r.Route, r.Reason,
					h.Path, mnt, h.Dev, h.Ino, c.route, r.Evidence)
			}
		}
	}
}

// TestWatchRoutesSameFS: all layers on one tmpfs, module defaults (no
// nfs_export): handles are encode-only, so the layer walk finds every
// watch whose inode number is a layer's, and only the file renamed after
// copy-up (upper name, lower origin's inode number) needs the merged walk.
func TestWatchRoutesSameFS(t *testing.T) {
	lp := startLive(t, func(base string) scenario.Spec {
		return scenario.Spec{Base: base, Steps: watchFiles(".", "")}
	})
	checkWatches(t, lp, "main", []watchWant{
		{"lower-only", RouteLayers, RouteHint},
		{"copied-up", RouteLayers, RouteLayers},
		{"pure-upper", RouteLayers, RouteHint},
		{"directory", RouteLayers, RouteLayers},
		{"renamed", RouteMergedWalk, RouteMergedWalk},
	})
}

// TestWatchRoutesHandle: nfs_export=on (with index=on, which it needs)
// makes overlay handles decodable: open_by_handle_at finds every watch,
// the renamed file included.
func TestWatchRoutesHandle(t *testing.T) {
	lp := startLive(t, func(base string) scenario.Spec {
		return scenario.Spec{Base: base, Steps: watchFiles(".", "index=on,nfs_export=on")}
	})
	checkWatches(t, lp, "main", []watchWant{
		{"lower-only", RouteHandle, RouteHint},
		{"copied-up", RouteHandle, RouteHandle},
		{"pure-upper", RouteHandle, RouteHint},
		{"directory", RouteHandle, RouteHandle},
		{"renamed", RouteHandle, RouteHandle},
	})
}

// TestWatchRoutesTwoFS: the upper layer on a tmpfs of its own, so the
// layers are on two filesystems. With xino=off (6.18's default) files keep
// their real inode numbers but directories get non-persistent ones, so
// the directory needs the merged walk. With xino=on the lower file numbers
// carry the lower's fsid in the top bits, which the layer walk masks.
func TestWatchRoutesTwoFS(t *testing.T) {
	for _, xino := range []string{"xino=off", "xino=on"} {
		t.Run(xino, func(t *testing.T) {
			lp := startLive(t, func(base string) scenario.Spec {
				return scenario.Spec{Base: base, Steps: append([]scenario.Step{{Do: "tmpfs", Path: p("up")}}, watchFiles("up", xino)...)}
			})
			dir := RouteMergedWalk
			if xino == "xino=on" {
				dir = RouteLayers
			}
			checkWatches(t, lp, "main", []watchWant{
				{"lower-only", RouteLayers, RouteHint},
				{"copied-up", RouteLayers, RouteLayers},
				{"pure-upper", RouteLayers, RouteHint},
				{"directory", dir, dir},
				{"renamed", RouteMergedWalk, RouteMergedWalk},
			})
			// The real inode of the lower file, read through the child's
			// root, is the overlay's own number or (xino) one of the
			// layer walk's masked candidates.
			h := lp.held(t, "lower-only")
			var real unix.Stat_t
			base := filepath.Dir(lp.c.Mounts["main"].Mountpoint)
			if err := unix.Lstat(fmt.Sprintf("/proc/%d/root%s/lower/lower-only.txt", lp.c.PID, base), &real); err != nil {
				t.Fatal(err)
			}
			inos := layerInos(h.Ino, lp.r.Table.ByID(lp.mountID(t, "main")).Overlay)
			if (xino == "xino=on") != (real.Ino != h.Ino) || !slices.Contains(inos, real.Ino) {
				t.Errorf("%s: overlay inode %#x, real lower inode %#x, layer walk candidates %#x", xino, h.Ino, real.Ino, inos)
			}
		})
	}
}

// TestWatchHostLayersPivot: a runtime (this process, in a mount
// namespace of its own) mounts the overlay, and the target pivot_roots
// into it, as a container does: the layers are the runtime's, reachable
// from our root only, and looked up there because the overlay's
// superblock is mounted in our namespace. Paths are the target's
// ("/lower-only.txt").
func TestWatchHostLayersPivot(t *testing.T) {
	asRuntime(t, func(t *testing.T) {
		ro := mountRuntimeOverlay(t, func(lower string) {
			writeFiles(t, lower, map[string]string{"lower-only.txt": "l", "dir/copied.txt": "c"})
		})
		lp := startLive(t, func(base string) scenario.Spec {
			return scenario.Spec{Base: base, HostLayers: true, Steps: []scenario.Step{
				{Do: "pivot", Path: stepPath(t, base, ro.Path("merged"))},
				{Do: "copyup", Path: p("/dir/copied.txt")},
				{Do: "write", Path: p("/pure-upper.txt"), Content: "u"},
				{Do: "watch", Path: p("/lower-only.txt"), Label: "lower-only"},
				{Do: "watch", Path: p("/dir/copied.txt"), Label: "copied-up"},
				{Do: "watch", Path: p("/pure-upper.txt"), Label: "pure-upper"},
			}}
		})
		if _, err := lp.r.Root.Stat(ro.Path("lower")); err == nil {
			t.Fatalf("the host path of the layers is reachable inside the target: the test does not test host layers")
		}
		rootMnt := lp.r.Table.ByMountpoint("/")
		if rootMnt == nil || rootMnt.FSType != "overlay" {
			t.Fatalf("the target's root is not the runtime's overlay: %+v", rootMnt)
		}
		checkWatchesOn(t, lp, rootMnt.ID, []watchWant{
			{"lower-only", RouteLayers, RouteLayers},
			{"copied-up", RouteLayers, RouteLayers},
			{"pure-upper", RouteLayers, RouteLayers},
		})
		r := lp.r.Resolve(lp.object(t, lp.held(t, "lower-only")))
		if !hasNote(r.Evidence, "from the host's view") {
			t.Errorf("evidence does not say the layers are the host's: %q", r.Evidence)
		}
	})
}

// TestWatchDeepTree: one watched file deep in a lower tree of a few
// thousand files (written on the host before the child starts: too many
// for the spec's steps), with and without the process holding it open.
func TestWatchDeepTree(t *testing.T) {
	lp := startLive(t, func(base string) scenario.Spec {
		deep := buildTree(t, base, 8, 4, 60, true)
		return treeSpec(base, deep, true, false)
	})
	checkWatches(t, lp, "main", []watchWant{{"deep", RouteLayers, RouteHint}})
}

// TestWatchDeleted: watched files unlinked while the process holds them
// open: the watch stays, no path names the inode any more. The verdict is
// unresolved, with a reason that says what was seen.
func TestWatchDeleted(t *testing.T) {
	lp := startLive(t, func(base string) scenario.Spec {
		return scenario.Spec{Base: base, Steps: watchFiles(".", "",
			scenario.Step{Do: "write", Path: p("merged/gone-upper.txt"), Content: "g"},
			scenario.Step{Do: "write", Path: p("lower/gone-lower.txt"), Content: "g"},
			scenario.Step{Do: "open", Path: p("merged/gone-upper.txt")},
			scenario.Step{Do: "open", Path: p("merged/gone-lower.txt")},
			scenario.Step{Do: "watch", Path: p("merged/gone-upper.txt"), Label: "gone-upper"},
			scenario.Step{Do: "watch", Path: p("merged/gone-lower.txt"), Label: "gone-lower"},
			scenario.Step{Do: "unlink", Path: p("merged/gone-upper.txt")},
			scenario.Step{Do: "unlink", Path: p("merged/gone-lower.txt")},
		)}
	})
	all := lp.r.ResolveAll(lp.objs)
	for _, c := range []struct {
		label             string
		alone, withHint   string // in the reason
		aloneAlso, hinted string
	}{
		{"gone-upper", "is in none of the", "the file was deleted", "merged walk: not among", "gone-upper.txt (deleted)"},
		{"gone-lower", "no visible mount shows the watched inode there", "the file was deleted", "gone-lower.txt", "gone-lower.txt (deleted)"},
	} {
		h := lp.held(t, c.label)
		o := lp.object(t, h)
		alone := lp.r.Resolve(o)
		hinted := resultFor(t, all, o)
		for _, r := range []struct {
			res  *Result
			want []string
		}{{&alone, []string{c.alone, c.aloneAlso}}, {hinted, []string{c.withHint, c.hinted}}} {
			if r.res.Verdict != Unresolved || r.res.MntID != -1 || r.res.Path != nil {
				t.Errorf("%s: %s %q mnt %d, want unresolved with no path or mount\n  evidence %q", c.label, r.res.Verdict, r.res.Path, r.res.MntID, r.res.Evidence)
			}
			for _, w := range r.want {
				if !strings.Contains(r.res.Reason, w) {
					t.Errorf("%s: reason %q does not say %q", c.label, r.res.Reason, w)
				}
			}
		}
	}
}
