package criuhost

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/ovlfix/ovlfix/manifest"
)

// TestHookWritesManifest: a real `criu dump --action-script ovlfix-hook`
// of a holder on a 2-lower-layer overlay (lowerdir=l0:l1) leaves
// ovlfix-manifest.json in the images directory, naming for each held file
// the place the layers on disk show: a lower-0 file, a lower-1 file, a
// file copied up from lower 1, an upper-only file and a mapped lower-0
// file. Run again (the tasks left running, --leave-running), post-dump
// rewrites the same manifest.
func TestHookWritesManifest(t *testing.T) {
	tl := setupTools(t)
	becomeSubreaper(t)
	base := t.TempDir()
	images := t.TempDir()
	ns := newMountNS(t, tl.holder, base)
	defer ns.close()
	l0, l1, up, work, merged := base+"/l0", base+"/l1", base+"/up", base+"/work", base+"/merged"
	for _, d := range []string{l0, l1, up, work, merged} {
		ns.write(d+"/", "", 0)
	}
	ns.write(l0+"/top", "top layer\n", 0o644)
	ns.write(l1+"/bottom", "bottom layer\n", 0o644)
	ns.write(l1+"/copied", "copied data\n", 0o644)
	ns.write(l0+"/mapped", "mapped data\n", 0o644)
	ns.write(up+"/new", "upper data\n", 0o644)
	ns.do("overlay", merged, l0+":"+l1, up, work, "-")
	cmd := ns.command(tl.holder, "chdir", merged, "open", merged+"/top", "open", merged+"/bottom",
		"openrw", merged+"/copied", "open", merged+"/new", "mmap", merged+"/mapped")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	h := startHolder(t, "holder", cmd)
	defer h.kill()

	args := []string{"dump", "-t", strconv.Itoa(h.pid), "-D", images, "--shell-job", "--leave-running",
		"-v4", "-o", "dump.log", "--action-script", tl.hook}
	if err := runCRIU(ns, tl, images, "dump", args); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(images, manifest.FileName)
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no manifest after criu dump with the hook: %v; the hook said:\n%s", err, (&run{images: images}).hookSaid())
	}
	m, err := manifest.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	if m.Writer != manifest.WriterPostDump {
		t.Errorf("writer %q, want %q", m.Writer, manifest.WriterPostDump)
	}
	byName := map[string]*manifest.File{}
	for i := range m.Files {
		f := &m.Files[i]
		byName[f.Name] = f
		where := f.Unresolved
		if f.Overlay != nil {
			where = f.Overlay.Where + " " + strconv.Itoa(f.Overlay.Layer) + " " + f.Overlay.LayerDir
		}
		t.Logf("file %d %q on %s (mount %d), %d holder(s): %s", f.ID, f.Name, f.FSType, f.MntID, len(f.Holders), where)
	}
	for _, tc := range []struct {
		name, where string
		layer       int
		dir         string
		holder      string
	}{
		{"top", manifest.Lower, 0, l0, "fd"},
		{"bottom", manifest.Lower, 1, l1, "fd"},
		{"copied", manifest.CopiedUp, 1, l1, "fd"},
		{"new", manifest.UpperOnly, -1, "", "fd"},
		{"mapped", manifest.Lower, 0, l0, "map"},
	} {
		f := byName[merged+"/"+tc.name]
		if f == nil {
			t.Errorf("%s: not in the manifest (%d files)", tc.name, len(m.Files))
			continue
		}
		ov := f.Overlay
		if ov == nil || ov.Where != tc.where || ov.Layer != tc.layer || ov.LayerDir != tc.dir || ov.UpperDir != up {
			t.Errorf("%s: overlay %+v (%s), want %s layer %d %q upper %q", tc.name, ov, f.Unresolved, tc.where, tc.layer, tc.dir, up)
		}
		if len(f.Holders) == 0 || f.Holders[0].Kind != tc.holder || f.Holders[0].PID != h.pid {
			t.Errorf("%s: holders %+v, want a %s of pid %d", tc.name, f.Holders, tc.holder, h.pid)
		}
		// Checked against the layers on disk.
		if tc.dir != "" {
			if _, err := os.Lstat(ns.path(tc.dir + "/" + tc.name)); err != nil {
				t.Errorf("%s: the manifest says layer %s, which holds no such file: %v", tc.name, tc.dir, err)
			}
		}
		_, inUpper := os.Lstat(ns.path(up + "/" + tc.name))
		if (inUpper == nil) != (tc.where == manifest.CopiedUp || tc.where == manifest.UpperOnly) {
			t.Errorf("%s: %s, but in the upper layer: %v", tc.name, tc.where, inUpper == nil)
		}
		st, err := os.Stat(ns.path(merged + "/" + tc.name))
		if err != nil || f.Size != st.Size() || f.MntID <= 0 || f.FSType != "overlay" {
			t.Errorf("%s: size %d mnt %d %q, the file has %d (%v)", tc.name, f.Size, f.MntID, f.FSType, st.Size(), err)
		}
	}

	// A second post-dump run over the same images and tasks.
	again := ns.command(tl.hook)
	again.Env = append(os.Environ(), "CRTOOLS_SCRIPT_ACTION=post-dump", "CRTOOLS_IMAGE_DIR="+images,
		"CRTOOLS_INIT_PID="+strconv.Itoa(h.pid))
	if out, err := again.CombinedOutput(); err != nil {
		t.Fatalf("second post-dump: %v\n%s", err, out)
	}
	second, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Errorf("the second post-dump wrote another manifest:\n%s\nthen\n%s", first, second)
	}
}
