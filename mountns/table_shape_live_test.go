package mountns

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/internal/testenv"
	"golang.org/x/sys/unix"
)

// The hostile shapes of table_shape_test.go, made by the kernel in the
// helper's private mount namespace and read back with ReadTable.

// devOf is the st_dev of a mount.
func devOf(m *Mount) uint64 { return unix.Mkdev(uint32(m.Major), uint32(m.Minor)) }

// statIn is Stat of path through the root of pid: what the kernel shows
// the process there.
func statIn(t *testing.T, pid int, path string) (unix.Stat_t, error) {
	t.Helper()
	r, err := OpenRoot(pid)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	return r.Stat(path)
}

// TestCoveringHiddenChainLive: 30 nested tmpfs mounts hidden by one
// over-mount of the top directory; Covering of the deepest path answers
// the over-mount, in O(depth) lookups, as the kernel's own view confirms.
func TestCoveringHiddenChainLive(t *testing.T) {
	const depth = 30
	dir := t.TempDir()
	pid, _ := startHelper(t, "chain", dir+":"+strconv.Itoa(depth))
	tab, err := ReadTable(pid)
	if err != nil {
		t.Fatal(err)
	}
	chain := 0
	for _, m := range tab.Mounts() {
		if strings.HasPrefix(m.Source, "chain") && strings.HasPrefix(m.Mountpoint, dir+"/c") {
			chain++
		}
	}
	if chain != depth {
		t.Fatalf("%d chain mounts in the helper's table, want %d", chain, depth)
	}
	over := tab.ByMountpoint(dir + "/c")
	if over == nil || over.Source != "over" {
		t.Fatalf("ByMountpoint(%s/c) = %s, want the over-mount", dir, desc(over))
	}
	deepest := dir + "/c" + strings.Repeat("/n", depth-1) + "/f"
	components := strings.Count(deepest, "/")
	lookups := countOps(t, tab, 2*(components+1), "Covering(deepest)")
	start := time.Now()
	got := tab.Covering(deepest)
	elapsed := time.Since(start)
	if got != over {
		t.Fatalf("Covering(%s) = %s, want the over-mount %d", deepest, desc(got), over.ID)
	}
	t.Logf("depth %d, %d mounts: Covering of a %d-component path: %d lookups, %v",
		depth, len(tab.Mounts()), components, *lookups, elapsed)

	// The kernel agrees: the helper sees the over-mount on DIR/c, and the
	// chain's file is gone from its view.
	if st, err := statIn(t, pid, dir+"/c"); err != nil || st.Dev != devOf(over) {
		t.Errorf("the helper's %s/c: dev %d err %v, want the over-mount's %d", dir, st.Dev, err, devOf(over))
	}
	if _, err := statIn(t, pid, deepest); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the helper sees the hidden %s: %v", deepest, err)
	}
}

// stackHeight is how many mounts the live stack gets: stackMounts, or less
// if fs.mount-max (per namespace) leaves less room beside the mounts the
// helper's namespace starts with (a copy of ours).
func stackHeight(t *testing.T) int {
	b, err := os.ReadFile("/proc/sys/fs/mount-max")
	if err != nil {
		t.Fatal(err)
	}
	max, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("fs.mount-max %q: %v", b, err)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	room := max - bytes.Count(mi, []byte("\n")) - 100
	t.Logf("fs.mount-max %d, room for %d", max, room)
	if room < stackMounts {
		return room
	}
	return stackMounts
}

// TestStackOfTuckedMountsLive: a stack of up to 20,000 mounts on one
// mountpoint, half of them tucked under the top with MOVE_MOUNT_BENEATH
// (6.5+): the top and the bottom are what the kernel says, lookups after
// the O(n) index build are O(1), and Covering below the stack is O(depth).
func TestStackOfTuckedMountsLive(t *testing.T) {
	n := stackHeight(t)
	dir := t.TempDir()
	start := time.Now()
	pid, ready := startHelper(t, "stack", fmt.Sprintf("%s:%d:%d", dir, n/2, n-n/2))
	setup := time.Since(start)
	var plain, beneath int
	if _, err := fmt.Sscanf(ready, "plain=%d beneath=%d", &plain, &beneath); err != nil {
		t.Fatalf("helper said %q: %v", ready, err)
	}
	if beneath == 0 && testenv.KernelAtLeast(6, 5) {
		t.Fatalf("MOVE_MOUNT_BENEATH made no mount on a 6.5+ kernel (helper: %q)", ready)
	}
	start = time.Now()
	tab, err := ReadTable(pid)
	if err != nil {
		t.Fatal(err)
	}
	read := time.Since(start)
	s := dir + "/s"
	onS := 0
	for _, m := range tab.Mounts() {
		if m.Mountpoint == s {
			onS++
		}
	}
	if onS != plain+beneath {
		t.Fatalf("%d mounts on %s, the helper made %d", onS, s, plain+beneath)
	}

	build := countOps(t, tab, 8*len(tab.Mounts()), "index build")
	start = time.Now()
	top := tab.ByMountpoint(s)
	indexed := time.Since(start)
	wantTop := "p" + strconv.Itoa(n/2-1) // the top the beneath mounts went under
	if beneath == 0 {
		wantTop = "p" + strconv.Itoa(plain-1)
	}
	if top == nil || top.Source != wantTop {
		t.Fatalf("ByMountpoint(%s) = %s, want %s", s, desc(top), wantTop)
	}
	base := tab.ByMountpoint(dir)
	if b := bottomOf(top); b.Source != "p0" || base == nil || b.Parent != base.ID {
		t.Fatalf("bottom of %s = %s, want p0 on the base tmpfs %s", s, desc(b), desc(base))
	}
	if st, err := statIn(t, pid, s); err != nil || st.Dev != devOf(top) {
		t.Errorf("the helper's %s: dev %d err %v, want the top's %d", s, st.Dev, err, devOf(top))
	}
	t.Logf("%d mounts on %s (%d plain, %d beneath): setup %v, ReadTable %v (%d lines), index build %d operations %v",
		onS, s, plain, beneath, setup, read, len(tab.Mounts()), *build, indexed)

	lookups := countOps(t, tab, 1, "ByMountpoint")
	if tab.ByMountpoint(s) != top || *lookups != 1 {
		t.Fatalf("ByMountpoint after the build: %d operations", *lookups)
	}
	tab.opHook = nil
	sub := tab.ByMountpoint(s + "/sub")
	if sub == nil || sub.Source != "sub" || sub.Parent != top.ID {
		t.Fatalf("ByMountpoint(%s/sub) = %s, want sub on the top", s, desc(sub))
	}
	cases := map[string]*Mount{s + "/sub/f": sub, s + "/hid/f": top, s + "/f": top}
	if beneath > 0 {
		cases[s+"/mid/x/y"] = top
	}
	for path, want := range cases {
		lookups := countOps(t, tab, 2*(strings.Count(path, "/")+1), "Covering("+path+")")
		start := time.Now()
		if got := tab.Covering(path); got != want {
			t.Errorf("Covering(%s) = %s, want %s", path, desc(got), desc(want))
		}
		t.Logf("Covering(%s): %d lookups, %v", path, *lookups, time.Since(start))
	}
	if st, err := statIn(t, pid, s+"/sub"); err != nil || st.Dev != devOf(sub) {
		t.Errorf("the helper's %s/sub: dev %d err %v, want sub's %d", s, st.Dev, err, devOf(sub))
	}
	if _, err := statIn(t, pid, s+"/hid"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the helper sees the hidden %s/hid: %v", s, err)
	}
}
