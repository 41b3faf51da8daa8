package resolve_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/manifest"
	"github.com/ovlfix/ovlfix/resolve"
	"golang.org/x/sys/unix"
)

// provenanceOdd is a container-chosen name: newline, quotes, a backslash.
const provenanceOdd = "odd\n\"name\"\\x"

// provenanceSpec: a 2-lower-layer overlay ("ovl": lowerdir=l0:l1, l0 on
// top) holding one file of every kind of place, and a metacopy=on overlay
// ("meta") with a file whose metadata alone was copied up by a chmod.
func provenanceSpec(base string) scenario.Spec {
	return scenario.Spec{Base: base, Steps: []scenario.Step{
		{Do: "write", Path: b("l0/top"), Content: "t"},
		{Do: "write", Path: b("l1/bottom"), Content: "bottom"},
		{Do: "write", Path: b("l0/shadow"), Content: "upper one"},
		{Do: "write", Path: b("l1/shadow"), Content: "lower one"},
		{Do: "write", Path: b("l1/cu"), Content: "copied"},
		{Do: "write", Path: b("l0/wo"), Content: "whited out"},
		{Do: "write", Path: b("l1/mapped"), Content: "mapped"},
		{Do: "write", Path: b("l0/" + provenanceOdd), Content: "odd"},
		{Do: "write", Path: b("up/new"), Content: "new"},
		{Do: "write", Path: b("up/gone"), Content: "gone"},
		{Do: "write", Path: b("up/h1"), Content: "hard"},
		{Do: "link", Src: b("up/h1"), Path: b("up/h2")},
		{Do: "mkdir", Path: b("work")},
		{Do: "overlay", Path: b("merged"), Lower: []string{"l0", "l1"}, Upper: "up", Work: "work", Label: "ovl"},
		{Do: "open", Path: b("merged/top"), Label: "lower 0"},
		{Do: "open", Path: b("merged/bottom"), Label: "lower 1"},
		{Do: "open", Path: b("merged/shadow"), Label: "shadowing lower 0"},
		{Do: "copyup", Path: b("merged/cu")},
		{Do: "open", Path: b("merged/cu"), Label: "copied up"},
		{Do: "open", Path: b("merged/new"), Label: "upper only"},
		{Do: "open", Path: b("merged/wo"), Label: "whited out"},
		{Do: "unlink", Path: b("merged/wo")},
		{Do: "open", Path: b("merged/gone"), Label: "upper removed"},
		{Do: "unlink", Path: b("merged/gone")},
		{Do: "open", Path: b("merged/h1"), Label: "upper hard link removed"},
		{Do: "unlink", Path: b("merged/h1")},
		{Do: "mmap", Path: b("merged/mapped"), Label: "mapped lower 1"},
		{Do: "open", Path: b("merged/" + provenanceOdd), Label: "odd name"},
		{Do: "chdir", Path: b("merged"), Label: "cwd at the overlay's root"},

		{Do: "write", Path: b("ml/data"), Content: "metacopy data"},
		{Do: "mkdir", Path: b("mu")},
		{Do: "mkdir", Path: b("mw")},
		{Do: "overlay", Path: b("mmerged"), Lower: []string{"ml"}, Upper: "mu", Work: "mw", Opts: "redirect_dir=on,metacopy=on", Label: "meta"},
		{Do: "chmod", Path: b("mmerged/data")},
		{Do: "open", Path: b("mmerged/data"), Label: "metacopy"},
	}}
}

type placeCase struct {
	label, where string
	layer        int    // -1: none
	dir          string // the layer directory under base ("" with layer -1)
	upper        string
}

var placeCases = []placeCase{
	{"lower 0", manifest.Lower, 0, "l0", "up"},
	{"lower 1", manifest.Lower, 1, "l1", "up"},
	{"shadowing lower 0", manifest.Lower, 0, "l0", "up"},
	{"copied up", manifest.CopiedUp, 1, "l1", "up"},
	{"upper only", manifest.UpperOnly, -1, "", "up"},
	{"whited out", manifest.WhitedOut, 0, "l0", "up"},
	{"upper removed", manifest.UpperOnly, -1, "", "up"},
	{"upper hard link removed", manifest.UpperOnly, -1, "", "up"},
	{"mapped lower 1", manifest.Lower, 1, "l1", "up"},
	{"odd name", manifest.Lower, 0, "l0", "up"},
	{"cwd at the overlay's root", manifest.CopiedUp, 0, "l0", "up"},
	{"metacopy", manifest.Metacopy, 0, "ml", "mu"},
}

