package quirks

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/internal/testenv"
)

// documented is what docs/kernel-quirks.md says a kernel does with the probe's
// default overlays (module defaults: nfs_export off). The values are read
// from the document, not from the probe.
type documented struct {
	why                                                string
	fdPath, mapsIno, mapsDev, pseudo, mapFiles, unique bool
	fhType                                             int
}

// documentedFor returns the documented behaviour of release, if the
// document covers it: ≥6.8 from Matrix A/B/C [E on 6.18], §5 (0xf8
// encode-only since 6.6) and §7 (unique ids since 6.8); 6.1 from §13
// (maps shows the layer's dev, handle type 1) and Matrix B 4.19–6.6
// (layer ino, which differs from st_ino for a copied-up file).
func documentedFor(release string) (documented, bool) {
	v, ok := parseRelease(release)
	switch {
	case !ok:
		return documented{}, false
	case v.atLeast(6, 8):
		return documented{"≥6.8: Matrix A/B/C, §5, §7", true, true, true, true, true, true, 0xf8}, true
	case v == version{6, 1}:
		return documented{"6.1: §13, Matrix B 4.19–6.6", true, false, false, true, true, false, 1}, true
	}
	return documented{}, false
}

func TestProbeMatchesKernelQuirksDoc(t *testing.T) {
	testenv.RequireRoot(t)
	s, err := Probe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !s.Probed || s.ProbedAt.IsZero() || s.BootID == "" || s.Kernel == "" {
		t.Fatalf("probe result lacks its identity: %+v", s)
	}
	// Every measurement left evidence.
	ev := strings.Join(s.Evidence, "\n")
	for _, kind := range []string{"fd: ", "maps: ", "stat: ", "map_files: ", "inotify: ", "statx: "} {
		if !strings.Contains(ev, "\n"+kind) {
			t.Errorf("no %q evidence line in:\n%s", kind, ev)
		}
	}
	// The overlays are module-default mounts: handles decode only with
	// nfs_export=on (docs/kernel-quirks.md §5).
	if nfs, err := os.ReadFile("/sys/module/overlay/parameters/nfs_export"); err == nil && strings.TrimSpace(string(nfs)) == "N" && s.FidDecodable {
		t.Errorf("fid_decodable=true with nfs_export=N:\n%s", ev)
	}
	want, ok := documentedFor(s.Kernel)
	if !ok {
		t.Logf("docs/kernel-quirks.md documents no exact behaviour for %s; checked the evidence only", s.Kernel)
		return
	}
	got := documented{want.why, s.FdPathOK, s.MapsInoOK, s.MapsDevIsSbDev, s.StatDevPseudo, s.MapFilesMntIDOK, s.UniqueMntID, s.FhandleType}
	if got != want {
		t.Errorf("kernel %s: probe says\n  %+v\nkernel-quirks.md (%s) says\n  %+v\nevidence:\n%s", s.Kernel, got, want.why, want, ev)
	}
}

// TestProbeAgreesWithFallback: on an upstream kernel the version table
// predicts what the probe measures, except fid_decodable (a module
// parameter). A disagreement means the table or the probe is wrong.
func TestProbeAgreesWithFallback(t *testing.T) {
	testenv.RequireRoot(t)
	s, err := Probe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if ubuntuRE.MatchString(s.Kernel) {
		t.Skipf("%s is an Ubuntu kernel: the table is deliberately pessimistic there", s.Kernel)
	}
	fb := Fallback(s.Kernel)
	got := [...]any{s.FdPathOK, s.MapsInoOK, s.MapsDevIsSbDev, s.StatDevPseudo, s.MapFilesMntIDOK, s.UniqueMntID, s.FhandleType}
	want := [...]any{fb.FdPathOK, fb.MapsInoOK, fb.MapsDevIsSbDev, fb.StatDevPseudo, fb.MapFilesMntIDOK, fb.UniqueMntID, fb.FhandleType}
	if got != want {
		t.Errorf("kernel %s: probe %v, version table %v\nprobe evidence:\n%s", s.Kernel, got, want, strings.Join(s.Evidence, "\n"))
	}
}

// TestProbeLeavesNothing: the probe's mounts live in the child's
// namespace only, and its directory is removed.
func TestProbeLeavesNothing(t *testing.T) {
	testenv.RequireRoot(t)
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "ovlfix-probe-*"))
	if _, err := Probe(context.Background()); err != nil {
		t.Fatal(err)
	}
	after, _ := filepath.Glob(filepath.Join(os.TempDir(), "ovlfix-probe-*"))
	if len(after) > len(before) {
		t.Errorf("probe directories left: before %v, after %v", before, after)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mi), "ovlfix-probe-") {
		t.Errorf("a probe mount is visible in our namespace:\n%s", mi)
	}
}

// TestProbeBadExecutable: a Probe whose child cannot start
// reports why, rather than guessing.
func TestProbeBadExecutable(t *testing.T) {
	_, err := ProbeWith(context.Background(), "/nonexistent/ovlfix")
	if err == nil || !strings.Contains(err.Error(), "quirks probe") {
		t.Errorf("ProbeWith(missing binary) = %v, want a quirks probe error", err)
	}
}
