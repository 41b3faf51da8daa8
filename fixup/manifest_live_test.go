package fixup

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/internal/fixuptest"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/manifest"
)

// TestRunManifestNestedOverlay: the manifest Run makes describes
// files.img as the repair leaves it (the repaired entries' new names and
// mount ids), one File per REG entry (the socket entry has none), its
// holders joined from fdinfo, fs and mm images (the mapping through its
// VMA's shmid), and the place of each file on overlay B checked against
// B's layers as the scenario made them. A second run makes the same
// manifest.
func TestRunManifestNestedOverlay(t *testing.T) {
	c := scenariotest.StartT(t, "", fixuptest.NestedSpec)
	f := fixuptest.Build(t, c)
	rep, err := Run(context.Background(), f.Dir, Options{RootPID: f.RootPID})
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Manifest
	if m == nil || m.Writer != manifest.WriterPostDump {
		t.Fatalf("manifest %+v", m)
	}
	if len(m.Files) != len(f.Truth) {
		t.Errorf("%d manifest files, %d REG entries", len(m.Files), len(f.Truth))
	}
	byID := map[uint32]*manifest.File{}
	for i := range m.Files {
		byID[m.Files[i].ID] = &m.Files[i]
	}
	if byID[f.IDs["socket"]] != nil {
		t.Errorf("the socket entry is in the manifest")
	}
	base := strings.TrimSuffix(c.Mounts["B"].Mountpoint, "/a/data")
	for _, tc := range []struct {
		role, where string
		layer       int
		dir, upper  string
		kind        string
	}{
		{"lower", manifest.Lower, 0, "t1/lower", "t2/upper", "fd"},
		{"upper", manifest.UpperOnly, -1, "", "t2/upper", "fd"},
		{"map", manifest.Lower, 0, "t1/lower", "t2/upper", "map"},
		{"good", manifest.Lower, 0, "t0/lower", "t0/upper", "fd"},
	} {
		id := f.IDs[tc.role]
		file := byID[id]
		if file == nil {
			t.Errorf("%s: id %d not in the manifest", tc.role, id)
			continue
		}
		tr := f.Truth[id]
		if file.Name != tr.Name || file.MntID != int(tr.Mnt) {
			t.Errorf("%s: %q mnt %d, want files.img's repaired %q mnt %d", tc.role, file.Name, file.MntID, tr.Name, tr.Mnt)
		}
		wantDir := ""
		if tc.dir != "" {
			wantDir = filepath.Join(base, tc.dir)
		}
		ov := file.Overlay
		if ov == nil || ov.Where != tc.where || ov.Layer != tc.layer || ov.LayerDir != wantDir || ov.UpperDir != filepath.Join(base, tc.upper) {
			t.Errorf("%s: overlay %+v (%s), want %s layer %d %q", tc.role, ov, file.Unresolved, tc.where, tc.layer, wantDir)
		}
		if len(file.Holders) == 0 || file.Holders[0].Kind != tc.kind || file.Holders[0].PID != int(f.Child.PID) {
			t.Errorf("%s: holders %+v, want a %s of pid %d", tc.role, file.Holders, tc.kind, f.Child.PID)
		}
		if tc.kind == "map" && file.Holders[0].Map == "" {
			t.Errorf("%s: map holder without its range", tc.role)
		}
	}
	var first, second bytes.Buffer
	if err := m.Encode(&first); err != nil {
		t.Fatal(err)
	}
	rep2, err := Run(context.Background(), f.Dir, Options{RootPID: f.RootPID})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep2.Manifest.Encode(&second); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Errorf("the second run made another manifest:\n%s\nthen\n%s", first.String(), second.String())
	}
}
