package mountns

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// overlayCase is one overlay mount that capture.sh made, and what its
// mountinfo line must parse to.
type overlayCase struct {
	file, mountpoint string
	root             string // mountinfo root field
	source           string
	want             Overlay
	minKernel        [2]int // fixture skipped below this kernel
}

// uuidOn is what 6.6+ prints for an overlay with an upper layer when no
// uuid= was given (uuid=auto upgrades new overlays); older kernels print
// nothing.
func overlayCases(uuidOn string) []overlayCase {
	// modern: what the reworked option code (fs/overlayfs/params.c, 6.5+)
	// prints but 6.1 does not. Only 6.1 and 6.18 were captured, so "6.6+"
	// (uuidOn) stands for both.
	modern := func(v string) string {
		if uuidOn == "" {
			return ""
		}
		return v
	}
	D := "/var/lib/docker/overlay2"
	S := "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots"
	T := "/run/containerd/io.containerd.runtime.v2.task/k8s.io"
	P := "/var/lib/containers/storage/overlay"
	R := "/home/user/.local/share/containers/storage/overlay"
	X := "/run/esc"
	F := "/run/fsconfig"
	A, B, O := "/run/tmpfs-a", "/run/tmpfs-b", "/run/ovl"
	c1 := Overlay{
		Lower: []Layer{{Path: D + "/l/" + shortLink("app")}, {Path: D + "/l/" + shortLink("base")}},
		Upper: D + "/" + layerID("c1") + "/diff", Work: D + "/" + layerID("c1") + "/work", UUID: uuidOn,
	}
	podman := func(c string) Overlay {
		return Overlay{
			Lower: []Layer{{Path: P + "/l/" + shortLink("fedora")}},
			Upper: P + "/" + layerID(c) + "/diff", Work: P + "/" + layerID(c) + "/work",
			// metacopy=on turns redirect_dir on; the 6.5+ params.c shows
			// that, 6.1 does not (seen in the lab capture).
			Metacopy: "on", RedirectDir: modern("on"), UUID: uuidOn,
		}
	}
	return []overlayCase{
		{file: "docker.mountinfo", mountpoint: D + "/" + layerID("c1") + "/merged", root: "/", source: "overlay", want: c1},
		{file: "docker.mountinfo", mountpoint: D + "/" + layerID("c2") + "/merged", root: "/", source: "overlay", want: Overlay{
			// dockerd's relative form: the kernel keeps the mounter's string.
			Lower: []Layer{{Path: "l/" + shortLink("app")}, {Path: "l/" + shortLink("base")}},
			Upper: layerID("c2") + "/diff", Work: layerID("c2") + "/work", UUID: uuidOn,
		}},
		// c1's /app bind-mounted into c2: same superblock, root /app.
		{file: "docker.mountinfo", mountpoint: D + "/" + layerID("c2") + "/merged/mnt/app", root: "/app", source: "overlay", want: c1},
		{file: "docker-container-view.mountinfo", mountpoint: "/", root: "/", source: "overlay", want: c1},
		{file: "containerd.mountinfo", mountpoint: T + "/" + layerID("pod") + "/rootfs", root: "/", source: "overlay", want: Overlay{
			// index=off equals the module default (index=N), so it is not shown.
			Lower: []Layer{{Path: S + "/2/fs"}, {Path: S + "/1/fs"}},
			Upper: S + "/3/fs", Work: S + "/3/work", UUID: uuidOn,
		}},
		{file: "podman.mountinfo", mountpoint: P + "/" + layerID("pc") + "/merged", root: "/", source: "overlay", want: podman("pc")},
		{file: "rootless-userxattr.mountinfo", mountpoint: R + "/" + layerID("rlc") + "/merged", root: "/", source: "overlay", want: Overlay{
			Lower: []Layer{{Path: R + "/" + layerID("rl") + "/diff"}},
			Upper: R + "/" + layerID("rlc") + "/diff", Work: R + "/" + layerID("rlc") + "/work",
			// userxattr forces redirect_dir=nofollow, which differs from the
			// default (follow, as redirect_always_follow=Y), so it is shown.
			// 6.1 does not show it.
			UserXattr: true, RedirectDir: modern("nofollow"), UUID: uuidOn,
		}},
		{file: "escapes.mountinfo", mountpoint: X + "/mnt point", root: "/", source: "overlay", want: Overlay{
			Lower: []Layer{
				{Path: X + "/lo space"}, {Path: X + "/lo,comma"}, {Path: X + "/lo:colon"}, {Path: X + `/lo\back`},
				{Path: X + "/lo\ttab"}, {Path: X + "/lo\nnl"}, {Path: X + "/lo=eq"},
			},
			Upper: X + "/up,per", Work: X + "/work", UUID: uuidOn,
		}},
		{file: "lowerdir-plus.mountinfo", mountpoint: F + "/m", root: "/", source: "overlay", minKernel: [2]int{6, 8}, want: Overlay{
			Lower: []Layer{{Path: F + "/l1"}, {Path: F + "/l 2"}, {Path: F + "/d:1", DataOnly: true}},
			Upper: F + "/u", Work: F + "/w", Metacopy: "on", RedirectDir: "on", UUID: uuidOn,
		}},
		{file: "lowerdir-plus.mountinfo", mountpoint: F + "/m2", root: "/", source: "none", minKernel: [2]int{6, 8}, want: Overlay{
			// fsconfig(2): values verbatim, so a newline and a comma in a path.
			Lower: []Layer{{Path: F + "/l1"}, {Path: F + "/nl\nx"}, {Path: F + "/d,2", DataOnly: true}},
			Upper: F + "/u2", Work: F + "/w2", Metacopy: "on", RedirectDir: "on", UUID: uuidOn,
		}},
		{file: "features.mountinfo", mountpoint: O + "/xino", root: "/", source: "overlay", want: Overlay{
			Lower: []Layer{{Path: A + "/lower"}}, Upper: B + "/upper", Work: B + "/work", Xino: "on", UUID: uuidOn,
		}},
		{file: "features.mountinfo", mountpoint: O + "/nfs", root: "/", source: "overlay", want: Overlay{
			Lower: []Layer{{Path: A + "/lower"}}, Upper: B + "/upper2", Work: B + "/work2", Index: "on", NFSExport: "on", UUID: uuidOn,
		}},
		{file: "features.mountinfo", mountpoint: O + "/dataonly", root: "/", source: "overlay", minKernel: [2]int{6, 5}, want: Overlay{
			Lower:    []Layer{{Path: A + "/lower"}, {Path: A + "/lower2"}, {Path: A + "/data", DataOnly: true}},
			Metacopy: "on", RedirectDir: "on", ReadOnly: true,
		}},
		{file: "features.mountinfo", mountpoint: O + "/nested", root: "/", source: "overlay", want: Overlay{
			Lower: []Layer{{Path: O + "/xino"}}, Upper: B + "/upper4", Work: B + "/work4", UUID: uuidOn,
		}},
	}
}

