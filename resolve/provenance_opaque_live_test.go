package resolve_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/manifest"
	"golang.org/x/sys/unix"
)

// TestProvenanceOpaqueDir: a container that removes a lower directory
// and makes it again (rm -rf /d; mkdir /d) gets an opaque upper
// directory: nothing of the lower /d shows through it any more. A file
// then created at a path a lower layer also holds under /d is new, in the
// upper layer only: not "copied up" shadowing the hidden lower one. The
// same below a deeper opaque ancestor, and a file whose lower path is
// visible stays copied up.
func TestProvenanceOpaqueDir(t *testing.T) {
	c := scenariotest.StartT(t, "", func(base string) scenario.Spec {
		return scenario.Spec{Base: base, Steps: []scenario.Step{
			{Do: "write", Path: b("l0/d/f"), Content: "lower f"},
			{Do: "write", Path: b("l0/d/sub/g"), Content: "lower g"},
			{Do: "write", Path: b("l0/e/h"), Content: "lower h"},
			{Do: "mkdir", Path: b("up")}, {Do: "mkdir", Path: b("work")},
			{Do: "overlay", Path: b("merged"), Lower: []string{"l0"}, Upper: "up", Work: "work", Label: "ovl"},
			{Do: "unlink", Path: b("merged/d/sub/g")},
			{Do: "unlink", Path: b("merged/d/sub")},
			{Do: "unlink", Path: b("merged/d/f")},
			{Do: "unlink", Path: b("merged/d")},
			{Do: "write", Path: b("merged/d/f"), Content: "new f"},
			{Do: "write", Path: b("merged/d/sub/g"), Content: "new g"},
			{Do: "open", Path: b("merged/d/f"), Label: "under an opaque dir"},
			{Do: "open", Path: b("merged/d/sub/g"), Label: "two levels under an opaque dir"},
			{Do: "copyup", Path: b("merged/e/h")},
			{Do: "open", Path: b("merged/e/h"), Label: "copied up beside"},
		}}
	})
	base := strings.TrimSuffix(c.Mounts["ovl"].Mountpoint, "/merged")
	// The kernel made up/d opaque: the fact the test stands on.
	root := "/proc/" + strconv.Itoa(c.PID) + "/root"
	if v, err := xattr(filepath.Join(root, base, "up/d"), "trusted.overlay.opaque"); err != nil || v != "y" {
		t.Fatalf("up/d is not opaque (%q, %v): the kernel did not do what the test assumes", v, err)
	}
	res := resolveWithPlaces(t, c.PID)
	for label, want := range map[string]struct {
		where string
		layer int
	}{
		"under an opaque dir":            {manifest.UpperOnly, -1},
		"two levels under an opaque dir": {manifest.UpperOnly, -1},
		"copied up beside":               {manifest.CopiedUp, 0},
	} {
		i := resultIndex(t, res.Results, held(t, c, label))
		ov := res.Places[i].Overlay
		if ov == nil {
			t.Errorf("%s: no place: %s", label, res.Places[i].Why)
			continue
		}
		t.Logf("%s: %s layer %d; notes %q", label, ov.Where, ov.Layer, ov.Notes)
		if ov.Where != want.where || ov.Layer != want.layer {
			t.Errorf("%s: %s layer %d, want %s layer %d (notes %q)", label, ov.Where, ov.Layer, want.where, want.layer, ov.Notes)
		}
	}
}

func xattr(p, name string) (string, error) {
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
