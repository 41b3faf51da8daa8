package resolve

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"golang.org/x/sys/unix"
)

// uniqueOf is the test's own reading of a unique mount id: statx through a
// /proc path of the target (a magic link, or a path through its root).
func uniqueOf(t *testing.T, path string) uint64 {
	t.Helper()
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_MNT_ID_UNIQUE, &stx); err != nil {
		t.Fatal(err)
	}
	if stx.Mask&unix.STATX_MNT_ID_UNIQUE == 0 {
		t.Fatalf("statx %s: no STATX_MNT_ID_UNIQUE (kernel %s; 6.8+ has it)", path, kernelRelease())
	}
	return stx.Mnt_id
}

// checkedOrAbsent reports whether the identity check ran. When it did not,
// it asserts why: this kernel has no unique mount ids (before 6.8), as our
// own statx of "/" shows, and the note says so.
func checkedOrAbsent(t *testing.T, mi *MountIdentity) bool {
	t.Helper()
	if mi.Supported {
		return true
	}
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, "/", 0, unix.STATX_MNT_ID_UNIQUE, &stx); err == nil && stx.Mask&unix.STATX_MNT_ID_UNIQUE != 0 {
		t.Fatalf("the check did not run (%s), but kernel %s has STATX_MNT_ID_UNIQUE", mi.Note, kernelRelease())
	}
	if !strings.Contains(mi.Note, "6.8") {
		t.Errorf("note %q does not say the check needs 6.8", mi.Note)
	}
	t.Logf("kernel %s has no STATX_MNT_ID_UNIQUE: checked that the identity check says so", kernelRelease())
	return false
}

func kernelRelease() string {
	var u unix.Utsname
	_ = unix.Uname(&u)
	return unix.ByteSliceToString(u.Release[:])
}

// TestMountIdentityDetached: the target holds a file on tmpfs A, A is
// lazily unmounted in its namespace and a new tmpfs B is mounted on the
// same directory, with a file of the same name. fdinfo still names A's id.
// Whether or not B got A's old id, the resolver must not say the fd lives
// on B. (On 6.18 the id is not reused while the fd pins A: an id is freed
// only when the mount itself is, and the held fd keeps A alive.)
func TestMountIdentityDetached(t *testing.T) {
	lp := startLive(t, func(base string) scenario.Spec {
		return scenario.Spec{Base: base, Steps: []scenario.Step{
			{Do: "tmpfs", Path: p("m"), Label: "A"},
			{Do: "write", Path: p("m/f"), Content: "on A"},
			{Do: "open", Path: p("m/f"), Label: "fd"},
			{Do: "umount", Path: p("m")},
			{Do: "tmpfs", Path: p("m"), Label: "B"},
			{Do: "write", Path: p("m/f"), Content: "on B"},
		}}
	})
	a, b := lp.mountID(t, "A"), lp.mountID(t, "B")
	o := lp.object(t, lp.held(t, "fd"))
	if o.Info == nil || o.Info.MntID != a {
		t.Fatalf("fdinfo of the held fd: %+v, want mnt_id %d (mount A)", o.Info, a)
	}
	t.Logf("kernel %s: mount A id %d, B id %d (old id reused: %v); the detached fd's link is %q",
		kernelRelease(), a, b, a == b, o.Link)
	lp.r.Identity = lp.r.CheckMountIdentity(lp.c.PID, lp.objs)
	checked := checkedOrAbsent(t, lp.r.Identity)
	res := lp.r.Resolve(o)
	if res.Verdict != Unresolved || res.MntID != -1 || res.Mount != nil {
		t.Fatalf("fd on the detached mount: %s mnt %d path %q (%s); want unresolved with no mount\n  evidence %q",
			res.Verdict, res.MntID, res.Path, res.Reason, res.Evidence)
	}
	if a == b && checked {
		fdU := uniqueOf(t, fmt.Sprintf("/proc/%d/fd/%d", lp.c.PID, o.FD))
		if !strings.Contains(res.Reason, fmt.Sprintf("%#x", fdU)) {
			t.Errorf("reason %q does not name the fd's unique mount id %#x", res.Reason, fdU)
		}
	}
}

