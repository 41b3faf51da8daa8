package resolve_test

import (
	"testing"

	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/resolve"
)

// TestOpenedInAnotherNamespace: files opened and mapped before the process
// moved to a new mount namespace keep the old namespace's mount ids, which
// are in no mountinfo of the target now (container runtimes hand such fds
// to their processes). The same file at the same path in the new
// namespace, with the held inode, is the answer; the mount is the new
// namespace's copy. A file the new namespace does not show stays
// unresolved.
func TestOpenedInAnotherNamespace(t *testing.T) {
	c := scenariotest.StartT(t, "", func(base string) scenario.Spec {
		return scenario.Spec{Base: base, Steps: []scenario.Step{
			{Do: "write", Path: b("lower/f"), Content: "f"},
			{Do: "write", Path: b("lower/m"), Content: "m"},
			{Do: "mkdir", Path: b("upper")}, {Do: "mkdir", Path: b("work")},
			{Do: "overlay", Path: b("merged"), Lower: []string{"lower"}, Upper: "upper", Work: "work", Label: "main"},
			{Do: "tmpfs", Path: b("t"), Label: "tmpfs"},
			{Do: "write", Path: b("t/plain"), Content: "p"},
			{Do: "tmpfs", Path: b("gone"), Label: "gone"},
			{Do: "write", Path: b("gone/x"), Content: "x"},
			{Do: "open", Path: b("merged/f"), Label: "overlay-fd"},
			{Do: "mmap", Path: b("merged/m"), Label: "overlay-map"},
			{Do: "open", Path: b("t/plain"), Label: "tmpfs-fd"},
			{Do: "open", Path: b("gone/x"), Label: "hidden-fd"},
			{Do: "unshare-mnt"},
			{Do: "tmpfs", Path: b("gone")}, // the new namespace no longer shows gone/x
			{Do: "open", Path: b("merged/f"), Label: "after"},
		}}
	})
	tg := openTarget(t, c, c.PID)
	// Without trust (candidates first) and with it (probed 4.2+: the same
	// path first), the answers are the same.
	trusted := tg.resolver()
	trusted.TrustFdLinks = true
	trusted.Identity = trusted.CheckMountIdentity(c.PID, tg.proc.Objects)
	for _, rs := range [][]resolve.Result{tg.live(), trusted.ResolveAll(tg.proc.Objects)} {
		checkOpenedInAnotherNamespace(t, c, tg, rs)
	}
}

func checkOpenedInAnotherNamespace(t *testing.T, c *scenario.Child, tg *target, rs []resolve.Result) {
	newID := func(label string) int {
		m := tg.table.ByMountpoint(c.Mounts[label].Mountpoint)
		if m == nil || m.ID == c.Mounts[label].ID {
			t.Fatalf("%s: mount in the new namespace %+v, old id %d: the namespace did not change", label, m, c.Mounts[label].ID)
		}
		return m.ID
	}
	for _, tc := range []struct{ label, mount string }{
		{"overlay-fd", "main"}, {"overlay-map", "main"}, {"tmpfs-fd", "tmpfs"},
	} {
		h := held(t, c, tc.label)
		r := result(t, rs, h)
		expect(t, tc.label, r, resolve.Fixed, h.Path, newID(tc.mount), h.Dev, h.Ino)
	}
	// Opened in the new namespace: nothing to fix.
	h := held(t, c, "after")
	expect(t, "after", result(t, rs, h), resolve.OK, h.Path, newID("main"), h.Dev, h.Ino)
	// Over-mounted in the new namespace: the path is another file now.
	expect(t, "hidden-fd", result(t, rs, held(t, c, "hidden-fd")), resolve.Unresolved, nil, -1, 0, 0)
}
