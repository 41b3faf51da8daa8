package dump_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ovlfix/ovlfix/dump"
	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/internal/testenv"
	"github.com/ovlfix/ovlfix/proto"
	"github.com/ovlfix/ovlfix/resolve"
)

// find returns the result for one thing the child holds.
func find(t *testing.T, d *dump.Dump, h scenario.Held) *resolve.Result {
	t.Helper()
	for i := range d.Processes[0].Results {
		r := &d.Processes[0].Results[i]
		o := r.Object
		switch {
		case h.Kind == "fd" && o.Kind == fdinfo.KindFD && o.FD == h.FD,
			h.Kind == "watch" && o.Kind == fdinfo.KindWatch && o.FD == h.FD && int(o.Watch.WD) == h.WD,
			h.Kind == "map" && o.Kind == fdinfo.KindMap && o.Map.Start == h.Addr,
			h.Kind == "cwd" && o.Kind == fdinfo.KindCwd:
			return r
		}
	}
	t.Fatalf("%s %q (fd %d) not in the dump", h.Kind, h.Path, h.FD)
	return nil
}

// TestRunLiveOverlay dumps a real process holding files on a real overlay
// and checks every held object against what the process itself saw.
func TestRunLiveOverlay(t *testing.T) {
	c := scenariotest.StartT(t, "", scenario.Demo)
	d, err := dump.Run(c.PID, dump.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Held) < 10 {
		t.Fatalf("scenario holds only %d objects", len(c.Held))
	}
	for _, h := range c.Held {
		r := find(t, d, h)
		want := resolve.OK
		if h.Kind == "map" && !h.MapsTruthful(c.Mounts["main"]) {
			want = resolve.Fixed // maps shows the layer inode (before 6.8)
		}
		if r.Verdict != want {
			t.Errorf("%s %q: verdict %s (%s), want %s", h.Kind, h.Path, r.Verdict, r.Reason, want)
			continue
		}
		if !bytes.Equal(r.Path, h.Path) {
			t.Errorf("%s: path %q, want %q", h.Kind, r.Path, h.Path)
		}
		if r.MntID != c.MntID {
			t.Errorf("%s %q: mnt_id %d, want the overlay's %d", h.Kind, h.Path, r.MntID, c.MntID)
		}
		if r.Ino != h.Ino || (h.Kind != "watch" && r.Dev != h.Dev) {
			t.Errorf("%s %q: dev:ino %d:%d, want %d:%d", h.Kind, h.Path, r.Dev, r.Ino, h.Dev, h.Ino)
		}
	}
}

// TestWriteImagesLive writes images for the live target, reads them back
// with proto and with CRIU's crit, and checks the hostile name byte-exact.
func TestWriteImagesLive(t *testing.T) {
	c := scenariotest.StartT(t, "", scenario.Demo)
	crit := testenv.RequireTool(t, "crit", "criu")
	d, err := dump.Run(c.PID, dump.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ids, err := d.WriteImages(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, proto.FilesImg))
	if err != nil {
		t.Fatal(err)
	}
	files, err := proto.ReadFiles(f, proto.FilesImg)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	byID := map[uint32]*proto.FileEntry{}
	for _, e := range files {
		byID[e.GetId()] = e
	}
	odd := append([]byte(c.Merged+"/"), scenario.OddName()...)
	sawOdd := false
	for _, h := range c.Held {
		if h.Kind == "watch" {
			continue
		}
		r := find(t, d, h)
		e := byID[ids[r]]
		if e == nil {
			t.Errorf("%s %q: no files.img entry", h.Kind, h.Path)
			continue
		}
		if got := []byte(e.GetReg().GetName()); !bytes.Equal(got, h.Path) {
			t.Errorf("%s: files.img name %q, want %q", h.Kind, got, h.Path)
		}
		if e.GetReg().GetMntId() != int32(c.MntID) {
			t.Errorf("%s %q: files.img mnt_id %d, want %d", h.Kind, h.Path, e.GetReg().GetMntId(), c.MntID)
		}
		sawOdd = sawOdd || bytes.Equal(h.Path, odd)
	}
	if !sawOdd {
		t.Fatalf("the scenario holds no file named %q", odd)
	}
	imgs, _ := filepath.Glob(filepath.Join(dir, "*.img"))
	if len(imgs) != 3 {
		t.Fatalf("images written: %v, want files, fdinfo-1, mountpoints-1", imgs)
	}
	for _, img := range imgs {
		out, err := exec.Command(crit, "decode", "-i", img, "-o", os.DevNull).CombinedOutput()
		if err != nil {
			t.Errorf("crit decode %s: %v\n%s", filepath.Base(img), err, out)
		}
	}
}
