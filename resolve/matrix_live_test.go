package resolve_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/resolve"
	"golang.org/x/sys/unix"
)

// The live matrix: real overlays in a private mount namespace, a real
// process holding the files, resolved twice — as this kernel reports it,
// and through the 3.18–4.1 emulator (internal/legacy). Expected paths,
// mounts and inodes come from the scenario's manifest (what the process
// itself saw), never from ovlfix.

// layersSpec: files only in lower, copied up, only in upper, a directory,
// a hard link, renamed / deleted / over-mounted after open, the cwd, a
// mapping and an exe on the overlay.
func layersSpec(base string) scenario.Spec {
	return scenario.Spec{Base: base, Steps: []scenario.Step{
		{Do: "write", Path: b("lower/lower.txt"), Content: "l"},
		{Do: "write", Path: b("lower/copied.txt"), Content: "c"},
		{Do: "write", Path: b("lower/mapped.bin"), Content: "m"},
		{Do: "write", Path: b("lower/ov/f"), Content: "o"},
		{Do: "mkdir", Path: b("lower/sub")},
		{Do: "mkdir", Path: b("lower/bin")},
		{Do: "write", Path: b("upper/upper.txt"), Content: "u"},
		{Do: "write", Path: b("upper/h1"), Content: "h"},
		{Do: "link", Src: b("upper/h1"), Path: b("upper/h2")},
		{Do: "write", Path: b("upper/r1"), Content: "r"},
		{Do: "write", Path: b("upper/d"), Content: "d"},
		{Do: "mkdir", Path: b("work")},
		{Do: "overlay", Path: b("merged"), Lower: []string{"lower"}, Upper: "upper", Work: "work", Label: "main"},
		{Do: "copyup", Path: b("merged/copied.txt")},
		{Do: "open", Path: b("merged/lower.txt"), Label: "lower"},
		{Do: "open-rw", Path: b("merged/copied.txt"), Label: "copied"},
		{Do: "open", Path: b("merged/upper.txt"), Label: "upper"},
		{Do: "open-dir", Path: b("merged/sub"), Label: "dir"},
		{Do: "open", Path: b("merged/h2"), Label: "hardlink"},
		{Do: "open", Path: b("merged/r1"), Label: "renamed"},
		{Do: "rename", Src: b("merged/r1"), Path: b("merged/r2")},
		{Do: "open", Path: b("merged/d"), Label: "deleted"},
		{Do: "unlink", Path: b("merged/d")},
		{Do: "open", Path: b("merged/ov/f"), Label: "overmounted"},
		{Do: "tmpfs", Path: b("merged/ov")},
		{Do: "mmap", Path: b("merged/mapped.bin"), Label: "mapped"},
		{Do: "chdir", Path: b("merged/sub"), Label: "cwd"},
		{Do: "exec", Src: b("/bin/sleep"), Path: b("merged/bin/sleep"), Label: "exe"},
	}}
}

func b(s string) []byte { return []byte(s) }

// mapVerdict is the verdict a mapping must get: Fixed when the kernel's
// maps line (as the process itself read it) shows the layer inode (before
// 6.8) or when the whole view is emulated as 3.18–4.1; else OK.
func mapVerdict(h scenario.Held, m scenario.MountRef, emulated resolve.Verdict) resolve.Verdict {
	if emulated == resolve.Fixed || !h.MapsTruthful(m) {
		return resolve.Fixed
	}
	return resolve.OK
}

func TestLayersLive(t *testing.T)                 { testLayers(t, false) }
func TestLayersEmulatedLegacyKernel(t *testing.T) { testLayers(t, true) }

