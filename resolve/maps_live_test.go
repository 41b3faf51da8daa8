package resolve_test

import (
	"testing"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/resolve"
	"golang.org/x/sys/unix"
)

// TestMapsWithoutMapFiles is the unprivileged case (CRIU #2312): no
// map_files, only the maps line. Before 6.8 its dev:ino is the layer
// inode (for a copied-up file the upper one, while st_ino keeps the lower
// origin's), so only the layer lookup can tie it to the overlay path; on
// 6.8+ the line is the overlay's. Lower-only, copied-up and upper-only
// files, on one filesystem and on an overlay whose layers are on two.
func TestMapsWithoutMapFiles(t *testing.T) {
	c := scenariotest.StartT(t, "", func(base string) scenario.Spec {
		return scenario.Spec{Base: base, Steps: []scenario.Step{
			{Do: "write", Path: b("lower/lower.bin"), Content: "l"},
			{Do: "write", Path: b("lower/copied.bin"), Content: "c"},
			{Do: "write", Path: b("upper/upper.bin"), Content: "u"},
			{Do: "mkdir", Path: b("work")},
			{Do: "overlay", Path: b("merged"), Lower: []string{"lower"}, Upper: "upper", Work: "work", Label: "one-fs"},
			{Do: "copyup", Path: b("merged/copied.bin")},
			{Do: "mmap", Path: b("merged/lower.bin"), Label: "one-fs lower"},
			{Do: "mmap", Path: b("merged/copied.bin"), Label: "one-fs copied"},
			{Do: "mmap", Path: b("merged/upper.bin"), Label: "one-fs upper"},
			{Do: "tmpfs", Path: b("t1")},
			{Do: "tmpfs", Path: b("t2")},
			{Do: "write", Path: b("t1/lower/lower.bin"), Content: "l"},
			{Do: "write", Path: b("t1/lower/copied.bin"), Content: "c"},
			{Do: "write", Path: b("t2/upper/upper.bin"), Content: "u"},
			{Do: "mkdir", Path: b("t2/work")},
			{Do: "overlay", Path: b("split"), Lower: []string{"t1/lower"}, Upper: "t2/upper", Work: "t2/work", Opts: "xino=off", Label: "two-fs"},
			{Do: "copyup", Path: b("split/copied.bin")},
			{Do: "mmap", Path: b("split/lower.bin"), Label: "two-fs lower"},
			{Do: "mmap", Path: b("split/copied.bin"), Label: "two-fs copied"},
			{Do: "mmap", Path: b("split/upper.bin"), Label: "two-fs upper"},
		}}
	})
	tg := openTarget(t, c, c.PID)
	s := fdinfo.Scanner{NoMapFiles: true}
	p, err := s.Scan(c.PID)
	if err != nil {
		t.Fatal(err)
	}
	rs := tg.resolver().ResolveAll(p.Objects)
	for _, fs := range []string{"one-fs", "two-fs"} {
		m := c.Mounts[fs]
		for _, f := range []string{"lower", "copied", "upper"} {
			h := held(t, c, fs+" "+f)
			want := resolve.OK
			if !h.MapsTruthful(m) {
				want = resolve.Fixed
			}
			r := result(t, rs, h)
			expect(t, fs+" "+f, r, want, h.Path, m.ID, h.Dev, h.Ino)
			if r.Object.Map.MapFiles != nil {
				t.Fatalf("%s: map_files was read; the test needs the maps-only path", h.Path)
			}
			t.Logf("%s: kernel maps %d:%d/%d, stat %d:%d/%d → %s", h.Path,
				unix.Major(h.MapsDev), unix.Minor(h.MapsDev), h.MapsIno, unix.Major(h.Dev), unix.Minor(h.Dev), h.Ino, r.Verdict)
		}
	}
}
