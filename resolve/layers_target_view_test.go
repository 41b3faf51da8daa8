package resolve_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/legacy"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/mountns"
	"github.com/ovlfix/ovlfix/resolve"
)

// TestLayersOfTargetOverlayNeverFromHost: the target mounts an overlay in
// its own namespace whose lower layer is at a path that also exists on the
// host (a root-only host directory holding a file of the same name as the
// watched one), and then breaks that path inside its namespace (renames
// its layer directory away). Its layers are the target's: the host
// directory must never be opened (ovlfix's own-root recorder stays empty,
// and the kernel reports no open of it), neither by the watch's layer walk
// nor by the layer lookups of the emulated 3.18–4.1 kernel; the watch is
// found by the merged walk, not from the host directory.
func TestLayersOfTargetOverlayNeverFromHost(t *testing.T) {
	var hostLower string
	c := scenariotest.StartT(t, "", func(base string) scenario.Spec {
		// On the host: base/secret/ (root-only) lower/app.txt.
		hostLower = filepath.Join(base, "secret/lower")
		if err := os.MkdirAll(hostLower, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Dir(hostLower), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(hostLower, "app.txt"), []byte("host secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		return scenario.Spec{Base: base, HostLayers: true, Steps: []scenario.Step{
			{Do: "tmpfs", Path: b("secret")}, // the target's own secret/, over the host's
			{Do: "write", Path: b("secret/lower/app.txt"), Content: "target"},
			{Do: "mkdir", Path: b("secret/upper")},
			{Do: "mkdir", Path: b("secret/work")},
			{Do: "overlay", Path: b("merged"), Lower: []string{"secret/lower"}, Upper: "secret/upper", Work: "secret/work", Label: "main"},
			{Do: "open", Path: b("merged/app.txt"), Label: "fd"},
			{Do: "watch", Path: b("merged/app.txt"), Label: "watch"},
			{Do: "rename", Src: b("secret/lower"), Path: b("secret/moved")}, // the layer path is broken inside
		}}
	})
	opens := resolve.DirOpens(t, hostLower)
	var hostPaths []string
	record := func(p string) { hostPaths = append(hostPaths, p) }
	s, err := resolve.NewSession(resolve.SessionOptions{HostOpened: record})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var sc fdinfo.Scanner
	proc, err := sc.Scan(c.PID)
	if err != nil {
		t.Fatal(err)
	}
	// Only the watch: with the fd, the hint route would find it at once.
	var watch []fdinfo.Object
	for _, o := range proc.Objects {
		if o.Kind == fdinfo.KindWatch {
			watch = append(watch, o)
		}
	}
	got, err := s.Resolve(context.Background(), c.PID, watch)
	if err != nil {
		t.Fatal(err)
	}
	h, mnt := held(t, c, "watch"), mount(t, c, "main")
	if r := result(t, got.Results, h); r.Verdict != resolve.OK || !bytes.Equal(r.Path, h.Path) || r.MntID != mnt || r.Route != resolve.RouteMergedWalk ||
		!evidenceHas(r, "from the target's view") {
		t.Errorf("watch: %s %q mnt %d route %q (%s), want ok %q mnt %d by the merged walk, layers from the target's view\n  evidence %q",
			r.Verdict, r.Path, r.MntID, r.Route, r.Reason, h.Path, mnt, r.Evidence)
	}

	// The 3.18–4.1 kernel: the fd's link is layer-relative; the emulator
	// and the resolver look it up in the layers (Top, Find).
	table, err := mountns.ReadTable(c.PID)
	if err != nil {
		t.Fatal(err)
	}
	root, err := mountns.OpenRoot(c.PID)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	ourRoot, err := mountns.OpenRootPath("/")
	if err != nil {
		t.Fatal(err)
	}
	defer ourRoot.Close()
	ours, err := mountns.ReadTable(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	layers := resolve.NewLayers(root, &resolve.HostView{Root: ourRoot, Table: ours, Opened: record})
	defer layers.Close()
	rs := (&resolve.Resolver{Table: table, Root: root, Layers: layers}).ResolveAll(legacy.Emulate(proc, table, layers).Objects)
	fd := held(t, c, "fd")
	if r := result(t, rs, fd); r.Verdict != resolve.Fixed || !bytes.Equal(r.Path, fd.Path) || r.MntID != mnt || !evidenceHas(r, "from the target's view") {
		t.Errorf("legacy fd: %s %q mnt %d (%s), want fixed %q mnt %d, layers from the target's view\n  evidence %q",
			r.Verdict, r.Path, r.MntID, r.Reason, fd.Path, mnt, r.Evidence)
	}

	if len(hostPaths) != 0 {
		t.Errorf("paths opened through ovlfix's own root for the target's own overlay: %q", hostPaths)
	}
	if ev := opens(); len(ev) != 0 {
		t.Errorf("the host directory %s was opened for the target: %q", hostLower, ev)
	}
}

func evidenceHas(r *resolve.Result, sub string) bool {
	for _, e := range r.Evidence {
		if strings.Contains(e, sub) {
			return true
		}
	}
	return false
}