// TestMountIdentityOverMounted: the target opens a file through bind
// mount A of a directory, then bind-mounts the same directory again on
// top (B). A is still in mountinfo and stat of the path through B is the
// very same dev:ino, so only the unique ids show that the path reaches
// another mount than the fd's.
func TestMountIdentityOverMounted(t *testing.T) {
	lp := startLive(t, func(base string) scenario.Spec {
		return scenario.Spec{Base: base, Steps: []scenario.Step{
			{Do: "write", Path: p("d/f"), Content: "x"},
			{Do: "mkdir", Path: p("m")},
			{Do: "bind", Src: p("d"), Path: p("m"), Label: "A"},
			{Do: "open", Path: p("m/f"), Label: "fd"},
			{Do: "bind", Src: p("d"), Path: p("m"), Label: "B"},
		}}
	})
	// The manifest's label B names the bottom mount of the stack (its
	// mountinfo filter stops at the first match); read the top one here.
	a, b := lp.mountID(t, "A"), topMountID(t, lp.c.PID, lp.c.Mounts["A"].Mountpoint)
	if b == a {
		t.Fatalf("only mount %d on %s: the scenario is not over-mounted", a, lp.c.Mounts["A"].Mountpoint)
	}
	h := lp.held(t, "fd")
	o := lp.object(t, h)
	if o.Info.MntID != a {
		t.Fatalf("fdinfo mnt_id %d, want %d (mount A)", o.Info.MntID, a)
	}
	before := lp.r.Resolve(o)
	t.Logf("without the identity check: %s on mount %d (%s)", before.Verdict, before.MntID, before.Reason)

	lp.r.Identity = lp.r.CheckMountIdentity(lp.c.PID, lp.objs)
	res := lp.r.Resolve(o)
	if !checkedOrAbsent(t, lp.r.Identity) {
		if !hasEvidence(&res, "mount identity not checked: ") {
			t.Errorf("no evidence that the check could not run: %q", res.Evidence)
		}
		return
	}
	fdU := uniqueOf(t, fmt.Sprintf("/proc/%d/fd/%d", lp.c.PID, h.FD))
	pointU := uniqueOf(t, fmt.Sprintf("/proc/%d/root%s", lp.c.PID, lp.c.Mounts["A"].Mountpoint))
	if fdU == pointU {
		t.Fatalf("unique ids of A (through the fd) and of the mountpoint are both %#x: the scenario is not over-mounted", fdU)
	}
	if res.Verdict != Unresolved || res.MntID != -1 {
		t.Fatalf("fd on the over-mounted mount: %s on mount %d (%s), want unresolved\n  evidence %q", res.Verdict, res.MntID, res.Reason, res.Evidence)
	}
	for _, want := range []string{fmt.Sprintf("%#x", fdU), fmt.Sprintf("%#x", pointU), fmt.Sprintf("over-mounted there by mount %d", b)} {
		if !strings.Contains(res.Reason, want) {
			t.Errorf("reason %q does not say %q", res.Reason, want)
		}
	}
}

// topMountID reads the target's mountinfo and returns the id of the last
// mount on mountpoint: the one on top of the stack.
func topMountID(t *testing.T, pid int, mountpoint string) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	infos, err := mountinfo.GetMountsFromReader(f, func(i *mountinfo.Info) (skip, stop bool) {
		return i.Mountpoint != mountpoint, false
	})
	if err != nil || len(infos) == 0 {
		t.Fatalf("mountinfo of %d: %d mounts on %s (%v)", pid, len(infos), mountpoint, err)
	}
	return infos[len(infos)-1].ID
}

// countingStatx wraps unix.Statx, counting calls; hideUnique plays a
// kernel before 6.8, which ignores the STATX_MNT_ID_UNIQUE request.
func countingStatx(calls *int, hideUnique bool) statxFunc {
	return func(dirfd int, path string, flags, mask int, st *unix.Statx_t) error {
		*calls++
		err := unix.Statx(dirfd, path, flags, mask, st)
		if hideUnique {
			st.Mask &^= unix.STATX_MNT_ID_UNIQUE
		}
		return err
	}
}

