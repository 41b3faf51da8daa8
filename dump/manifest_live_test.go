package dump_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/dump"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/internal/testenv"
	"github.com/ovlfix/ovlfix/manifest"
	"github.com/ovlfix/ovlfix/proto"
	"golang.org/x/sys/unix"
)

// manifestOdd is a container-chosen name: a newline and quotes.
const manifestOdd = "na\nme \"q\" \\"

const manifestMaps = 50

// manifestSpec: a 2-lower-layer overlay (l0 on top of l1) whose files the
// child holds from every kind of place, one of them mapped
// manifestMaps times.
func manifestSpec(base string) scenario.Spec {
	steps := []scenario.Step{
		{Do: "write", Path: []byte("l0/top"), Content: "top"},
		{Do: "write", Path: []byte("l1/bottom"), Content: "bottom!"},
		{Do: "write", Path: []byte("l1/cu"), Content: "copy me"},
		{Do: "write", Path: []byte("l1/wo"), Content: "whited"},
		{Do: "write", Path: []byte("l0/lib"), Content: "library"},
		{Do: "write", Path: []byte("l0/" + manifestOdd), Content: "odd"},
		{Do: "write", Path: []byte("up/new"), Content: "created"},
		{Do: "mkdir", Path: []byte("work")},
		{Do: "overlay", Path: []byte("merged"), Lower: []string{"l0", "l1"}, Upper: "up", Work: "work", Label: "ovl"},
		{Do: "open", Path: []byte("merged/top"), Label: "lower 0"},
		{Do: "open", Path: []byte("merged/bottom"), Label: "lower 1"},
		{Do: "copyup", Path: []byte("merged/cu")},
		{Do: "open", Path: []byte("merged/cu"), Label: "copied up"},
		{Do: "open", Path: []byte("merged/new"), Label: "upper"},
		{Do: "open", Path: []byte("merged/wo"), Label: "whiteout"},
		{Do: "unlink", Path: []byte("merged/wo")},
		{Do: "open", Path: []byte("merged/" + manifestOdd), Label: "odd"},
	}
	for i := range manifestMaps {
		steps = append(steps, scenario.Step{Do: "mmap", Path: []byte("merged/lib"), Label: fmt.Sprintf("lib %d", i)})
	}
	return scenario.Spec{Base: base, Steps: steps}
}

// TestWriteDirManifestLive: `ovlfix dump -D`'s WriteDir puts
// ovlfix-manifest.json in the image set, one File per files.img entry,
// each with the place of its file checked against the layers on disk:
// where, the layer index and its directory, the size and mode the child's
// files have; the mapped library is one File with all its mappings as
// Holders; the odd name comes back byte for byte.
func TestWriteDirManifestLive(t *testing.T) {
	c := scenariotest.StartT(t, "", manifestSpec)
	base := strings.TrimSuffix(c.Mounts["ovl"].Mountpoint, "/merged")
	d, err := dump.Run(c.PID, dump.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := d.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	raw := testenv.ReadFile(t, filepath.Join(dir, manifest.FileName))
	m, err := manifest.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != manifest.Version || m.Writer != manifest.WriterDump || m.Kernel == "" {
		t.Errorf("header: %+v", m)
	}
	files, err := proto.ReadImageFile(filepath.Join(dir, proto.FilesImg))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != len(files.Entries) {
		t.Errorf("%d manifest files for %d files.img entries", len(m.Files), len(files.Entries))
	}
	byHolder := map[string]*manifest.File{}
	for i := range m.Files {
		f := &m.Files[i]
		for _, h := range f.Holders {
			byHolder[fmt.Sprintf("%s %d %s", h.Kind, h.FD, h.Map)] = f
		}
	}
	for _, tc := range []struct {
		label, where string
		layer        int
		dir          string
		content      string
	}{
		{"lower 0", manifest.Lower, 0, "l0", "top"},
		{"lower 1", manifest.Lower, 1, "l1", "bottom!"},
		{"copied up", manifest.CopiedUp, 1, "l1", "copy me"},
		{"upper", manifest.UpperOnly, -1, "", "created"},
		{"whiteout", manifest.WhitedOut, 1, "l1", "whited"},
		{"odd", manifest.Lower, 0, "l0", "odd"},
		{"lib 0", manifest.Lower, 0, "l0", "library"},
	} {
		h := heldBy(t, c, tc.label)
		key := fmt.Sprintf("fd %d ", h.FD)
		if h.Kind == "map" {
			key = fmt.Sprintf("map 0 %x-%x", h.Addr, h.Addr+uint64(unix.Getpagesize()))
		}
		f := byHolder[key]
		if f == nil {
			t.Errorf("%s: no manifest file held by %q", tc.label, key)
			continue
		}
		ov := f.Overlay
		wantDir := ""
		if tc.dir != "" {
			wantDir = filepath.Join(base, tc.dir)
		}
		if ov == nil || ov.Where != tc.where || ov.Layer != tc.layer || ov.LayerDir != wantDir || ov.UpperDir != filepath.Join(base, "up") {
			t.Errorf("%s: overlay %+v (%s), want %s layer %d %q", tc.label, ov, f.Unresolved, tc.where, tc.layer, wantDir)
		}
		name, _ := base64.StdEncoding.DecodeString(f.NameB64)
		if !bytes.Equal(name, h.Path) || f.Name != string(h.Path) {
			t.Errorf("%s: name %q (b64 %q), want %q", tc.label, f.Name, name, h.Path)
		}
		if f.Size != int64(len(tc.content)) || f.Mode&unix.S_IFMT != unix.S_IFREG || f.MntID != c.Mounts["ovl"].ID || f.FSType != "overlay" {
			t.Errorf("%s: size %d mode %o mnt %d %s, want %d, a regular file, mnt %d overlay", tc.label, f.Size, f.Mode, f.MntID, f.FSType, len(tc.content), c.Mounts["ovl"].ID)
		}
		if tc.layer >= 0 {
			// On disk: the layer holds the file with that content.
			got := testenv.ReadFile(t, filepath.Join(fmt.Sprintf("/proc/%d/root", c.PID), ov.LayerDir, filepath.Base(string(h.Path))))
			if tc.where != manifest.CopiedUp && string(got) != tc.content {
				t.Errorf("%s: layer %s holds %q, want %q", tc.label, ov.LayerDir, got, tc.content)
			}
		}
	}
	lib := byHolder[fmt.Sprintf("map 0 %x-%x", heldBy(t, c, "lib 0").Addr, heldBy(t, c, "lib 0").Addr+uint64(unix.Getpagesize()))]
	if lib == nil || len(lib.Holders) < manifestMaps {
		t.Fatalf("the library mapped %d times: %+v", manifestMaps, lib)
	}
	if bytes.Contains(raw, []byte("na\nme")) || !bytes.Contains(raw, []byte(`na\nme \"q\" \\`)) {
		t.Errorf("the odd name is not JSON-escaped in the file")
	}
}

func heldBy(t *testing.T, c *scenario.Child, label string) scenario.Held {
	t.Helper()
	for _, h := range c.Held {
		if h.Label == label {
			return h
		}
	}
	t.Fatalf("nothing held labelled %q", label)
	return scenario.Held{}
}
