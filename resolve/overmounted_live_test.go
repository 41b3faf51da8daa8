package resolve_test

import (
	"testing"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/resolve"
)

// overMountedSpec: an fd, a mapping and the cwd in a directory of an
// overlay, and an fd in a directory of a tmpfs; then a tmpfs is mounted on
// each directory. The kernel's links and mount ids are unchanged, but the
// paths now reach the over-mounts, which hold other files (or none).
func overMountedSpec(base string) scenario.Spec {
	return scenario.Spec{Base: base, Steps: []scenario.Step{
		{Do: "write", Path: b("lower/dir/f"), Content: "f"},
		{Do: "write", Path: b("lower/dir/m"), Content: "m"},
		{Do: "mkdir", Path: b("upper")}, {Do: "mkdir", Path: b("work")},
		{Do: "overlay", Path: b("merged"), Lower: []string{"lower"}, Upper: "upper", Work: "work", Label: "ovl"},
		{Do: "open", Path: b("merged/dir/f"), Label: "overlay fd"},
		{Do: "mmap", Path: b("merged/dir/m"), Label: "overlay map"},
		{Do: "chdir", Path: b("merged/dir"), Label: "cwd"},
		{Do: "tmpfs", Path: b("merged/dir"), Label: "over ovl"},
		{Do: "write", Path: b("merged/dir/f"), Content: "another file of that name"},

		{Do: "tmpfs", Path: b("t"), Label: "tmpfs"},
		{Do: "write", Path: b("t/dir/f"), Content: "f"},
		{Do: "open", Path: b("t/dir/f"), Label: "tmpfs fd"},
		{Do: "tmpfs", Path: b("t/dir"), Label: "over tmpfs"},
	}}
}

// TestOverMountedAfterOpen: an fd whose directory was over-mounted after
// the open is unresolved, with TrustFdLinks too (its mnt_id is the right
// mount and the link lies under its mountpoint, but the path reaches the
// over-mount: the fast accept must not skip the stat). An unresolved
// object keeps only the mount id the kernel gave (fdinfo's for an fd,
// map_files' for a mapping; none, -1, for the cwd), never the over-mount
// found by covering the path.
func TestOverMountedAfterOpen(t *testing.T) {
	c := scenariotest.StartT(t, "", overMountedSpec)
	tg := openTarget(t, c, c.PID)
	for _, v := range []struct {
		view string
		rs   []resolve.Result
	}{{"untrusted", tg.live()}, {"trusted", tg.trusted()}, {"legacy", tg.legacy()}} {
		for _, tc := range []struct{ label, mount, over string }{
			{"overlay fd", "ovl", "over ovl"},
			{"overlay map", "ovl", "over ovl"},
			{"tmpfs fd", "tmpfs", "over tmpfs"},
			{"cwd", "", "over ovl"},
		} {
			h := held(t, c, tc.label)
			r := result(t, v.rs, h)
			want := kernelID(r.Object)
			if v.view == "legacy" && tc.mount == "ovl" && tc.label != "cwd" {
				want = -1 // the emulated layer clone's id is in no mountinfo
			} else if tc.mount != "" && want != mount(t, c, tc.mount) {
				t.Fatalf("%s %s: the kernel gave mount id %d, the scenario made it on mount %d", v.view, tc.label, want, mount(t, c, tc.mount))
			}
			if r.Verdict != resolve.Unresolved || r.MntID != want || r.Mount != nil {
				t.Errorf("%s %s: %s %q mnt %d (mount %v): want unresolved on the kernel's mount id %d, not the over-mount %d\n   reason %s\n   evidence %q",
					v.view, tc.label, r.Verdict, r.Path, r.MntID, r.Mount != nil, want, mount(t, c, tc.over), r.Reason, r.Evidence)
			}
		}
	}
}

// kernelID is the mount id /proc gave for o (-1 for none).
func kernelID(o *fdinfo.Object) int {
	switch {
	case o.Info != nil:
		return o.Info.MntID
	case o.Map != nil && o.Map.MapFiles != nil:
		return o.Map.MapFilesMntID
	}
	return -1
}
