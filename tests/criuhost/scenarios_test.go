package criuhost

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// scenario is one situation a holder is dumped in.
type scenario struct {
	name, about string
	container   bool              // see layout
	lower       map[string]string // files of the overlay's lower layer; a name ending in "/" is a directory
	upper       map[string]string // files of its upper layer
	ops         func(l layout) []string
	atRestore   func(ns *mountNS) // before each criu restore, in CRIU's mount namespace

	// want: exact fd link names the holder has before the dump, and both
	// restores must give.
	want func(l layout) map[int]string
	// plainFails: CRIU alone fails with this text in its dump log; the
	// hook run must dump and restore.
	plainFails string
	// hookMounts: the hook's restore must give these fds the mountpoint
	// they had before the dump (here given), whatever CRIU alone restores.
	hookMounts map[int]string
	// hookCheck: more checks of the hook run's restored process.
	hookCheck func(t *testing.T, c *live)
}

const lowerData = "lowerdata"

func scenarios() []scenario {
	return []scenario{{
		name:  "a-hardlink-unlinked",
		about: "a hard-linked upper file opened, then its opened name unlinked (nlink 1: link remap)",
		upper: map[string]string{"hard1": "hard-linked data\n"},
		ops: func(l layout) []string {
			return []string{"link", l.in("hard1"), l.in("hard2"), "open", l.in("hard1"), "unlink", l.in("hard1")}
		},
		want: func(l layout) map[int]string { return map[int]string{3: l.in("hard1") + " (deleted)"} },
	}, {
		name: "b-lower-whiteout",
		about: "a lower-layer file opened, then removed through the overlay (whiteout, nlink 1: " +
			"CRIU's overlay fallback to a ghost file), in a container whose root is the overlay",
		container: true,
		lower:     map[string]string{"lowerfile": lowerData + "\n"},
		ops: func(l layout) []string {
			return []string{"open", l.in("lowerfile"), "unlink", l.in("lowerfile")}
		},
		want: func(l layout) map[int]string { return map[int]string{3: l.in("lowerfile") + " (deleted)"} },
	}, {
		name:  "c-ghost",
		about: "a fully unlinked upper file (nlink 0: ghost file)",
		upper: map[string]string{"ghost": "ghost data\n"},
		ops: func(l layout) []string {
			return []string{"open", l.in("ghost"), "unlink", l.in("ghost")}
		},
		want: func(l layout) map[int]string { return map[int]string{3: l.in("ghost") + " (deleted)"} },
	}, {
		name:  "d-plain-files",
		about: "lower-only, copied-up and upper-only files opened, a lower file mmapped",
		lower: map[string]string{"lowerfile": lowerData + "\n", "copied": "copied data\n", "mapped": "mapped data\n"},
		upper: map[string]string{"upperfile": "upper data\n"},
		ops: func(l layout) []string {
			return []string{"open", l.in("lowerfile"), "openrw", l.in("copied"), "open", l.in("upperfile"), "mmap", l.in("mapped")}
		},
		want: func(l layout) map[int]string {
			return map[int]string{3: l.in("lowerfile"), 4: l.in("copied"), 5: l.in("upperfile")}
		},
		hookCheck: func(t *testing.T, c *live) {
			if !slices.Contains(c.restored.Maps, c.l.in("mapped")) {
				t.Errorf("the hook's restore has no mapping of %s: %q", c.l.in("mapped"), c.restored.Maps)
			}
		},
	}, {
		name:       "e-inotify-lower",
		about:      "an inotify watch on a lower-layer file, no other fd on it",
		lower:      map[string]string{"lowerfile": lowerData + "\n"},
		ops:        func(l layout) []string { return []string{"events", l.base + "/events", "watch", l.in("lowerfile")} },
		plainFails: "Can't dump that handle",
		hookCheck:  watchWorks,
	}, {
		name: "f-nested-two-fs",
		about: "a container on overlay A; overlay B on /data, lower and upper on two tmpfs, xino=off " +
			"(CRIU writes A's mnt_id for /data/lowerfile)",
		container: true,
		lower:     map[string]string{"data/": "", "mnt/lo/": "", "mnt/up/": ""},
		ops: func(l layout) []string {
			return []string{"tmpfs", "/mnt/lo", "tmpfs", "/mnt/up", "write", "/mnt/lo/lowerfile", lowerData,
				"mkdir", "/mnt/up/upper", "mkdir", "/mnt/up/work",
				"overlay", "/data", "/mnt/lo", "/mnt/up/upper", "/mnt/up/work", "xino=off",
				"open", "/data/lowerfile", "chdir", "/data"}
		},
		// CRIU mounts B with its options verbatim, resolved in its own
		// namespace (tests/lab/hook-nested.sh): give it B's layers there.
		atRestore: func(ns *mountNS) {
			ns.do("tmpfs", "/mnt")
			ns.write("/mnt/lo/lowerfile", lowerData, 0o644)
			ns.write("/mnt/up/upper/", "", 0)
			ns.write("/mnt/up/work/", "", 0)
		},
		want:       func(l layout) map[int]string { return map[int]string{3: "/data/lowerfile"} },
		hookMounts: map[int]string{3: "/data"},
		hookCheck: func(t *testing.T, c *live) {
			if _, err := os.Stat(c.images + "/files.img.ovlfix-orig"); err != nil {
				t.Errorf("the hook did not repair files.img (CRIU's A mnt_id for /data/lowerfile): %v", err)
			}
		},
	}, {
		name: "g-chroot",
		about: "a task chrooted inside its mount namespace (sshd's privsep child, a chrooted daemon) holding " +
			"a file of its jail: CRIU's names are paths from the namespace's root, not the task's",
		upper: map[string]string{"jail/": "", "jail/file": "jailed data\n"},
		ops: func(l layout) []string {
			return []string{"chroot", l.in("jail"), "open", "/file"}
		},
		want: func(l layout) map[int]string { return map[int]string{3: l.in("jail/file")} },
	}, {
		name: "h-parent-namespace-fd",
		about: "a child that moved to its own mount namespace holds a file opened in its parent's, " +
			"hidden there under a tmpfs (a service of systemd with InaccessiblePaths=): CRIU's mnt_id is a mount of the parent's namespace",
		container: true,
		upper:     map[string]string{"dir/": "", "dir/file": "parent's data\n"},
		ops: func(l layout) []string {
			return []string{"open", l.in("dir/file"), "fork", "unshare-mnt", "tmpfs", l.in("dir")}
		},
	}}
}

