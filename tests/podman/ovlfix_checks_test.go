package podman

// The checks of issue 9's `ovlfix inspect`, `ovlfix verify` and the hook's
// ovlfix-manifest.json on the archives the tests export, against the
// layers on disk.

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/manifest"
)

// heldFiles are the held files whose layer the checks compare, by path in
// the container.
var heldFiles = []string{"/data/lower.txt", "/data/copied.txt", "/data/upper.txt",
	"/data/unlinked.txt", "/data/mapped.txt", "/holder"}

// layer is where a held file lives, as the layers on disk say: a
// manifest.Overlay Where value and, for lower and copied-up, the index of
// the lower layer (the image has one).
type layer struct {
	Where string
	Layer int
}

// layersOnDisk looks up each held file in the container's upper dir and
// lower dirs (podman inspect's GraphDriver.Data): upper only, copied up
// (in upper and in lower k) or lower k. /data/unlinked.txt is nowhere
// any more; it was created in the container: upper.
func (w *world) layersOnDisk(ct string) map[string]layer {
	w.t.Helper()
	upper := strings.TrimSpace(w.must("inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", ct))
	lowers := strings.Split(strings.TrimSpace(w.must("inspect", "-f", "{{.GraphDriver.Data.LowerDir}}", ct)), ":")
	exists := func(dir, p string) bool {
		_, err := os.Lstat(filepath.Join(dir, p))
		return err == nil
	}
	got := map[string]layer{}
	for _, p := range heldFiles {
		k := -1
		for i, l := range lowers {
			if exists(l, p) {
				k = i
				break
			}
		}
		switch {
		case exists(upper, p) && k >= 0:
			got[p] = layer{manifest.CopiedUp, k}
		case exists(upper, p):
			got[p] = layer{manifest.UpperOnly, -1}
		case k >= 0:
			got[p] = layer{manifest.Lower, k}
		default:
			got[p] = layer{manifest.UpperOnly, -1}
		}
	}
	want := map[string]layer{"/data/lower.txt": {manifest.Lower, 0}, "/data/copied.txt": {manifest.CopiedUp, 0},
		"/data/upper.txt": {manifest.UpperOnly, -1}, "/data/mapped.txt": {manifest.Lower, 0}, "/holder": {manifest.Lower, 0}}
	for p, l := range want {
		if got[p] != l {
			w.t.Errorf("on disk %s is %v, want %v (upper %s, lowers %q)", p, got[p], l, upper, lowers)
		}
	}
	return got
}

// checkFiles compares the files of a manifest (or of inspect's JSON, which
// carries the manifest's File entries) with the layers on disk.
func checkFiles(t *testing.T, what string, files []manifest.File, want map[string]layer) {
	t.Helper()
	byName := map[string]manifest.File{}
	for _, f := range files {
		byName[strings.TrimSuffix(f.Name, " (deleted)")] = f
	}
	for _, p := range sortedKeys(want) {
		f, ok := byName[p]
		switch {
		case !ok:
			t.Errorf("%s: no entry for %s", what, p)
		case f.Overlay == nil:
			t.Errorf("%s: %s has no overlay provenance (unresolved: %q), want %v", what, p, f.Unresolved, want[p])
		case f.Overlay.Where != want[p].Where || f.Overlay.Layer != want[p].Layer:
			t.Errorf("%s: %s is %s layer %d, want %v", what, p, f.Overlay.Where, f.Overlay.Layer, want[p])
		}
	}
}

// checkManifest checks the hook's ovlfix-manifest.json in the archive.
func checkManifest(t *testing.T, archive string, want map[string]layer) {
	t.Helper()
	files, _, err := members(archive)
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := files["checkpoint/"+manifest.FileName]
	if !ok {
		t.Fatalf("the archive has no checkpoint/%s: the hook's post-dump did not write it", manifest.FileName)
	}
	m, err := manifest.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	if m.Writer != manifest.WriterPostDump {
		t.Errorf("%s: writer %q, want %q", manifest.FileName, m.Writer, manifest.WriterPostDump)
	}
	checkFiles(t, manifest.FileName, m.Files, want)
}

// checkInspect runs `ovlfix inspect -o json ARCHIVE` and compares its
// files with the layers on disk.
func checkInspect(t *testing.T, archive string, want map[string]layer) {
	t.Helper()
	out, err := exec.Command(built.ovlfix, "inspect", "-o", "json", archive).Output()
	if err != nil {
		t.Fatalf("ovlfix inspect -o json %s: %v\n%s", archive, err, stderrOf(err))
	}
	var got struct {
		Files []struct {
			Name       string         `json:"name"`
			Provenance *manifest.File `json:"provenance"`
		} `json:"files"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("ovlfix inspect -o json: %v\n%s", err, out)
	}
	var prov []manifest.File
	for _, f := range got.Files {
		if f.Provenance == nil {
			t.Errorf("ovlfix inspect: %s has no provenance from the manifest", f.Name)
			continue
		}
		prov = append(prov, *f.Provenance)
	}
	checkFiles(t, "ovlfix inspect", prov, want)
	text, err := exec.Command(built.ovlfix, "inspect", archive).CombinedOutput()
	if err != nil {
		t.Fatalf("ovlfix inspect %s: %v\n%s", archive, err, text)
	}
	t.Logf("ovlfix inspect %s:\n%s", filepath.Base(archive), text)
}

// checkVerify runs `ovlfix verify ARCHIVE --root ROOT` against the image's
// rootfs (`podman image mount`: the rootfs Podman restores into, before it
// applies the archive's diff, which verify applies in memory). With
// wantFile "" it must pass (exit 0); otherwise exit 11, naming wantFile
// and predicting exactly wantMsg, the CRIU error line the real restore
// must then print.
func checkVerify(t *testing.T, w *world, image, archive, wantFile, wantMsg string) {
	t.Helper()
	root := strings.TrimSpace(w.must("image", "mount", image))
	defer w.must("image", "unmount", image)
	out, err := exec.Command(built.ovlfix, "verify", archive, "--root", root).CombinedOutput()
	t.Logf("ovlfix verify %s --root <image mount>: %v\n%s", filepath.Base(archive), err, out)
	if wantFile == "" {
		if err != nil {
			t.Errorf("verify of an archive that restores failed: %v", err)
		}
		return
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 11 {
		t.Errorf("verify of an archive that cannot restore (%s: %s) exited %v, want 11 (not restorable)", wantFile, wantMsg, err)
	}
	js, _ := exec.Command(built.ovlfix, "verify", archive, "--root", root, "-o", "json").Output()
	var res struct {
		Problems []struct {
			Name string `json:"name"`
			CRIU string `json:"criu"`
		} `json:"problems"`
	}
	if err := json.Unmarshal(js, &res); err != nil {
		t.Fatalf("verify -o json: %v\n%s", err, js)
	}
	found := false
	for _, p := range res.Problems {
		found = found || p.Name == wantFile && p.CRIU == wantMsg
	}
	if !found {
		t.Errorf("verify does not name %s with CRIU's line %q: %+v", wantFile, wantMsg, res.Problems)
	}
}

func stderrOf(err error) string {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(exit.Stderr)
	}
	return ""
}
