package resolve

import (
	"os"
	"testing"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/mountns"
)

// liveProc is a scenario child scanned and ready to resolve, for the
// tests of this package that need its internals (route pinning, seams).
// The test binary's TestMain (main_test.go) runs the scenario child.
type liveProc struct {
	c    *scenario.Child
	objs []fdinfo.Object
	r    *Resolver
}

func startLive(t testing.TB, build func(base string) scenario.Spec) *liveProc {
	t.Helper()
	c := scenariotest.StartT(t, "", build)
	var s fdinfo.Scanner
	p, err := s.Scan(c.PID)
	if err != nil {
		t.Fatal(err)
	}
	table, err := mountns.ReadTable(c.PID)
	if err != nil {
		t.Fatal(err)
	}
	root, err := mountns.OpenRoot(c.PID)
	if err != nil {
		t.Fatal(err)
	}
	layers := NewLayers(root, ownView(t, nil))
	t.Cleanup(func() { layers.Close(); root.Close() })
	return &liveProc{c: c, objs: p.Objects, r: &Resolver{Table: table, Root: root, Layers: layers}}
}

// ownView is ovlfix's own view for a test, as NewSession makes it: our
// root and our mount table. opened (may be nil) is its HostView.Opened.
func ownView(t testing.TB, opened func(string)) *HostView {
	t.Helper()
	root, err := mountns.OpenRootPath("/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	table, err := mountns.ReadTable(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	return &HostView{Root: root, Table: table, Opened: opened}
}

// held returns the manifest entry labelled label.
func (lp *liveProc) held(t testing.TB, label string) scenario.Held {
	t.Helper()
	for _, h := range lp.c.Held {
		if h.Label == label {
			return h
		}
	}
	t.Fatalf("no held object labelled %q", label)
	return scenario.Held{}
}

// mountID is the id of the mount labelled label, from the child's own
// mountinfo.
func (lp *liveProc) mountID(t testing.TB, label string) int {
	t.Helper()
	m, ok := lp.c.Mounts[label]
	if !ok {
		t.Fatalf("no mount labelled %q", label)
	}
	return m.ID
}

// object returns the scanned object for a held fd or watch.
func (lp *liveProc) object(t testing.TB, h scenario.Held) *fdinfo.Object {
	t.Helper()
	for i := range lp.objs {
		o := &lp.objs[i]
		switch {
		case h.Kind == "watch" && o.Kind == fdinfo.KindWatch && o.FD == h.FD && int(o.Watch.WD) == h.WD,
			h.Kind == "fd" && o.Kind == fdinfo.KindFD && o.FD == h.FD:
			return o
		}
	}
	t.Fatalf("%s %q (%s) not scanned", h.Kind, h.Path, h.Label)
	return nil
}

// resultFor finds the result of a held object among ResolveAll's.
func resultFor(t testing.TB, rs []Result, o *fdinfo.Object) *Result {
	t.Helper()
	for i := range rs {
		if rs[i].Object == o {
			return &rs[i]
		}
	}
	t.Fatalf("%s not among the results", o.Name())
	return nil
}