// TestHookRestoresAsWellAsCRIU dumps each scenario's holder with CRIU alone
// and with the hook, restores both, and asserts that the hook's dump
// restores at least as well as CRIU's own (package doc).
func TestHookRestoresAsWellAsCRIU(t *testing.T) {
	tl := setupTools(t)
	becomeSubreaper(t)
	start := time.Now()
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			base := t.TempDir()
			plain := runOnce(t, tl, sc, base, false)
			hooked := runOnce(t, tl, sc, base, true)
			t.Logf("scenario %s (%s):\n  before the dump: %s\n  no hook: %s\n  hook: %s\n  the hook said:\n    %s\n  took %v + %v",
				sc.name, sc.about, plain.before, plain.outcome(), hooked.outcome(), hooked.hookSaid(),
				plain.took.Round(time.Millisecond), hooked.took.Round(time.Millisecond))
			checkScenario(t, sc, newLayout(base, sc.container), plain, hooked)
		})
	}
	t.Logf("all scenarios: %v", time.Since(start).Round(time.Millisecond))
}

// checkScenario asserts the invariant and the scenario's expectations.
func checkScenario(t *testing.T, sc scenario, l layout, plain, hooked *run) {
	t.Helper()
	switch {
	case plain.ok() && !hooked.ok():
		t.Errorf("CRIU alone dumps and restores, with the hook: %s", hooked.outcome())
	case plain.ok():
		for _, d := range diffRestores(plain.restored, hooked.restored, sc.hookMounts) {
			t.Errorf("the hook's restore differs from CRIU's own: %s", d)
		}
		if sc.plainFails != "" {
			t.Logf("note: CRIU alone was expected to fail (%q) and did not", sc.plainFails)
		}
	case sc.plainFails == "":
		t.Errorf("CRIU alone failed, so there is nothing to compare the hook with: %s", plain.outcome())
	default:
		if !strings.Contains(readFile(plain.images+"/dump.log"), sc.plainFails) {
			t.Errorf("CRIU alone failed, but its dump.log does not say %q: %s", sc.plainFails, plain.outcome())
		}
		if !hooked.ok() {
			t.Errorf("CRIU alone fails here (expected), and with the hook it must work: %s", hooked.outcome())
		}
	}
	if sc.want != nil {
		for fd, name := range sc.want(l) {
			checkLink(t, "before the dump", plain.before, fd, name)
			for _, r := range []*run{plain, hooked} {
				if r.ok() {
					checkLink(t, restoreName(r), r.restored, fd, name)
				}
			}
		}
	}
	for fd, want := range sc.hookMounts {
		if got := fdOf(plain.before, fd).Mount; got != want {
			t.Errorf("before the dump fd %d is on mount %q, the scenario expects %q", fd, got, want)
		}
		if hooked.ok() {
			if got := fdOf(hooked.restored, fd).Mount; got != want {
				t.Errorf("the hook's restore gives fd %d mount %q, it was on %q before the dump", fd, got, want)
			}
		}
	}
}

func restoreName(r *run) string {
	if r.hook {
		return "the restore of the hook's dump"
	}
	return "the restore of CRIU's own dump"
}

func checkLink(t *testing.T, what string, s snapshot, fd int, want string) {
	t.Helper()
	if got := fdOf(s, fd); got.Link != want {
		t.Errorf("%s: fd %d is %q, want %q", what, fd, got.Link, want)
	}
}

func fdOf(s snapshot, fd int) fdState {
	for _, f := range s.FDs {
		if f.FD == fd {
			return f
		}
	}
	return fdState{FD: fd, Link: "(no such fd)"}
}

// watchWorks: the restored holder watches lowerfile's inode, and a write to
// the file wakes it (it appends to the events file).
func watchWorks(t *testing.T, c *live) {
	t.Helper()
	file := c.ns.path(c.l.in("lowerfile"))
	var st unix.Stat_t
	if err := unix.Stat(file, &st); err != nil {
		t.Fatal(err)
	}
	ino := fmt.Sprintf("ino:%x ", st.Ino)
	found := false
	for _, f := range c.restored.FDs {
		for _, w := range f.Inotify {
			found = found || strings.Contains(w+" ", ino)
		}
	}
	if !found {
		t.Errorf("the restored holder has no inotify watch on lowerfile (%s): %s", ino, c.restored)
		return
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("more\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	events := c.ns.path(c.l.base + "/events")
	for i := 0; i < 100 && readFile(events) == ""; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if readFile(events) == "" {
		t.Errorf("a write to lowerfile did not wake the restored watch (no line in %s)", events)
	}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}
