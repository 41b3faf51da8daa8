package resolve_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/resolve"
	"golang.org/x/sys/unix"
)

// TestPlantedSymlinksNotFollowed: a container plants absolute and
// relative symlinks (in its root overlay and in a layer) that point at a
// host file. Objects that name those links and carry the host file's
// inode, as a hostile or confused kernel report would, must never be
// matched: every candidate path is resolved inside the target's root (or
// inside the layer), and a final symlink is never followed. The root
// overlay is the runtime's (this process, in a mount namespace of its
// own), so its layers are looked up from our root, where the host file is.
func TestPlantedSymlinksNotFollowed(t *testing.T) {
	resolve.AsRuntime(t, testPlantedSymlinks)
}

func testPlantedSymlinks(t *testing.T) {
	secret, err := os.CreateTemp("", "ovlfix-host-secret-")
	if err != nil {
		t.Fatal(err)
	}
	secret.Close()
	defer os.Remove(secret.Name())
	var hs unix.Stat_t
	if err := unix.Stat(secret.Name(), &hs); err != nil {
		t.Fatal(err)
	}
	hostDir := filepath.Dir(secret.Name())
	up := "../../../../../../../../.." + secret.Name()
	ro := resolve.MountRuntimeOverlay(t, func(lower string) { // planted in the layer
		for name, text := range map[string]string{"abs": secret.Name(), "rel": up, "dir": hostDir} {
			if err := os.Symlink(text, filepath.Join(lower, name)); err != nil {
				t.Fatal(err)
			}
		}
	})
	c := scenariotest.StartT(t, "", func(base string) scenario.Spec {
		return scenario.Spec{Base: base, HostLayers: true, Steps: []scenario.Step{
			{Do: "pivot", Path: resolve.StepPath(t, base, ro.Path("merged"))},
			{Do: "symlink", Src: b(secret.Name()), Path: b("abs2")}, // planted through the overlay (upper)
			{Do: "chdir", Path: b("/")},
		}}
	})
	tg := openTarget(t, c, c.PID)
	rootMnt := tg.table.ByMountpoint("/")
	if rootMnt == nil || rootMnt.FSType != "overlay" {
		t.Fatalf("the target's root is not the runtime's overlay: %+v", rootMnt)
	}
	rootID := rootMnt.ID
	want := &fdinfo.Stat{Dev: hs.Dev, Ino: hs.Ino, Mode: hs.Mode, Nlink: 1}
	links := []string{"/abs", "/rel", "/abs2", "/dir/" + filepath.Base(secret.Name()),
		"/../../../../.." + secret.Name(), secret.Name()}
	r := tg.resolver()
	for _, link := range links {
		for _, mnt := range []int{rootID, 1 << 30} { // a known mount, and one in no mountinfo
			o := &fdinfo.Object{PID: c.PID, Kind: fdinfo.KindFD, FD: 99, Link: b(link), Stat: want,
				Info: &fdinfo.Info{MntID: mnt, Flags: unix.O_RDONLY}}
			res := r.Resolve(o)
			if res.Verdict != resolve.Unresolved {
				t.Errorf("link %q (mnt %d): verdict %s path %q: a symlink to the host file was followed\n  evidence %q",
					link, mnt, res.Verdict, res.Path, res.Evidence)
			}
			for _, cand := range res.Candidates {
				if cand.Matched {
					t.Errorf("link %q: candidate %q matched the host file", link, cand.Path)
				}
			}
		}
		// The same through a mapping without map_files (maps path + dev:ino).
		o := &fdinfo.Object{PID: c.PID, Kind: fdinfo.KindMap, FD: -1, Map: &fdinfo.Mapping{
			Path: b(link), DevMajor: unix.Major(hs.Dev), DevMinor: unix.Minor(hs.Dev), Ino: hs.Ino, MapFilesMntID: -1}}
		if res := r.Resolve(o); res.Verdict != resolve.Unresolved {
			t.Errorf("maps path %q: verdict %s path %q: a symlink to the host file was followed", link, res.Verdict, res.Path)
		}
	}
	// And the layer lookup itself: the layer holds the planted links, the
	// host file is never what it finds.
	for _, rel := range []string{"/abs", "/rel", "/dir/" + filepath.Base(secret.Name())} {
		_, ok, notes := tg.layers.Find(tg.table.ByID(rootID), rel, hs.Dev, hs.Ino)
		if ok {
			t.Errorf("layer lookup of %q found the host file", rel)
		}
		if len(notes) != 1 || !strings.Contains(notes[0], "from the host's view") {
			t.Errorf("layer lookup of %q: notes %q, want the layers opened from the host's view", rel, notes)
		}
	}
}