// TestProvenanceLive: Session.Resolve with Provenance tells, for held
// files of a real 2-lower-layer overlay and a metacopy=on overlay, the
// place each lives in, its lower layer index and that layer's directory
// as the overlay options name it; each answer is checked against the
// layer directories on disk (the file exists there, with the content the
// child wrote), not against ovlfix.
func TestProvenanceLive(t *testing.T) {
	c := scenariotest.StartT(t, "", provenanceSpec)
	base := strings.TrimSuffix(c.Mounts["ovl"].Mountpoint, "/merged")
	res := resolveWithPlaces(t, c.PID)
	if len(res.Places) != len(res.Results) {
		t.Fatalf("%d places for %d results", len(res.Places), len(res.Results))
	}
	for _, pc := range placeCases {
		h := held(t, c, pc.label)
		i := resultIndex(t, res.Results, h)
		pl := res.Places[i]
		ov := pl.Overlay
		if ov == nil {
			t.Errorf("%s: no place: %s (result %s %q: %s)", pc.label, pl.Why, res.Results[i].Verdict, res.Results[i].Path, res.Results[i].Reason)
			continue
		}
		wantDir := ""
		if pc.dir != "" {
			wantDir = filepath.Join(base, pc.dir)
		}
		if ov.Where != pc.where || ov.Layer != pc.layer || ov.LayerDir != wantDir || ov.UpperDir != filepath.Join(base, pc.upper) {
			t.Errorf("%s: got %s layer %d %q upper %q, want %s layer %d %q upper %q\n  notes %q",
				pc.label, ov.Where, ov.Layer, ov.LayerDir, ov.UpperDir, pc.where, pc.layer, wantDir, filepath.Join(base, pc.upper), ov.Notes)
		}
		t.Logf("%s: %s layer %d %q; notes %q", pc.label, ov.Where, ov.Layer, ov.LayerDir, ov.Notes)
		checkOnDisk(t, c, pc, h, ov)
	}
}

// checkOnDisk checks a place against the layers as the child's namespace
// has them (/proc/<pid>/root): the named layer holds the file's name;
// copied-up, upper and metacopy files are in the upper layer, others not.
func checkOnDisk(t *testing.T, c *scenario.Child, pc placeCase, h scenario.Held, ov *manifest.Overlay) {
	t.Helper()
	root := fmt.Sprintf("/proc/%d/root", c.PID)
	merged := "/merged"
	if pc.upper == "mu" {
		merged = "/mmerged"
	}
	name := strings.TrimPrefix(string(h.Path), strings.TrimSuffix(ov.UpperDir, "/"+pc.upper)+merged)
	inUpper := lstatOK(filepath.Join(root, ov.UpperDir, name))
	if ov.Layer >= 0 && !lstatOK(filepath.Join(root, ov.LayerDir, name)) {
		t.Errorf("%s: layer dir %s holds no %q", pc.label, ov.LayerDir, name)
	}
	switch ov.Where {
	case manifest.Lower:
		if inUpper {
			t.Errorf("%s: lower, but the upper layer holds %q", pc.label, name)
		}
	case manifest.CopiedUp, manifest.Metacopy:
		if !inUpper {
			t.Errorf("%s: %s, but the upper layer holds no %q", pc.label, ov.Where, name)
		}
	case manifest.WhitedOut:
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, ov.UpperDir, name), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
			t.Errorf("%s: whited out, but the upper layer has no whiteout at %q (%v)", pc.label, name, err)
		}
	}
	if ov.Where == manifest.Metacopy {
		if _, err := unix.Lgetxattr(filepath.Join(root, ov.UpperDir, name), "trusted.overlay.metacopy", nil); err != nil {
			t.Errorf("%s: upper file has no metacopy xattr: %v", pc.label, err)
		}
	}
}

