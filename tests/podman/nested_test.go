package podman

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/internal/testenv"
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
	return recordFrom(t, raw, dir, path)
}

// recordFrom is recordOf with files.img's bytes given.
func recordFrom(t *testing.T, raw []byte, dir, path string) imageRecord {
	t.Helper()
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

// remountVolume mounts the `:O` overlay of volDir again where the OCI spec
// specJSON (the bundle's config.json, or an archive's spec.dump) says
// runc will find it: lower src, a new empty upper. Podman 4.3.1 does not
// do it on a restore (it makes a `:O` overlay only when it creates the
// container's spec), so without this every restore of such a container
// fails, with or without ovlfix: CRIU's "Unable to mount
// .../userdata/overlay/N/merge ... No such file or directory". A `:O`
// volume's upper is thrown away with the container anyway; the held file
// is a lower one.
//
// It returns the function that unmounts it (lazily), also called at the
// end of the test.
func (w *world) remountVolume(specJSON []byte, src string) (unmount func()) {
	w.t.Helper()
	var spec struct {
		Mounts []struct {
			Destination string `json:"destination"`
			Source      string `json:"source"`
		} `json:"mounts"`
	}
	if err := json.Unmarshal(specJSON, &spec); err != nil {
		w.t.Fatalf("the container's OCI spec: %v", err)
	}
	merge := ""
	for _, m := range spec.Mounts {
		if m.Destination == volDir {
			merge = m.Source
		}
	}
	if !strings.HasPrefix(merge, w.dir+"/") || filepath.Base(merge) != "merge" {
		w.t.Fatalf("the spec mounts %q on %s, want a .../merge in the test's storage", merge, volDir)
	}
	base := filepath.Dir(merge)
	for _, d := range []string{"upper", "work", "merge"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			w.t.Fatal(err)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work", src, base, base)
	if err := unix.Mount("overlay", merge, "overlay", 0, opts); err != nil {
		w.t.Fatalf("mount overlay %s on %s: %v", opts, merge, err)
	}
	unmount = func() { _ = unix.Unmount(merge, unix.MNT_DETACH) }
	w.t.Cleanup(unmount)
	w.t.Logf("mounted the :O overlay again on %s (Podman 4.3.1 does not on a restore)", merge)
	return unmount
}

// TestNestedOverlayVolume: the holder holds /vol/vol.txt open, a lower
// file of a `-v SRC:/vol:O` volume: an overlay inside the container whose
// lower SRC is a tmpfs and whose upper is in Podman's storage (ext4 here),
// mounted on /vol over the container's root overlay.
//
// CRIU 4.2 alone checkpoints it, but its files.img records the root
// overlay's mnt_id for the file, not the /vol overlay's the kernel gives
// in fdinfo. Through the proxy the hook's post-dump rewrites that entry to
// the /vol mount (files.img.ovlfix-orig keeps CRIU's). Both images restore
// to the right file with the right content, in place and by
// `--export`/`--import`: CRIU 4.2 opens a regular file by its path from
// the root of the mount namespace the recorded mount is in
// (criu/files-reg.c open_path, mntns_get_root_by_mnt_id), and both mounts
// are in the same one, so this wrong mnt_id does not change what a restore
// opens. The test asserts that (never worse with ovlfix) rather than a
// failure CRIU does not have.
//
// Podman 4.3.1 does not mount a `:O` volume's overlay again on a restore
// (the test shows the import failing without): remountVolume does what it
// should have.
func TestNestedOverlayVolume(t *testing.T) {
	w := newWorld(t)
	src := w.tmpfsSource()
	opts := []string{"-v", src + ":" + volDir + ":O"}
	for _, r := range []route{"", viaProxy} {
		what := "CRIU 4.2 alone"
		if r == viaProxy {
			what = "through the proxy"
		}
		w.proxy = r == viaProxy
		ct := w.startHolder(w.image(), "", opts, "open", volFile)
		volMnt, rootMnt := w.volumeMounts(ct)
		archive := filepath.Join(w.dir, "nested-"+string(r)+".tar.zst")
		w.must("container", "checkpoint", "--keep", "--export", archive, ct)
		static := w.staticDir(ct)
		images := filepath.Join(static, "checkpoint")
		rec := recordOf(t, images, volFile)
		dumpLog := readLog(t, filepath.Join(static, "dump.log"))
		if r == "" {
			if rec.MntID != rootMnt || rec.MntID == volMnt {
				t.Fatalf("%s: files.img records %s for %s; the kernel says %d (/vol), the root overlay is %d: "+
					"the test's premise (CRIU 4.2 records the root overlay's) is gone", what, rec, volFile, volMnt, rootMnt)
			}
			t.Logf("%s: files.img records %s for %s, the root overlay; the kernel says mount %d (/vol overlay)",
				what, rec, volFile, volMnt)
		} else {
			raw, err := os.ReadFile(filepath.Join(images, "files.img.ovlfix-orig"))
			if err != nil {
				t.Fatalf("%s: CRIU's files.img as the hook found it: %v", what, err)
			}
			orig := recordFrom(t, raw, images, volFile)
			fixed := fmt.Sprintf("mnt_id %d -> %d, name unchanged", orig.MntID, volMnt)
			if orig.MntID != rootMnt || rec.MntID != volMnt || !strings.HasPrefix(rec.Mountpoint, volDir+" ") ||
				!strings.Contains(dumpLog, fixed) {
				t.Errorf("%s: CRIU recorded %s, files.img now %s for %s; want the root overlay's %d repaired to the /vol overlay's %d, "+
					"and %q in dump.log:\n%s", what, orig, rec, volFile, rootMnt, volMnt, fixed,
					strings.Join(testenv.LinesWith(dumpLog, "ovlfix-hook"), "\n"))
			}
			t.Logf("%s: CRIU recorded %s, files.img now %s; dump.log: %s", what, orig, rec,
				strings.Join(testenv.LinesWith(dumpLog, "ovlfix-hook: files.img id", "ovlfix-hook: post-dump: "), " | "))
		}

		if r == "" {
			// without remountVolume the restore fails, ovlfix or not
			w.restoreFails(archive, "Unable to mount "+filepath.Join(static, "overlay"))
		}

		// in place
		spec, err := os.ReadFile(filepath.Join(static, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		unmount := w.remountVolume(spec, src)
		w.must("container", "restore", ct)
		w.checkVolumeFile(what+", restored in place", ct)
		unmount()
		w.rm(ct)

		// export and import into a new container
		files, _, err := members(archive)
		if err != nil {
			t.Fatal(err)
		}
		w.remountVolume(files["spec.dump"], src)
		restored := w.name("restored")
		w.must("container", "restore", "--import", archive, "--name", restored)
		w.checkVolumeFile(what+", imported", restored)
	}
}

// volumeMounts checks that the holder's fd 3 is on the /vol overlay (its
// fdinfo) and returns that mount's id and the root overlay's.
func (w *world) volumeMounts(ct string) (vol, root uint32) {
	w.t.Helper()
	mounts := w.containerMounts(ct)
	fd := w.fdMntID(ct, "3")
	if mounts[fd] != volDir+" overlay" {
		w.t.Fatalf("fd 3 (%s) is on mount %s, %q; want the /vol overlay; mounts %v", volFile, fd, mounts[fd], mounts)
	}
	for id, m := range mounts {
		if m == "/ overlay" {
			_, _ = fmt.Sscanf(id, "%d", &root)
		}
	}
	_, _ = fmt.Sscanf(fd, "%d", &vol)
	return vol, root
}

// checkVolumeFile: the restored holder holds volFile with its content,
// on the /vol overlay of the restored container.
func (w *world) checkVolumeFile(what, ct string) {
	w.t.Helper()
	m := w.reportOn(ct, volFile)
	want := fmt.Sprintf("%q content=%q", volFile, volContent)
	if got := m.FDs["3"]; got != want {
		w.t.Errorf("%s: fd 3 is %s, want %s\n%s", what, got, want, m)
	}
	w.volumeMounts(ct)
	w.t.Logf("%s: fd 3 %s", what, m.FDs["3"])
}
