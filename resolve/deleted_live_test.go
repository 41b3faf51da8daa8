package resolve_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/resolve"
)

// unlinkedSpec: files whose opened name was unlinked while the inode kept
// other links, next to files that really are named "… (deleted)".
//   - a hard-linked file on tmpfs and on an overlay's upper layer, opened
//     by one name that is then removed (nlink 2 → 1), and one mapped the
//     same way (map_files names it);
//   - a lower-layer file removed through the overlay: a whiteout hides it,
//     the overlay inode keeps nlink 1;
//   - files named "x (deleted)" on tmpfs and in a lower layer, not
//     unlinked; and one so named that is unlinked (nlink 0), whose link
//     ends in " (deleted) (deleted)".
func unlinkedSpec(base string) scenario.Spec {
	return scenario.Spec{Base: base, Steps: []scenario.Step{
		{Do: "tmpfs", Path: b("t"), Label: "tmpfs"},
		{Do: "write", Path: b("t/a"), Content: "a"},
		{Do: "link", Src: b("t/a"), Path: b("t/b")},
		{Do: "open", Path: b("t/a"), Label: "tmpfs hard link"},
		{Do: "unlink", Path: b("t/a")},
		{Do: "write", Path: b("t/ma"), Content: "m"},
		{Do: "link", Src: b("t/ma"), Path: b("t/mb")},
		{Do: "mmap", Path: b("t/ma"), Label: "tmpfs hard link mapped"},
		{Do: "unlink", Path: b("t/ma")},
		{Do: "write", Path: b("t/x (deleted)"), Content: "x"},
		{Do: "open", Path: b("t/x (deleted)"), Label: "tmpfs named"},
		{Do: "write", Path: b("t/z (deleted)"), Content: "z"},
		{Do: "open", Path: b("t/z (deleted)"), Label: "tmpfs named unlinked"},
		{Do: "unlink", Path: b("t/z (deleted)")},

		{Do: "write", Path: b("lower/lw"), Content: "l"},
		{Do: "write", Path: b("lower/y (deleted)"), Content: "y"},
		{Do: "write", Path: b("upper/h1"), Content: "h"},
		{Do: "link", Src: b("upper/h1"), Path: b("upper/h2")},
		{Do: "mkdir", Path: b("work")},
		{Do: "overlay", Path: b("merged"), Lower: []string{"lower"}, Upper: "upper", Work: "work", Label: "ovl"},
		{Do: "open", Path: b("merged/h1"), Label: "overlay hard link"},
		{Do: "unlink", Path: b("merged/h1")},
		{Do: "open", Path: b("merged/lw"), Label: "overlay whiteout"},
		{Do: "unlink", Path: b("merged/lw")},
		{Do: "open", Path: b("merged/y (deleted)"), Label: "overlay named"},
	}}
}

// unlinkedCase is one held object of unlinkedSpec and what it must get.
type unlinkedCase struct {
	label, mount string
	deleted      bool
	path         string // "" for the held path
}

var unlinkedCases = []unlinkedCase{
	{label: "tmpfs hard link", mount: "tmpfs", deleted: true},
	{label: "tmpfs hard link mapped", mount: "tmpfs", deleted: true},
	{label: "overlay hard link", mount: "ovl", deleted: true},
	{label: "overlay whiteout", mount: "ovl", deleted: true},
	{label: "tmpfs named", mount: "tmpfs"},
	{label: "overlay named", mount: "ovl"},
	{label: "tmpfs named unlinked", mount: "tmpfs", deleted: true},
}

// trusted resolves tg as every ovlfix command does on a kernel probed to
// report true fd links (4.2+): TrustFdLinks, with the identity check.
func (tg *target) trusted() []resolve.Result {
	r := tg.resolver()
	r.TrustFdLinks = true
	r.Identity = r.CheckMountIdentity(tg.pid, tg.proc.Objects)
	return r.ResolveAll(tg.proc.Objects)
}