func lstatOK(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func resultIndex(t *testing.T, rs []resolve.Result, h scenario.Held) int {
	t.Helper()
	r := result(t, rs, h)
	for i := range rs {
		if &rs[i] == r {
			return i
		}
	}
	return -1
}

// TestProvenanceManyMappings: one file mapped in 400 VMAs is classified
// once (Located counts the layer lookups): the cost of provenance is per
// file, not per holder, whatever a container maps.
func TestProvenanceManyMappings(t *testing.T) {
	const maps = 400
	c := scenariotest.StartT(t, "", func(base string) scenario.Spec {
		steps := []scenario.Step{
			{Do: "write", Path: b("l0/lib.so"), Content: "lib"},
			{Do: "mkdir", Path: b("up")}, {Do: "mkdir", Path: b("work")},
			{Do: "overlay", Path: b("merged"), Lower: []string{"l0"}, Upper: "up", Work: "work", Label: "ovl"},
		}
		for range maps {
			steps = append(steps, scenario.Step{Do: "mmap", Path: b("merged/lib.so")})
		}
		return scenario.Spec{Base: base, Steps: steps}
	})
	res := resolveWithPlaces(t, c.PID)
	n := 0
	for i, r := range res.Results {
		if r.Object.Kind == fdinfo.KindMap && strings.HasSuffix(string(r.Path), "/lib.so") {
			n++
			if ov := res.Places[i].Overlay; ov == nil || ov.Where != manifest.Lower || ov.Layer != 0 {
				t.Fatalf("mapping %d: place %+v %s", i, ov, res.Places[i].Why)
			}
		}
	}
	if n < maps {
		t.Fatalf("%d mappings of lib.so, want %d", n, maps)
	}
	// cwd and exe are not on the overlay: the lib is the one overlay file.
	if res.Located != 1 {
		t.Errorf("%d layer lookups for %d mappings of one file, want 1", res.Located, n)
	}
}

// TestProvenanceCost50: for a 50-fd task on a 2-lower-layer overlay
// (the post-dump freeze budget's reference container), provenance costs
// one classification per file (Located == 50): at most one stat per
// layer and one xattr read each. The added time is logged.
func TestProvenanceCost50(t *testing.T) {
	const n = 50
	c := scenariotest.StartT(t, "", func(base string) scenario.Spec {
		steps := []scenario.Step{{Do: "mkdir", Path: b("l0")}, {Do: "mkdir", Path: b("up")}, {Do: "mkdir", Path: b("work")}}
		for i := range n {
			steps = append(steps, scenario.Step{Do: "write", Path: b(fmt.Sprintf("l1/f%d", i)), Content: "x"})
		}
		steps = append(steps, scenario.Step{Do: "overlay", Path: b("merged"), Lower: []string{"l0", "l1"}, Upper: "up", Work: "work", Label: "ovl"})
		for i := range n {
			steps = append(steps, scenario.Step{Do: "open", Path: b(fmt.Sprintf("merged/f%d", i))})
		}
		return scenario.Spec{Base: base, Steps: steps}
	})
	var s fdinfo.Scanner
	p, err := s.Scan(c.PID)
	if err != nil {
		t.Fatal(err)
	}
	spent := map[bool]time.Duration{}
	for _, prov := range []bool{false, true, false, true} {
		sess, err := resolve.NewSession(resolve.SessionOptions{TrustFdLinks: true, Provenance: prov})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		res, err := sess.Resolve(context.Background(), c.PID, p.Objects)
		spent[prov] = time.Since(start) // the second round of each counts
		sess.Close()
		if err != nil {
			t.Fatal(err)
		}
		if prov && res.Located != n {
			t.Errorf("%d classifications for %d files on the overlay, want %d", res.Located, n, n)
		}
		if !prov && res.Places != nil {
			t.Errorf("places made without Provenance")
		}
	}
	t.Logf("resolving %d fds: %v without provenance, %v with (%v added)", n, spent[false], spent[true], spent[true]-spent[false])
}

// resolveWithPlaces scans pid and resolves every object with provenance,
// in a Session of its own (closed with the test).
func resolveWithPlaces(t *testing.T, pid int) *resolve.Resolved {
	t.Helper()
	sess, err := resolve.NewSession(resolve.SessionOptions{Provenance: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	var s fdinfo.Scanner
	p, err := s.Scan(pid)
	if err != nil {
		t.Fatal(err)
	}
	res, err := sess.Resolve(context.Background(), pid, p.Objects)
	if err != nil {
		t.Fatal(err)
	}
	return res
}
