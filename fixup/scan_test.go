package fixup

import (
	"os"
	"testing"

	"github.com/ovlfix/ovlfix/fdinfo"
)

// Every object of a real process (this test) that an image can name is
// found again by the ref its images would hold (fdinfo-N.img: fd; fs-N:
// cwd, root; mm-N: exe and each VMA), and by no other object's ref.
func TestRefKeyFindsItsObject(t *testing.T) {
	f, err := os.Open(os.Args[0]) // at least one fd of a regular file
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var sc fdinfo.Scanner
	p, err := sc.Scan(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	subset, at := indexObjects(p.Objects)
	kinds := map[fdinfo.Kind]int{}
	for i := range subset {
		o := &subset[i]
		r := ref{Kind: o.Kind}
		switch o.Kind {
		case fdinfo.KindFD:
			r.FD = o.FD
		case fdinfo.KindMap:
			r.Start, r.End = o.Map.Start, o.Map.End
		}
		j, ok := at[refKey(r)]
		if !ok || j != i {
			t.Errorf("%s: its ref finds object %d (%v), want %d", r.label(), j, ok, i)
		}
		kinds[o.Kind]++
	}
	for _, k := range []fdinfo.Kind{fdinfo.KindFD, fdinfo.KindCwd, fdinfo.KindRoot, fdinfo.KindExe, fdinfo.KindMap} {
		if kinds[k] == 0 {
			t.Errorf("no %s object in the scan of pid %d", k, os.Getpid())
		}
	}
	t.Logf("%d of %d objects indexed: %v", len(subset), len(p.Objects), kinds)
	for _, r := range []ref{{Kind: fdinfo.KindFD, FD: 1 << 30}, {Kind: fdinfo.KindMap, Start: 1}} {
		if _, ok := at[refKey(r)]; ok {
			t.Errorf("%s finds an object this process does not have", r.label())
		}
	}
}
