package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/internal/testenv"
)

// TestUnusedHookActionDecidesFromOneVariable: the early exit main takes
// for CRIU's actions the hook ignores is decided from os.Args and
// CRTOOLS_SCRIPT_ACTION alone (the seam: unusedHookAction sees only args
// and a lookup, and the lookup records what it is asked), and only for
// exactly `ovlfix-hook` / `ovlfix hook`.
func TestUnusedHookActionDecidesFromOneVariable(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		action string // "-": unset
		want   bool
	}{
		{[]string{"/usr/local/bin/ovlfix-hook"}, "network-lock", true},
		{[]string{"ovlfix", "hook"}, "network-unlock", true},
		{[]string{"ovlfix", "hook"}, "pre-stream", true},
		{[]string{"ovlfix", "hook"}, "post-restore", true},
		{[]string{"ovlfix", "hook"}, "something-new", true},
		{[]string{"ovlfix", "hook"}, "pre-dump", false},
		{[]string{"ovlfix", "hook"}, "post-dump", false},
		{[]string{"ovlfix", "hook"}, "", false},  // the normal path says it is empty
		{[]string{"ovlfix", "hook"}, "-", false}, // ... or not set (exit 2)
		{[]string{"ovlfix", "hook", "--help"}, "network-lock", false},
		{[]string{"ovlfix-hook", "extra"}, "network-lock", false},
		{[]string{"ovlfix", "dump"}, "network-lock", false},
		{[]string{"ovlfix"}, "network-lock", false},
		{nil, "network-lock", false},
	} {
		var asked []string
		lookup := func(k string) (string, bool) {
			asked = append(asked, k)
			if k == "CRTOOLS_SCRIPT_ACTION" && tc.action != "-" {
				return tc.action, true
			}
			return "", false
		}
		if got := unusedHookAction(tc.args, lookup); got != tc.want {
			t.Errorf("%q with %s=%q: %v, want %v", tc.args, "CRTOOLS_SCRIPT_ACTION", tc.action, got, tc.want)
		}
		if len(asked) > 1 || len(asked) == 1 && asked[0] != "CRTOOLS_SCRIPT_ACTION" {
			t.Errorf("%q: read %q; only CRTOOLS_SCRIPT_ACTION may be read", tc.args, asked)
		}
	}
}

// runtimeOpens are the files a Go binary opens before main, which no code
// of ovlfix can skip: the dynamic loader's (ld.so.preload, ld.so.cache,
// libc; the binary uses cgo) and glibc's main-thread stack lookup
// (/proc/self/maps, pthread_getattr_np); the Go runtime reads the huge
// page size and, since Go 1.25, its cgroup's CPU limit for GOMAXPROCS
// (/proc/self/cgroup, /proc/self/mountinfo, the cgroup's cpu files);
// protobuf's internal/detrand hashes the executable (/proc/self/exe) at
// init.
var runtimeOpens = regexp.MustCompile(`^(/etc/ld\.so\.(preload|cache)|/(usr/)?lib(64)?/.*\.so[.0-9]*|/proc/self/maps|` +
	`/sys/kernel/mm/transparent_hugepage/.*|/proc/self/cgroup|/proc/self/mountinfo|/sys/fs/cgroup/.*|/proc/self/exe)$`)

// traceOpens runs the binary under strace with env added and returns every
// path it opened, stat'ed or read a link of, except execve's and the
// executable itself.
func traceOpens(t *testing.T, strace string, env []string, args ...string) []string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command(strace, append([]string{"-f", "-qq", "-o", out,
		"-e", "trace=open,openat,openat2,stat,lstat,newfstatat,statx,readlink,readlinkat,access,faccessat,faccessat2,chdir",
		binary}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = t.TempDir()
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("strace %s %q: %v\n%s", binary, args, err, o)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	self, err := filepath.EvalSymlinks(binary)
	if err != nil {
		t.Fatal(err)
	}
	quoted := regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`)
	var paths []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := quoted.FindStringSubmatch(sc.Text())
		if m == nil {
			continue // fstat of an fd, a signal
		}
		p, err := strconv.Unquote(`"` + m[1] + `"`)
		if err != nil {
			p = m[1]
		}
		if p != "" && p != self && p != binary { // "": fstat of an fd (AT_EMPTY_PATH)
			paths = append(paths, p)
		}
	}
	return paths
}

// TestUnusedHookActionOpensNoFile: `ovlfix hook` for the actions CRIU
// runs inside the freeze that the hook ignores (network-lock,
// network-unlock) and the others opens, stats and reads the link of no
// file but those of the Go runtime and the package initialisers before
// main (runtimeOpens). A post-dump run of the same binary under the same
// trace opens the images dir and the quirks cache: the trace sees main's
// work when there is some.
//
// scripts/setup.sh installs strace; without it the test skips (and fails
// under CI=true).
func TestUnusedHookActionOpensNoFile(t *testing.T) {
	strace := testenv.RequireTool(t, "strace", "strace")
	for _, action := range []string{"network-lock", "network-unlock", "pre-stream", "pre-restore", "post-resume"} {
		start := time.Now()
		paths := traceOpens(t, strace, []string{"CRTOOLS_SCRIPT_ACTION=" + action}, "hook")
		var ours []string
		for _, p := range paths {
			if !runtimeOpens.MatchString(p) {
				ours = append(ours, p)
			}
		}
		t.Logf("%s: %d path(s) touched, all before main: %q (%v under strace)", action, len(paths), paths, time.Since(start).Round(time.Millisecond))
		if len(ours) > 0 {
			t.Errorf("%s: touched %q; an action the hook ignores must touch no file", action, ours)
		}
	}
	images := t.TempDir()
	paths := traceOpens(t, strace, []string{"CRTOOLS_SCRIPT_ACTION=post-dump", "CRTOOLS_IMAGE_DIR=" + images,
		"CRTOOLS_INIT_PID=" + strconv.Itoa(os.Getpid())}, "hook")
	if !slices.ContainsFunc(paths, func(p string) bool { return strings.HasPrefix(p, images) }) {
		t.Errorf("post-dump: the trace shows no access to the images dir %s (%q): the trace misses main's work", images, paths)
	}
}

// BenchmarkHookUnusedAction: the work main does for an ignored action
// before and after the early exit: "early" is what runs now
// (unusedHookAction), "cobra" what ran before it (the command tree built
// and `hook` found; runHook then parsed the environment and returned).
// Logged numbers, not an assertion: go test -run - -bench HookUnused.
func BenchmarkHookUnusedAction(b *testing.B) {
	args := []string{"ovlfix", "hook"}
	lookup := func(string) (string, bool) { return "network-lock", true }
	b.Run("early", func(b *testing.B) {
		for b.Loop() {
			if !unusedHookAction(args, lookup) {
				b.Fatal("not taken")
			}
		}
	})
	b.Run("cobra", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := newRootCmd().Find(args[1:]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