func TestTableOverlayFixtures(t *testing.T) {
	for _, dir := range fixtureKernels(t) {
		uuidOn := ""
		if kernelAtLeast(t, dir, 6, 6) {
			uuidOn = "on"
		}
		for _, c := range overlayCases(uuidOn) {
			t.Run(filepath.Base(dir)+"/"+c.file+":"+c.mountpoint, func(t *testing.T) {
				if !kernelAtLeast(t, dir, c.minKernel[0], c.minKernel[1]) {
					// The capture script could not make this mount on an
					// older kernel: the fixture (if any) must show exactly that.
					if _, err := os.Stat(filepath.Join(dir, c.file)); errors.Is(err, fs.ErrNotExist) {
						return
					}
					tab := loadFixture(t, dir, c.file)
					if m := tab.ByMountpoint(c.mountpoint); m != nil && m.FSType == "overlay" {
						t.Fatalf("kernel older than %d.%d, yet the fixture has an overlay on %q", c.minKernel[0], c.minKernel[1], c.mountpoint)
					}
					return
				}
				tab := loadFixture(t, dir, c.file)
				m := tab.ByMountpoint(c.mountpoint)
				if m == nil {
					t.Fatalf("no mount on %q", c.mountpoint)
				}
				if m.FSType != "overlay" || m.Overlay == nil {
					t.Fatalf("fstype %q, overlay %v", m.FSType, m.Overlay)
				}
				if m.Root != c.root || m.Source != c.source {
					t.Errorf("root %q source %q, want %q %q", m.Root, m.Source, c.root, c.source)
				}
				if !reflect.DeepEqual(*m.Overlay, c.want) {
					t.Errorf("overlay options of %q:\n got %+v\nwant %+v", m.VFSOptions, *m.Overlay, c.want)
				}
				if tab.ByID(m.ID) != m {
					t.Errorf("ByID(%d) is not the mount", m.ID)
				}
				if !containsMount(tab.Overlays(), m) {
					t.Errorf("Overlays() misses mount %d", m.ID)
				}
				byDev := tab.ByDev(uint32(m.Major), uint32(m.Minor))
				if !containsMount(byDev, m) {
					t.Errorf("ByDev(%d:%d) misses mount %d", m.Major, m.Minor, m.ID)
				}
				if kd := tab.ByKernelDev(uint32(m.Major)<<20 | uint32(m.Minor)); !reflect.DeepEqual(kd, byDev) {
					t.Errorf("ByKernelDev differs from ByDev")
				}
				if c := tab.Covering(c.mountpoint + "/some/file"); c != m {
					t.Errorf("Covering(below %q) = %v, want mount %d", m.Mountpoint, c, m.ID)
				}
			})
		}
	}
}