// identitySpec holds many fds on two mounts: an overlay and a tmpfs.
func identitySpec(base string) scenario.Spec {
	return scenario.Spec{Base: base,
		Files: []scenario.File{
			{Name: p("a"), Layer: "lower", Content: "a"},
			{Name: p("b"), Layer: "upper", Content: "b"},
		},
		Ops: []scenario.Op{
			{Kind: "open", Path: p("a"), Count: 40},
			{Kind: "open-rw", Path: p("b")},
		},
		Steps: []scenario.Step{
			{Do: "tmpfs", Path: p("t"), Label: "T"},
			{Do: "write", Path: p("t/x"), Content: "x"},
			{Do: "open", Path: p("t/x"), Count: 10},
		},
	}
}

// TestMountIdentityCost: the check costs two statx calls per distinct
// mount id (one through one fd, one of the mountpoint), however many fds
// share the id, and every fd on those mounts is still accepted.
func TestMountIdentityCost(t *testing.T) {
	lp := startLive(t, identitySpec)
	calls := 0
	lp.r.statx = countingStatx(&calls, false)
	mi := lp.r.CheckMountIdentity(lp.c.PID, lp.objs)
	if !checkedOrAbsent(t, mi) {
		if calls != 1 {
			t.Errorf("%d statx calls on a kernel without unique ids, want 1", calls)
		}
		return
	}
	pathFds := 0
	for _, o := range lp.objs {
		if o.Kind == fdinfo.KindFD && len(o.Link) > 0 && o.Link[0] == '/' {
			pathFds++
		}
	}
	for _, label := range []string{"main", "T"} {
		c := mi.Mounts[lp.mountID(t, label)]
		if c == nil || !c.Same() {
			t.Errorf("mount %s (%d): check %+v, want the same unique id on both sides", label, lp.mountID(t, label), c)
		}
	}
	if calls != 2*len(mi.Mounts) || len(mi.Mounts) > 4 {
		t.Errorf("%d statx calls for %d path fds on %d distinct mounts; want 2 per mount", calls, pathFds, len(mi.Mounts))
	}
	t.Logf("%d path fds, %d distinct mounts, %d statx calls", pathFds, len(mi.Mounts), calls)
	lp.r.Identity = mi
	for _, res := range lp.r.ResolveAll(lp.objs) {
		o := res.Object
		if o.Kind != fdinfo.KindFD || o.Info == nil || (o.Info.MntID != lp.mountID(t, "main") && o.Info.MntID != lp.mountID(t, "T")) {
			continue
		}
		if res.Verdict != OK || !hasEvidence(&res, "unique mount id ") {
			t.Errorf("%s: %s (%s), evidence %q", o.Name(), res.Verdict, res.Reason, res.Evidence)
		}
	}
}

// TestMountIdentityOldKernel: a kernel without STATX_MNT_ID_UNIQUE
// (before 6.8) ignores the request; the check stops after one call, says
// why, and fds are resolved as without it.
func TestMountIdentityOldKernel(t *testing.T) {
	lp := startLive(t, identitySpec)
	calls := 0
	lp.r.statx = countingStatx(&calls, true)
	mi := lp.r.CheckMountIdentity(lp.c.PID, lp.objs)
	if mi.Supported || !strings.Contains(mi.Note, "6.8") || calls != 1 || len(mi.Mounts) != 0 {
		t.Fatalf("old kernel: %+v after %d statx calls; want unsupported after 1 call, with a note naming 6.8", mi, calls)
	}
	lp.r.Identity = mi
	h := lp.held(t, "") // the first "open" of the shorthand has no label
	res := lp.r.Resolve(lp.object(t, h))
	if res.Verdict != OK || !hasEvidence(&res, "mount identity not checked: ") {
		t.Errorf("fd %d: %s (%s), evidence %q", h.FD, res.Verdict, res.Reason, res.Evidence)
	}
}

func hasEvidence(res *Result, prefix string) bool {
	for _, e := range res.Evidence {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}