func testLayers(t *testing.T, old bool) {
	c := scenariotest.StartT(t, "", layersSpec)
	tg := openTarget(t, c, c.PID)
	view, rs := "live", tg.live()
	fixedOnOld := resolve.OK
	if old {
		view, rs, fixedOnOld = "legacy", tg.legacy(), resolve.Fixed
	}
	main := mount(t, c, "main")
	m := c.Mounts["main"].Mountpoint
	for _, tc := range []struct {
		label   string
		verdict resolve.Verdict
		path    string
	}{
		{"lower", fixedOnOld, m + "/lower.txt"},
		{"copied", fixedOnOld, m + "/copied.txt"},
		{"upper", fixedOnOld, m + "/upper.txt"},
		{"dir", resolve.OK, m + "/sub"}, // overlay serves directories itself on every kernel
		{"hardlink", fixedOnOld, m + "/h2"},
		{"renamed", fixedOnOld, m + "/r2"},
		{"mapped", mapVerdict(held(t, c, "mapped"), c.Mounts["main"], fixedOnOld), m + "/mapped.bin"},
		{"cwd", resolve.OK, m + "/sub"},
	} {
		h := held(t, c, tc.label)
		expect(t, view+" "+tc.label, result(t, rs, h), tc.verdict, b(tc.path), main, h.Dev, h.Ino)
	}
	// Deleted while open: the kernel's mount and inode are right on a
	// current kernel; a 3.18–4.1 layer-relative link has nothing left to
	// confirm a mount with.
	h := held(t, c, "deleted")
	r := result(t, rs, h)
	if old {
		expect(t, view+" deleted", r, resolve.Unresolved, nil, -1, 0, 0)
	} else {
		expect(t, view+" deleted", r, resolve.OK, b(m+"/d"), main, h.Dev, h.Ino)
		if !r.Deleted {
			t.Errorf("deleted file not marked deleted")
		}
	}
	// Over-mounted after open: the path no longer reaches the file.
	expect(t, view+" overmounted", result(t, rs, held(t, c, "overmounted")), resolve.Unresolved, nil, -1, 0, 0)

	// The exe of the grandchild runs from the overlay.
	h = held(t, c, "exe")
	tg = openTarget(t, c, h.PID)
	rs = tg.live()
	if old {
		rs = tg.legacy()
	}
	expect(t, view+" exe", result(t, rs, h), fixedOnOld, b(m+"/bin/sleep"), main, h.Dev, h.Ino)
}

// bindSpec: an overlay whose subtree /sub is bind-mounted elsewhere, then
// the overlay itself hidden under a tmpfs, as a runtime exposes one
// directory of a layer stack: mountinfo root "/sub" ≠ "/".
func bindSpec(base string) scenario.Spec {
	return scenario.Spec{Base: base, Steps: []scenario.Step{
		{Do: "write", Path: b("lower/sub/x"), Content: "x"},
		{Do: "mkdir", Path: b("upper")},
		{Do: "mkdir", Path: b("work")},
		{Do: "overlay", Path: b("merged"), Lower: []string{"lower"}, Upper: "upper", Work: "work", Label: "ovl"},
		{Do: "mkdir", Path: b("view")},
		{Do: "bind", Src: b("merged/sub"), Path: b("view"), Label: "view"},
		{Do: "open", Path: b("view/x"), Label: "x"},
		{Do: "tmpfs", Path: b("merged")},
	}}
}

func TestBindSubtreeLive(t *testing.T)                 { testBindSubtree(t, false) }
func TestBindSubtreeEmulatedLegacyKernel(t *testing.T) { testBindSubtree(t, true) }

func testBindSubtree(t *testing.T, old bool) {
	c := scenariotest.StartT(t, "", bindSpec)
	tg := openTarget(t, c, c.PID)
	h := held(t, c, "x")
	view := c.Mounts["view"]
	if got := tg.table.ByID(view.ID); got == nil || got.Root != "/sub" {
		t.Fatalf("bind mount %d: %+v, want mountinfo root /sub", view.ID, got)
	}
	if old {
		r := result(t, tg.legacy(), h)
		expect(t, "legacy", r, resolve.Fixed, b(view.Mountpoint+"/x"), view.ID, h.Dev, h.Ino)
		// CRIU's fixup ignores the mount root and would try
		// mountpoint + link, which is not the file.
		if _, err := tg.root.Stat(view.Mountpoint + "/sub/x"); err == nil {
			t.Errorf("%s/sub/x exists: the test cannot tell the two methods apart", view.Mountpoint)
		}
		return
	}
	expect(t, "live", result(t, tg.live(), h), resolve.OK, b(view.Mountpoint+"/x"), view.ID, h.Dev, h.Ino)
}

// sharedSpec: two overlays sharing one lower layer; the process opens a
// lower-only file through the second and sits in it.
func sharedSpec(base string) scenario.Spec {
	return scenario.Spec{Base: base, Steps: []scenario.Step{
		{Do: "write", Path: b("shared/f"), Content: "f"},
		{Do: "mkdir", Path: b("u1")}, {Do: "mkdir", Path: b("w1")},
		{Do: "mkdir", Path: b("u2")}, {Do: "mkdir", Path: b("w2")},
		{Do: "overlay", Path: b("m1"), Lower: []string{"shared"}, Upper: "u1", Work: "w1", Label: "o1"},
		{Do: "overlay", Path: b("m2"), Lower: []string{"shared"}, Upper: "u2", Work: "w2", Label: "o2"},
		{Do: "open", Path: b("m2/f"), Label: "f"},
		{Do: "chdir", Path: b("m2")},
	}}
}

func TestSharedLowerLive(t *testing.T)                 { testSharedLower(t, false) }
func TestSharedLowerEmulatedLegacyKernel(t *testing.T) { testSharedLower(t, true) }