// The 6.18 "volatile" option is shown as fsync=volatile; older kernels show
// "volatile".
func TestTableVolatileRedirect(t *testing.T) {
	for _, dir := range fixtureKernels(t) {
		m := loadFixture(t, dir, "features.mountinfo").ByMountpoint("/run/ovl/redirect")
		if m == nil || m.Overlay == nil {
			t.Fatalf("%s: no overlay on /run/ovl/redirect", dir)
		}
		o := m.Overlay
		if !o.Volatile || o.RedirectDir != "on" || len(o.Lower) != 1 || o.Lower[0].Path != "/run/tmpfs-a/lower2" {
			t.Errorf("%s: %q parsed to %+v", dir, m.VFSOptions, *o)
		}
		if strings.Contains(m.VFSOptions, "fsync=volatile") != (o.Fsync == "volatile") {
			t.Errorf("%s: fsync %q from %q", dir, o.Fsync, m.VFSOptions)
		}
	}
}

func TestTableDockerBindAndCovering(t *testing.T) {
	D := "/var/lib/docker/overlay2"
	for _, dir := range fixtureKernels(t) {
		tab := loadFixture(t, dir, "docker.mountinfo")
		c1 := tab.ByMountpoint(D + "/" + layerID("c1") + "/merged")
		c2 := tab.ByMountpoint(D + "/" + layerID("c2") + "/merged")
		bind := tab.ByMountpoint(D + "/" + layerID("c2") + "/merged/mnt/app")
		if c1 == nil || c2 == nil || bind == nil {
			t.Fatalf("%s: missing mounts %v %v %v", dir, c1, c2, bind)
		}
		// A bind of an overlay subtree shares the overlay's superblock.
		if got := tab.ByDev(uint32(c1.Major), uint32(c1.Minor)); len(got) != 2 || got[0] != c1 || got[1] != bind {
			t.Errorf("%s: ByDev of c1 = %v, want [c1, bind]", dir, got)
		}
		if bind.Parent != c2.ID {
			t.Errorf("%s: bind parent %d, want c2 %d", dir, bind.Parent, c2.ID)
		}
		for path, want := range map[string]*Mount{
			c2.Mountpoint + "/mnt/app/hello":    bind,
			c2.Mountpoint + "/mnt/app":          bind,
			c2.Mountpoint + "/mnt/apple":        c2, // component-wise: "app" is not a prefix of "apple"
			c2.Mountpoint + "/mnt/./app/../app": bind,
			c2.Mountpoint:                       c2,
			c1.Mountpoint + "/etc/passwd":       c1,
		} {
			if got := tab.Covering(path); got != want {
				t.Errorf("%s: Covering(%q) = %v, want mount %d", dir, path, got, want.ID)
			}
		}
		if root := tab.Covering("/etc"); root == nil || root.Mountpoint != "/" {
			t.Errorf("%s: Covering(/etc) = %v, want the / mount", dir, root)
		}
		if tab.Covering("relative/path") != nil {
			t.Errorf("%s: Covering of a relative path must be nil", dir)
		}
	}
}

func TestTableContainerView(t *testing.T) {
	for _, dir := range fixtureKernels(t) {
		tab := loadFixture(t, dir, "docker-container-view.mountinfo")
		root := tab.ByMountpoint("/")
		usr := tab.ByMountpoint("/usr")
		proc := tab.ByMountpoint("/proc")
		if root == nil || usr == nil || proc == nil {
			t.Fatalf("%s: mounts / /usr /proc: %v %v %v", dir, root, usr, proc)
		}
		if usr.Root != "/usr" || proc.FSType != "proc" || usr.Overlay != nil {
			t.Errorf("%s: /usr root %q, /proc fstype %q", dir, usr.Root, proc.FSType)
		}
		// The root's parent (the mount the chroot dir lies on) is outside
		// the root, so the kernel leaves it out.
		if tab.ByID(root.Parent) != nil {
			t.Errorf("%s: parent of / should not be visible", dir)
		}
		if got := tab.Covering("/usr/bin/sleep"); got != usr {
			t.Errorf("%s: Covering(/usr/bin/sleep) = %v", dir, got)
		}
		if got := tab.Covering("/usrx"); got != root {
			t.Errorf("%s: Covering(/usrx) = %v", dir, got)
		}
		if n := len(tab.Overlays()); n != 1 {
			t.Errorf("%s: %d overlays, want 1", dir, n)
		}
	}
}

