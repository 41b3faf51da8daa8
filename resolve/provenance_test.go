package resolve_test

import (
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	"github.com/ovlfix/ovlfix/mountns"
	"github.com/ovlfix/ovlfix/resolve"
)

// TestLocateWithoutAView: when whose paths an overlay's layer options
// are cannot be told (ovlfix's own mount table unknown), Locate opens no
// layer and says why instead of guessing a place.
func TestLocateWithoutAView(t *testing.T) {
	root, err := mountns.OpenRootPath("/")
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	l := resolve.NewLayers(root, nil)
	defer l.Close()
	m := &mountns.Mount{Info: &mountinfo.Info{ID: 77, Major: 0, Minor: 99, FSType: "overlay", Mountpoint: "/merged"},
		Overlay: &mountns.Overlay{Lower: []mountns.Layer{{Path: "/etc"}}, Upper: "/tmp"}}
	pl := l.Locate(m, "/passwd", resolve.Held{Ino: 1})
	if pl.Overlay != nil || !strings.Contains(pl.Why, "layers of mount 77 not looked up") {
		t.Errorf("place %+v, want none and why", pl)
	}
	// Not an overlay: no place, no why.
	if pl := l.Locate(&mountns.Mount{Info: &mountinfo.Info{ID: 1, FSType: "ext4"}}, "/x", resolve.Held{}); pl.Overlay != nil || pl.Why != "" {
		t.Errorf("non-overlay place %+v", pl)
	}
}
