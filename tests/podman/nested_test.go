package podman

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/proto"
	"golang.org/x/sys/unix"
)

// The nested overlay of TestNestedOverlayVolume: a `-v SRC:/vol:O`
// volume, whose lower SRC is a tmpfs of its own, and whose upper is in
// Podman's storage (another filesystem).
const (
	volDir     = "/vol"
	volFile    = "/vol/vol.txt"
	volContent = "volume data\n"
)

// tmpfsSource mounts a tmpfs at DIR/src holding vol.txt, unmounted at the
// end of the test (lazily: Podman's overlay of it may still be there).
func (w *world) tmpfsSource() string {
	w.t.Helper()
	src := filepath.Join(w.dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := unix.Mount("ovlfix-vol", src, "tmpfs", 0, "size=1m"); err != nil {
		w.t.Fatalf("mount tmpfs on %s: %v", src, err)
	}
	w.t.Cleanup(func() { _ = unix.Unmount(src, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(src, "vol.txt"), []byte(volContent), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return src
}

// containerMounts is pid 1's mountinfo in the container: mnt_id to
// "mountpoint fstype".
func (w *world) containerMounts(name string) map[string]string {
	w.t.Helper()
	out := w.must("exec", name, "/bin/busybox", "cat", "/proc/1/mountinfo")
	ms := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		sep := -1
		for i, x := range f {
			if x == "-" {
				sep = i
				break
			}
		}
		if len(f) < 5 || sep < 0 || sep+1 >= len(f) {
			w.t.Fatalf("container mountinfo: bad line %q", line)
		}
		ms[f[0]] = f[4] + " " + f[sep+1]
	}
	return ms
}

// fdMntID is the mnt_id of pid 1's fd in the container (its fdinfo).
func (w *world) fdMntID(name, fd string) string {
	w.t.Helper()
	out := w.must("exec", name, "/bin/busybox", "cat", "/proc/1/fdinfo/"+fd)
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "mnt_id:"); ok {
			return strings.TrimSpace(v)
		}
	}
	w.t.Fatalf("fdinfo of fd %s has no mnt_id:\n%s", fd, out)
	return ""
}

// imageRecord is what a dump's images say of one file: its files.img
// mnt_id and the mountpoint and fstype mountpoints-*.img gives that id.
type imageRecord struct {
	MntID      uint32
	Mountpoint string
}

func (r imageRecord) String() string { return fmt.Sprintf("mnt_id %d (%s)", r.MntID, r.Mountpoint) }

// recordOf reads files.img and the mountpoints images of a dump directory
// and returns what they say of the REG file named path.
func recordOf(t *testing.T, dir, path string) imageRecord {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "files.img"))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := proto.ReadFiles(bytes.NewReader(raw), "files.img")
	if err != nil {
		t.Fatal(err)
	}
	var rec imageRecord
	found := false
	for _, e := range entries {
		if r := e.GetReg(); r != nil && r.GetName() == path {
			rec.MntID, found = uint32(r.GetMntId()), true
		}
	}
	if !found {
		t.Fatalf("%s/files.img has no REG entry %s", dir, path)
	}
	mps, _ := filepath.Glob(filepath.Join(dir, "mountpoints-*.img"))
	for _, mp := range mps {
		raw, err := os.ReadFile(mp)
		if err != nil {
			t.Fatal(err)
		}
		ms, err := proto.ReadMountpoints(bytes.NewReader(raw), filepath.Base(mp))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.GetMntId() == rec.MntID {
				rec.Mountpoint = fmt.Sprintf("%s fstype %d ext_key %q", m.GetMountpoint(), m.GetFstype(), m.GetExtKey())
			}
		}
	}
	return rec
}

// TestNestedOverlayVolume: the marker holds /vol/vol.txt open, a lower
// file of a `-v SRC:/vol:O` volume (an overlay inside the container: lower
// SRC on a tmpfs, upper in Podman's storage).
func TestNestedOverlayVolume(t *testing.T) {
	w := newWorld(t)
	src := w.tmpfsSource()
	opts := []string{"-v", src + ":" + volDir + ":O"}

	ct := w.startMarker("", opts, "open", volFile)
	mounts := w.containerMounts(ct)
	fdMnt := w.fdMntID(ct, "3")
	t.Logf("fd 3 mnt_id %s: %s; container mounts %v", fdMnt, mounts[fdMnt], mounts)
	plain := filepath.Join(w.dir, "plain.tar")
	w.must("container", "checkpoint", "--keep", "--export", plain, ct)
	dir := filepath.Join(w.staticDir(ct), "checkpoint")
	t.Logf("CRIU alone: files.img %s: %s", volFile, recordOf(t, dir, volFile))
	w.rm(ct)
	restored := w.name("restored")
	out, err := w.podman("container", "restore", "--keep", "--import", plain, "--name", restored)
	t.Logf("restore of CRIU's own: %v\n%s", err, out)
	if err == nil {
		t.Logf("report: %s", w.markerReport(restored, volFile))
		t.Logf("mounts: %v", w.containerMounts(restored))
	}
	rl, _ := os.ReadFile(filepath.Join(w.staticDir(restored), "restore.log"))
	t.Logf("restore.log: %s", strings.Join(logLines(string(rl), "vol.txt", "Error", "/vol"), "\n"))

	w.proxy = true
	ct = w.startMarker("", opts, "open", volFile)
	fixed := filepath.Join(w.dir, "fixed.tar")
	w.must("container", "checkpoint", "--keep", "--export", fixed, ct)
	dir = filepath.Join(w.staticDir(ct), "checkpoint")
	dl, _ := os.ReadFile(filepath.Join(w.staticDir(ct), "dump.log"))
	t.Logf("dump.log: %s", strings.Join(logLines(string(dl), "ovlfix-hook"), "\n"))
	t.Logf("ovlfix: files.img %s: %s", volFile, recordOf(t, dir, volFile))
	restored = ct
	out, err = w.podman("container", "restore", "--keep", ct)
	t.Logf("restore of ovlfix's: %v\n%s", err, out)
	if err == nil {
		t.Logf("report: %s", w.markerReport(restored, volFile))
	}
	rl, _ = os.ReadFile(filepath.Join(w.staticDir(restored), "restore.log"))
	t.Logf("restore.log: %s", strings.Join(logLines(string(rl), "vol.txt", "Error", "/vol"), "\n"))
}