func testSharedLower(t *testing.T, old bool) {
	c := scenariotest.StartT(t, "", sharedSpec)
	tg := openTarget(t, c, c.PID)
	h := held(t, c, "f")
	o2 := c.Mounts["o2"]
	if !old {
		expect(t, "live", result(t, tg.live(), h), resolve.OK, h.Path, o2.ID, h.Dev, h.Ino)
		return
	}
	// The layer file is the same through both overlays: a 3.18–4.1 kernel
	// lost which one was used. Both must be listed, and the cwd decides.
	r := result(t, tg.legacy(), h)
	expect(t, "legacy", r, resolve.Ambiguous, h.Path, o2.ID, h.Dev, h.Ino)
	matched := 0
	for _, cand := range r.Candidates {
		if cand.Matched {
			matched++
		}
	}
	if matched != 2 {
		t.Errorf("candidates %+v: want both overlays matched", r.Candidates)
	}
}

// pivotSpec is container-like: the runtime (this process, in a mount
// namespace of its own: resolve.AsRuntime) has mounted the root overlay
// on merged, whose layers are reachable from its root only; the process
// pivot_roots into it, then mounts a nested overlay at /data whose lower
// and upper are on two different tmpfs instances (so its files have a
// pseudo st_dev that matches no mount), and a trap file /lowerfile is on
// the root overlay.
func pivotSpec(t *testing.T, merged string) func(base string) scenario.Spec {
	return func(base string) scenario.Spec {
		return scenario.Spec{Base: base, HostLayers: true, Steps: []scenario.Step{
			{Do: "pivot", Path: resolve.StepPath(t, base, merged)},
			{Do: "tmpfs", Path: b("t1")},
			{Do: "tmpfs", Path: b("t2")},
			{Do: "write", Path: b("t1/lower/lowerfile"), Content: "nested"},
			{Do: "mkdir", Path: b("t2/upper")},
			{Do: "mkdir", Path: b("t2/work")},
			{Do: "overlay", Path: b("data"), Lower: []string{"t1/lower"}, Upper: "t2/upper", Work: "t2/work", Opts: "xino=off", Label: "nested"},
			{Do: "open", Path: b("data/lowerfile"), Label: "nested-file"},
			{Do: "open", Path: b("etc/app.conf"), Label: "root-file"},
			{Do: "chdir", Path: b("/"), Label: "cwd"},
		}}
	}
}

func TestPivotRootNestedLive(t *testing.T)                 { testPivotRootNested(t, false) }
func TestPivotRootNestedEmulatedLegacyKernel(t *testing.T) { testPivotRootNested(t, true) }

func testPivotRootNested(t *testing.T, old bool) {
	resolve.AsRuntime(t, func(t *testing.T) {
		ro := resolve.MountRuntimeOverlay(t, func(lower string) {
			for _, d := range []string{"etc", "data", "t1", "t2"} {
				if err := os.Mkdir(filepath.Join(lower, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for name, content := range map[string]string{"etc/app.conf": "a", "lowerfile": "trap"} {
				if err := os.WriteFile(filepath.Join(lower, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
		c := scenariotest.StartT(t, "", pivotSpec(t, ro.Path("merged")))
		checkPivotRootNested(t, c, old)
	})
}

func checkPivotRootNested(t *testing.T, c *scenario.Child, old bool) {
	tg := openTarget(t, c, c.PID)
	view, rs, fixed := "live", tg.live(), resolve.OK
	if old {
		view, rs, fixed = "legacy", tg.legacy(), resolve.Fixed
	}
	rootMnt := tg.table.ByMountpoint("/")
	if rootMnt == nil || rootMnt.FSType != "overlay" {
		t.Fatalf("the target's root is not the runtime's overlay: %+v", rootMnt)
	}
	nested, root := c.Mounts["nested"].ID, rootMnt.ID
	h := held(t, c, "nested-file")
	// CRIU 3.17 moves this fd to the root overlay (docs/kernel-quirks.md §13).
	expect(t, view+" nested file", result(t, rs, h), fixed, b("/data/lowerfile"), nested, h.Dev, h.Ino)
	h = held(t, c, "root-file")
	expect(t, view+" root file", result(t, rs, h), fixed, b("/etc/app.conf"), root, h.Dev, h.Ino)
	h = held(t, c, "cwd")
	expect(t, view+" cwd", result(t, rs, h), resolve.OK, b("/"), root, h.Dev, h.Ino)
	if !old {
		// What makes CRIU's workaround misfire: st_dev of the nested
		// file is a pseudo dev, not the nested overlay's.
		nm := tg.table.ByID(nested)
		if st := held(t, c, "nested-file"); unix.Major(st.Dev) == uint32(nm.Major) && unix.Minor(st.Dev) == uint32(nm.Minor) {
			t.Errorf("nested file st_dev %d:%d is the overlay's: the layers are not on different filesystems", nm.Major, nm.Minor)
		}
	}
}
