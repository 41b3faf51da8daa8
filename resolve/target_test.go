package resolve_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/legacy"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/mountns"
	"github.com/ovlfix/ovlfix/resolve"
)

// target is one live process prepared for resolution.
type target struct {
	c      *scenario.Child
	pid    int
	proc   *fdinfo.Process
	table  *mountns.Table
	root   *mountns.Root
	layers *resolve.Layers
}

// openTarget scans pid (the scenario child or one of its grandchildren).
func openTarget(t *testing.T, c *scenario.Child, pid int) *target {
	t.Helper()
	var s fdinfo.Scanner
	p, err := s.Scan(pid)
	if err != nil {
		t.Fatal(err)
	}
	table, err := mountns.ReadTable(pid)
	if err != nil {
		t.Fatal(err)
	}
	root, err := mountns.OpenRoot(pid)
	if err != nil {
		t.Fatal(err)
	}
	host, err := mountns.OpenRootPath("/")
	if err != nil {
		t.Fatal(err)
	}
	own, err := mountns.ReadTable(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	layers := resolve.NewLayers(root, &resolve.HostView{Root: host, Table: own})
	t.Cleanup(func() { layers.Close(); root.Close(); host.Close() })
	return &target{c: c, pid: pid, proc: p, table: table, root: root, layers: layers}
}

func (tg *target) resolver() *resolve.Resolver {
	return &resolve.Resolver{Table: tg.table, Root: tg.root, Layers: tg.layers}
}

// live resolves what the running kernel reported.
func (tg *target) live() []resolve.Result { return tg.resolver().ResolveAll(tg.proc.Objects) }

// legacy resolves the same process as a 3.18–4.1 kernel would show it.
func (tg *target) legacy() []resolve.Result {
	return tg.resolver().ResolveAll(legacy.Emulate(tg.proc, tg.table, tg.layers).Objects)
}

// result finds the result for a held object of the manifest.
func result(t *testing.T, rs []resolve.Result, h scenario.Held) *resolve.Result {
	t.Helper()
	for i := range rs {
		o := rs[i].Object
		switch {
		case (h.Kind == "fd" || h.Kind == "thread-fd") && o.Kind == fdinfo.KindFD && o.FD == h.FD,
			h.Kind == "map" && o.Kind == fdinfo.KindMap && o.Map.Start == h.Addr,
			h.Kind == "cwd" && o.Kind == fdinfo.KindCwd,
			h.Kind == "exe" && o.Kind == fdinfo.KindExe,
			h.Kind == "watch" && o.Kind == fdinfo.KindWatch && o.FD == h.FD && int(o.Watch.WD) == h.WD:
			return &rs[i]
		}
	}
	t.Fatalf("%s %q (%s) not among the results", h.Kind, h.Path, h.Label)
	return nil
}

func held(t *testing.T, c *scenario.Child, label string) scenario.Held {
	t.Helper()
	for _, h := range c.Held {
		if h.Label == label {
			return h
		}
	}
	t.Fatalf("no held object labelled %q", label)
	return scenario.Held{}
}

func mount(t *testing.T, c *scenario.Child, label string) int {
	t.Helper()
	m, ok := c.Mounts[label]
	if !ok {
		t.Fatalf("no mount labelled %q", label)
	}
	return m.ID
}

// expect checks one result: verdict, path, mount and the true dev:ino.
func expect(t *testing.T, view string, r *resolve.Result, verdict resolve.Verdict, path []byte, mntID int, dev, ino uint64) {
	t.Helper()
	bad := r.Verdict != verdict
	if verdict != resolve.Unresolved {
		bad = bad || !bytes.Equal(r.Path, path) || r.MntID != mntID || r.Ino != ino || (dev != 0 && r.Dev != dev)
	}
	if bad {
		t.Errorf("%s %s: got %s %q mnt %d %d:%d (%s)\n   want %s %q mnt %d %d:%d\n   evidence: %q",
			view, r.Object.Name(), r.Verdict, r.Path, r.MntID, r.Dev, r.Ino, r.Reason,
			verdict, path, mntID, dev, ino, r.Evidence)
	}
}
