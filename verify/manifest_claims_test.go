package verify

import (
	"context"
	"math"
	"testing"

	"github.com/ovlfix/ovlfix/checkpoint"
	"github.com/ovlfix/ovlfix/inspect"
	"github.com/ovlfix/ovlfix/manifest"
	"golang.org/x/sys/unix"
)

// TestManifestClaimsNeverClearAProblem: the manifest is the archive's own
// claim; whatever it says of a file (any layer word, a stat that matches
// the root exactly, an absurd layer), a file the root fails CRIU's checks
// for stays a problem with CRIU's same line. The manifest may only add
// problems.
func TestManifestClaimsNeverClearAProblem(t *testing.T) {
	root := &fakeTree{nodes: map[string]node{"/f": reg(0o644, 12, nil)}}
	root.nodes["/f"] = func() node { n := root.nodes["/f"]; n.MtimeNs = 42; return n }()
	diff := &checkpoint.RootfsDiff{Entries: map[string]checkpoint.DiffEntry{}}
	wheres := []string{manifest.UpperOnly, manifest.CopiedUp, manifest.Lower, manifest.Metacopy, manifest.WhitedOut, "", "restorable"}
	for _, where := range wheres {
		for _, layer := range []int{-1, 0, math.MaxInt} {
			f := held("/f", 10, 0o644, nil) // the root has 12 bytes: bad size
			f.Provenance = &manifest.File{ID: f.ID, Name: f.Name, Size: 12, Mode: unix.S_IFREG | 0o644, MtimeNs: 42,
				Overlay: &manifest.Overlay{Where: where, Layer: layer}}
			for _, d := range []*checkpoint.RootfsDiff{nil, diff} {
				var tr tree = root
				if d != nil {
					tr = newDiffTree(d, root)
				}
				r, err := check(context.Background(), &inspect.Listing{Files: []*inspect.File{f}}, tr, "/r", d, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if r.Restorable() || len(r.Problems) != 1 || r.Problems[0].CRIU != "File f has bad size 12 (expect 10)" {
					t.Errorf("where %q layer %d diff %v: %+v", where, layer, d != nil, r.Problems)
				}
			}
		}
	}
}
