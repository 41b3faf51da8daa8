package mountns

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Mount tables of hostile shapes, generated as mountinfo text: a container
// chooses the shape of its own mount table, so the costs of ByMountpoint and
// Covering must not depend on it. The costs are counted with the table's
// opHook (one per index lookup, one per step of the index build).

// mountinfoLine formats one line as the kernel does (show_mountinfo).
func mountinfoLine(id, parent, minor int, mountpoint, source string) string {
	return fmt.Sprintf("%d %d 0:%d / %s rw,relatime - tmpfs %s rw\n", id, parent, minor, mountpoint, source)
}

const rootLine = "1 0 254:0 / / rw,relatime - ext4 /dev/vda rw\n"

// desc names a mount in a failure message.
func desc(m *Mount) string {
	if m == nil {
		return "nil"
	}
	return fmt.Sprintf("mount %d (%s on %q, parent %d)", m.ID, m.Source, m.Mountpoint, m.Parent)
}

// parseGenerated parses generated text, failing the test on an error.
func parseGenerated(t *testing.T, text string) *Table {
	t.Helper()
	tab, err := ParseTable(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// countOps makes tab count its index operations, failing the test as soon
// as more than budget are done (so a superlinear algorithm fails fast
// instead of running for minutes). It returns the counter.
func countOps(t *testing.T, tab *Table, budget int, what string) *int {
	n := new(int)
	tab.opHook = func() {
		if *n++; *n > budget {
			t.Fatalf("%s: more than %d index operations", what, budget)
		}
	}
	return n
}

// hiddenChain is a chain of depth nested tmpfs mounts, /c, /c/n, /c/n/n,
// ..., hidden by one tmpfs mounted over /c afterwards (as
// `mount -t tmpfs over /c` does). It returns the text and the deepest
// mountpoint.
func hiddenChain(depth int) (string, string) {
	var b strings.Builder
	b.WriteString(rootLine)
	p, parent := "/c", 1
	for i := range depth {
		if i > 0 {
			p += "/n"
		}
		b.WriteString(mountinfoLine(100+i, parent, 100+i, p, fmt.Sprintf("chain%d", i)))
		parent = 100 + i
	}
	b.WriteString(mountinfoLine(100+depth, 100, 100+depth, "/c", "over"))
	return b.String(), p
}

// TestCoveringHiddenChain: below a chain of nested mounts hidden by an
// over-mount of its top directory, every path lies on the over-mount, and
// finding that costs O(depth) lookups (the recursive version cost 2^depth:
// 14 s at depth 26).
func TestCoveringHiddenChain(t *testing.T) {
	for _, depth := range []int{30, 40} {
		t.Run(fmt.Sprint(depth), func(t *testing.T) {
			text, deepest := hiddenChain(depth)
			tab := parseGenerated(t, text)
			build := countOps(t, tab, 8*len(tab.Mounts()), "index build")
			over := tab.ByMountpoint("/c")
			if over == nil || over.Source != "over" {
				t.Fatalf("ByMountpoint(/c) = %s, want the over-mount", desc(over))
			}
			if b := bottomOf(over); b.Source != "chain0" {
				t.Fatalf("bottom of the /c stack = %s, want chain0", desc(b))
			}
			t.Logf("index build: %d operations for %d mounts", *build, len(tab.Mounts()))

			target := deepest + "/f"
			components := strings.Count(target, "/")
			budget := 2 * (components + 1)
			lookups := countOps(t, tab, budget, "Covering("+target+")")
			start := time.Now()
			got := tab.Covering(target)
			elapsed := time.Since(start)
			if got != over {
				t.Fatalf("Covering(%s) = %s, want the over-mount %d", target, desc(got), over.ID)
			}
			t.Logf("depth %d: Covering of a %d-component path: %d lookups, %v", depth, components, *lookups, elapsed)

			// Every prefix of the hidden chain lies on the over-mount too,
			// and / on the root.
			for p := deepest; p != "/"; p = p[:strings.LastIndexByte(p, '/')] {
				if p == "" {
					break
				}
				countOps(t, tab, 2*(strings.Count(p, "/")+1), "Covering("+p+")")
				if got := tab.Covering(p); got != over {
					t.Errorf("Covering(%s) = %s, want the over-mount", p, desc(got))
				}
			}
			countOps(t, tab, 4, "Covering(/cx)")
			if got := tab.Covering("/cx"); got == nil || got.ID != 1 {
				t.Errorf("Covering(/cx) = %s, want the root", desc(got))
			}
		})
	}
}

// TestCoveringVisibleChain: the same chain without the over-mount is
// visible all the way down.
func TestCoveringVisibleChain(t *testing.T) {
	text, deepest := hiddenChain(40)
	text = text[:strings.LastIndex(text[:len(text)-1], "\n")+1] // drop the over-mount
	tab := parseGenerated(t, text)
	got := tab.Covering(deepest + "/f")
	if got == nil || got.Source != "chain39" {
		t.Fatalf("Covering(deepest) = %s, want chain39", desc(got))
	}
	if got := tab.Covering("/c/n/f"); got == nil || got.Source != "chain1" {
		t.Fatalf("Covering(/c/n/f) = %s, want chain1", desc(got))
	}
}

// stackMounts is the height of the generated stack.
const stackMounts = 20000

// tuckedStack is a stack of plain+beneath mounts on /s, the order the live
// test makes with the kernel: plain mounts p0..p(plain-1), each on the root
// of the previous, then beneath mounts b0..b(beneath-1), each moved with
// MOVE_MOUNT_BENEATH under the top p(plain-1), so between it and the
// previous b. The kernel lists mounts by id (6.8+), so the top is in the
// middle of the stack's lines and the lines after it are all under it.
// Three mounts hang off the stack: /s/sub off the top (visible), /s/hid off
// the bottom p0 and /s/mid off a beneath mount (both hidden by the top).
func tuckedStack(plain, beneath int) string {
	var b strings.Builder
	b.WriteString(rootLine)
	pid := func(i int) int { return 1000 + i }
	bid := func(j int) int { return 1000 + plain + j }
	for i := range plain {
		parent := 1
		switch {
		case i == plain-1 && beneath > 0:
			parent = bid(beneath - 1)
		case i > 0:
			parent = pid(i - 1)
		}
		b.WriteString(mountinfoLine(pid(i), parent, pid(i), "/s", fmt.Sprintf("p%d", i)))
	}
	for j := range beneath {
		parent := pid(plain - 2)
		if j > 0 {
			parent = bid(j - 1)
		}
		b.WriteString(mountinfoLine(bid(j), parent, bid(j), "/s", fmt.Sprintf("b%d", j)))
	}
	next := bid(beneath)
	b.WriteString(mountinfoLine(next, pid(plain-1), next, "/s/sub", "sub"))
	b.WriteString(mountinfoLine(next+1, pid(0), next+1, "/s/hid", "hid"))
	b.WriteString(mountinfoLine(next+2, bid(beneath/2), next+2, "/s/mid", "mid"))
	return b.String()
}

// TestStackOfTuckedMounts: 20,000 mounts on one mountpoint, half tucked
// beneath the top: the top and the bottom are found in one O(n) build,
// and each lookup after it is O(1) (the pairwise version cost O(stack²)
// per ByMountpoint).
func TestStackOfTuckedMounts(t *testing.T) {
	tab := parseGenerated(t, tuckedStack(stackMounts/2, stackMounts/2))
	n := len(tab.Mounts())
	build := countOps(t, tab, 8*n, "index build")
	start := time.Now()
	top := tab.ByMountpoint("/s")
	t.Logf("index build over %d mounts: %d operations, %v", n, *build, time.Since(start))
	if want := fmt.Sprintf("p%d", stackMounts/2-1); top == nil || top.Source != want {
		t.Fatalf("ByMountpoint(/s) = %s, want %s", desc(top), want)
	}
	if b := bottomOf(top); b.Source != "p0" || b.Parent != 1 {
		t.Fatalf("bottom of /s = %s, want p0 on the root", desc(b))
	}

	lookups := countOps(t, tab, 1, "ByMountpoint")
	if tab.ByMountpoint("/s") != top || *lookups != 1 {
		t.Fatalf("ByMountpoint after the build: %d operations", *lookups)
	}
	for path, want := range map[string]string{
		"/s/sub/f":   "sub", // off the top: visible
		"/s/hid/f":   top.Source,
		"/s/mid/x/y": top.Source,
		"/s/f":       top.Source,
		"/s":         top.Source,
	} {
		budget := 2 * (strings.Count(path, "/") + 1)
		lookups := countOps(t, tab, budget, "Covering("+path+")")
		start := time.Now()
		got := tab.Covering(path)
		if got == nil || got.Source != want {
			t.Errorf("Covering(%s) = %s, want %s", path, desc(got), want)
		}
		t.Logf("Covering(%s): %d lookups, %v", path, *lookups, time.Since(start))
	}
}

// TestStackBadParentLinks: parent links that loop, point at themselves or
// at ids of other mountpoints decide nothing, and cost no more than the
// stack's size.
func TestStackBadParentLinks(t *testing.T) {
	for name, c := range map[string]struct {
		lines       string
		top, bottom string
	}{
		// a -> b -> a: every mount is covered, the last one wins; the walk
		// down stops after one step per mount (b, a, b).
		"loop": {mountinfoLine(10, 11, 10, "/s", "a") + mountinfoLine(11, 10, 11, "/s", "b"), "b", "b"},
		// A mount that is its own parent does not cover itself.
		"self": {mountinfoLine(10, 1, 10, "/s", "a") + mountinfoLine(11, 11, 11, "/s", "b"), "b", "b"},
		// Links to a mount elsewhere end the walk down.
		"elsewhere": {mountinfoLine(10, 12, 10, "/s", "a") + mountinfoLine(11, 10, 11, "/s", "b") +
			mountinfoLine(12, 1, 12, "/t", "t"), "b", "a"},
		// Duplicate ids: the later line owns the id; both lines are on /s.
		"duplicate": {mountinfoLine(10, 1, 10, "/s", "a") + mountinfoLine(10, 10, 11, "/s", "b"), "b", "b"},
	} {
		tab := parseGenerated(t, rootLine+c.lines)
		countOps(t, tab, 8*len(tab.Mounts()), name)
		top := tab.ByMountpoint("/s")
		if top == nil || top.Source != c.top || bottomOf(top).Source != c.bottom {
			t.Errorf("%s: top %s bottom %s, want %s %s", name, desc(top), desc(bottomOf(top)), c.top, c.bottom)
		}
		tab.Covering("/s/x/y")
	}
}