// TestUnlinkedWithLinksLeft: a held file whose opened name was unlinked
// while the inode kept other links (a hard link elsewhere, or a lower
// file whited out through an overlay) has a link ending in " (deleted)"
// and nlink > 0. It is deleted, named without the suffix (what CRIU's
// link remap names it, and what the post-dump hook must never overwrite
// with the suffixed link), and never accepted without a stat, with or
// without TrustFdLinks. A file really named "x (deleted)" keeps its name.
func TestUnlinkedWithLinksLeft(t *testing.T) {
	c := scenariotest.StartT(t, "", unlinkedSpec)
	tg := openTarget(t, c, c.PID)
	for _, v := range []struct {
		view string
		rs   []resolve.Result
	}{{"untrusted", tg.live()}, {"trusted", tg.trusted()}} {
		for _, tc := range unlinkedCases {
			h := held(t, c, tc.label)
			r := result(t, v.rs, h)
			t.Logf("%s %s: link %q nlink %d → %s %q deleted=%v", v.view, tc.label, r.Object.Link, nlinkOf(r), r.Verdict, r.Path, r.Deleted)
			expect(t, v.view+" "+tc.label, r, resolve.OK, h.Path, mount(t, c, tc.mount), h.Dev, h.Ino)
			if r.Deleted != tc.deleted {
				t.Errorf("%s %s: Deleted %v, want %v\n   evidence %q", v.view, tc.label, r.Deleted, tc.deleted, r.Evidence)
			}
			if !bytes.HasSuffix(r.Object.Link, []byte(" (deleted)")) {
				t.Errorf("%s %s: kernel link %q has no \" (deleted)\" suffix: the scenario tests nothing", v.view, tc.label, r.Object.Link)
			}
			for _, e := range r.Evidence {
				if strings.Contains(e, "no stat was needed") {
					t.Errorf("%s %s: accepted without a stat: %q", v.view, tc.label, e)
				}
			}
			if tc.deleted && nlinkOf(r) > 0 && !hasNote(r, "link/ghost remap under the stripped name") {
				t.Errorf("%s %s: evidence %q does not say how CRIU dumps it", v.view, tc.label, r.Evidence)
			}
		}
	}
}

// TestUnlinkedWithLinksLeftEmulatedLegacyKernel: the same process as a
// 3.18–4.1 kernel shows it. The tmpfs files look the same; the overlay
// ones have layer-relative links: an unlinked name has nothing left to
// confirm a mount with (unresolved, as a fully deleted file is), the
// lower file really named "y (deleted)" is found in its layer.
func TestUnlinkedWithLinksLeftEmulatedLegacyKernel(t *testing.T) {
	c := scenariotest.StartT(t, "", unlinkedSpec)
	tg := openTarget(t, c, c.PID)
	rs := tg.legacy()
	for _, tc := range unlinkedCases {
		h := held(t, c, tc.label)
		r := result(t, rs, h)
		want := resolve.OK
		switch {
		case tc.mount == "ovl" && tc.deleted:
			want = resolve.Unresolved
		case tc.mount == "ovl":
			want = resolve.Fixed
		}
		expect(t, "legacy "+tc.label, r, want, h.Path, mount(t, c, tc.mount), h.Dev, h.Ino)
		if r.Deleted != tc.deleted {
			t.Errorf("legacy %s: Deleted %v, want %v", tc.label, r.Deleted, tc.deleted)
		}
		if want == resolve.Unresolved && (r.Path == nil || bytes.HasSuffix(r.Path, []byte(" (deleted)"))) {
			t.Errorf("legacy %s: unresolved with path %q: want the layer-relative name without the suffix", tc.label, r.Path)
		}
	}
}

func nlinkOf(r *resolve.Result) uint64 {
	if o := r.Object; o.Map != nil && o.Map.MapFiles != nil {
		return o.Map.MapFiles.Nlink
	} else if o.Stat != nil {
		return o.Stat.Nlink
	}
	return 0
}

func hasNote(r *resolve.Result, part string) bool {
	for _, e := range r.Evidence {
		if strings.Contains(e, part) {
			return true
		}
	}
	return false
}

// TestUnlinkedNameTaken: the held file's opened name was unlinked (links
// left) and a new file now has the suffixed name "a (deleted)". The link
// then names another inode: CRIU refuses the fd ("Unaccessible path"),
// and the resolver cannot tell an unlinked name from a renamed real one:
// unresolved, named without the suffix, on the kernel's mount id only.
func TestUnlinkedNameTaken(t *testing.T) {
	c := scenariotest.StartT(t, "", func(base string) scenario.Spec {
		return scenario.Spec{Base: base, Steps: []scenario.Step{
			{Do: "tmpfs", Path: b("t"), Label: "tmpfs"},
			{Do: "write", Path: b("t/a"), Content: "a"},
			{Do: "link", Src: b("t/a"), Path: b("t/b")},
			{Do: "open", Path: b("t/a"), Label: "fd"},
			{Do: "unlink", Path: b("t/a")},
			{Do: "write", Path: b("t/a (deleted)"), Content: "a trap"},
		}}
	})
	tg := openTarget(t, c, c.PID)
	h := held(t, c, "fd")
	for _, v := range []struct {
		view string
		rs   []resolve.Result
	}{{"untrusted", tg.live()}, {"trusted", tg.trusted()}} {
		r := result(t, v.rs, h)
		if r.Verdict != resolve.Unresolved || !bytes.Equal(r.Path, h.Path) || !r.Deleted || r.MntID != mount(t, c, "tmpfs") || r.Mount != nil {
			t.Errorf("%s: %s %q deleted=%v mnt %d (%s)\n   want unresolved %q deleted on the kernel's mount %d\n   evidence %q",
				v.view, r.Verdict, r.Path, r.Deleted, r.MntID, r.Reason, h.Path, mount(t, c, "tmpfs"), r.Evidence)
		}
		if !strings.Contains(r.Reason, "Unaccessible path") {
			t.Errorf("%s: reason %q does not say what CRIU does", v.view, r.Reason)
		}
	}
}