func TestTableOverMountedOverlay(t *testing.T) {
	P := "/var/lib/containers/storage/overlay"
	mp := P + "/" + layerID("pc2") + "/merged"
	for _, dir := range fixtureKernels(t) {
		tab := loadFixture(t, dir, "podman.mountinfo")
		top := tab.ByMountpoint(mp)
		if top == nil || top.FSType != "tmpfs" || top.Source != "over" {
			t.Fatalf("%s: visible mount on %s = %v, want the tmpfs", dir, mp, top)
		}
		under := tab.ByID(top.Parent)
		if under == nil || under.Overlay == nil || under.Mountpoint != mp {
			t.Fatalf("%s: the over-mounted overlay: %v", dir, under)
		}
		if got := tab.Covering(mp + "/etc/os-release"); got != top {
			t.Errorf("%s: Covering below an over-mount = %v, want the tmpfs", dir, got)
		}
		if !containsMount(tab.Overlays(), under) {
			t.Errorf("%s: hidden overlay missing from Overlays()", dir)
		}
	}
}

func TestTableNestedOverlay(t *testing.T) {
	for _, dir := range fixtureKernels(t) {
		tab := loadFixture(t, dir, "features.mountinfo")
		nested := tab.ByMountpoint("/run/ovl/nested")
		xino := tab.ByMountpoint("/run/ovl/xino")
		a, b := tab.ByMountpoint("/run/tmpfs-a"), tab.ByMountpoint("/run/tmpfs-b")
		if nested == nil || xino == nil || a == nil || b == nil {
			t.Fatalf("%s: missing mounts", dir)
		}
		// The nested overlay's lower layer lies on the xino overlay, whose
		// lower and upper lie on two different tmpfs instances.
		if got := tab.Covering(nested.Overlay.Lower[0].Path); got != xino {
			t.Errorf("%s: nested lower on %v, want the xino overlay", dir, got)
		}
		if tab.Covering(xino.Overlay.Lower[0].Path) != a || tab.Covering(xino.Overlay.Upper) != b {
			t.Errorf("%s: xino layers not on tmpfs-a / tmpfs-b", dir)
		}
		if a.Major == b.Major && a.Minor == b.Minor {
			t.Errorf("%s: the two tmpfs share a dev", dir)
		}
	}
}

func containsMount(ms []*Mount, m *Mount) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

func TestTableMountHiddenByParentOverMount(t *testing.T) {
	for _, dir := range fixtureKernels(t) {
		tab := loadFixture(t, dir, "overmount-parent.mountinfo")
		top := tab.ByMountpoint("/run/hide")
		if top == nil || top.Source != "hide-c" {
			t.Fatalf("%s: visible /run/hide = %v, want hide-c", dir, top)
		}
		// /run/hide/sub (hide-b) and the overlay under it hang off hide-a,
		// which hide-c now covers: a path there lies on hide-c.
		for _, p := range []string{"/run/hide/sub", "/run/hide/sub/m/file"} {
			if got := tab.Covering(p); got != top {
				t.Errorf("%s: Covering(%s) = %v, want hide-c", dir, p, got)
			}
		}
		ovl := tab.ByMountpoint("/run/hide/sub/m")
		if ovl == nil || ovl.Overlay == nil || !ovl.Overlay.ReadOnly || len(ovl.Overlay.Lower) != 2 {
			t.Errorf("%s: the hidden overlay: %v", dir, ovl)
		}
	}
}

func TestParseTableErrors(t *testing.T) {
	for name, text := range map[string]string{
		"too few fields": "36 35 98:0 /mnt1 /mnt2 rw\n",
		"no separator":   "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 x ext3 /dev/root rw\n",
		// Derived from a real line, with an empty layer the kernel rejects.
		"empty layer": "70 63 0:40 / /m rw,relatime - overlay overlay rw,lowerdir=/a::::/b\n",
	} {
		if _, err := ParseTable(strings.NewReader(text)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	tab, err := ParseTable(strings.NewReader(""))
	if err != nil || len(tab.Mounts()) != 0 || tab.ByID(1) != nil || tab.Covering("/") != nil {
		t.Errorf("empty table: %v %v", tab, err)
	}
}
