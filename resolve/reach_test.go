package resolve

import (
	"path"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/internal/scenario"
)

// TestReachesIsCovering: the per-directory memo of the fast accept gives
// Table.Covering's answer for every path and every mount, on a real mount
// table with a file bind-mounted on a file, an over-mounted directory, a
// stack of two mounts on one directory and a bind mount of a subtree,
// asked in an order that fills the memo with directories first and with
// paths that are not clean (which bypass it).
func TestReachesIsCovering(t *testing.T) {
	lp := startLive(t, func(base string) scenario.Spec {
		return scenario.Spec{Base: base, Steps: []scenario.Step{
			{Do: "tmpfs", Path: p("t")},
			{Do: "write", Path: p("t/d/f"), Content: "f"},
			{Do: "write", Path: p("t/d/g"), Content: "g"},
			{Do: "write", Path: p("t/d/sub/h"), Content: "h"},
			{Do: "write", Path: p("t/src"), Content: "s"},
			{Do: "bind", Src: p("t/src"), Path: p("t/d/g")},
			{Do: "tmpfs", Path: p("t/d/sub")},
			{Do: "tmpfs", Path: p("t/stack")},
			{Do: "tmpfs", Path: p("t/stack")},
			{Do: "mkdir", Path: p("t/view")},
			{Do: "bind", Src: p("t/d"), Path: p("t/view")},
		}}
	})
	tab := lp.r.Table
	var paths []string
	for _, m := range tab.Mounts() {
		mp := m.Mountpoint
		paths = append(paths, path.Join(mp, "x", "y"), path.Join(mp, "x"), mp, path.Dir(mp)+"/y",
			mp+"/./x", mp+"//x", mp+"/x/..", mp+"/..", mp+"/")
	}
	paths = append(paths, "/", "/x", "")
	r := *lp.r
	r.reach = newReachMemo()
	checks := 0
	for _, p := range paths {
		want := tab.Covering(p)
		for _, m := range tab.Mounts() {
			if got := r.reaches([]byte(p), m); got != (want == m) {
				t.Errorf("reaches(%q, mount %d) = %v, but Covering gives mount %d", p, m.ID, got, idOf(want))
			}
			checks++
		}
	}
	if len(r.reach.dirs) == 0 {
		t.Fatalf("the memo was never used")
	}
	t.Logf("%d mounts, %d paths, %d checks, %d directories memoized", len(tab.Mounts()), len(paths), checks, len(r.reach.dirs))
}

func TestLastSlashIfClean(t *testing.T) {
	for p, want := range map[string]bool{
		"/a": true, "/a/b": true, "/.hidden/x": true, "/a/..b": true, "/a/b (deleted)": true,
		"/": false, "": false, "a/b": false, "/a/": false, "/a//b": false,
		"/a/./b": false, "/a/../b": false, "/a/.": false, "/a/..": false, "/.": false,
	} {
		i := lastSlashIfClean([]byte(p))
		if got := i >= 0; got != want {
			t.Errorf("lastSlashIfClean(%q) = %d, want clean: %v", p, i, want)
		}
		if want && i != strings.LastIndexByte(p, '/') {
			t.Errorf("lastSlashIfClean(%q) = %d, the last slash is at %d", p, i, strings.LastIndexByte(p, '/'))
		}
		if want && path.Clean(p) != p {
			t.Errorf("%q is not what path.Clean makes of it", p)
		}
	}
}
