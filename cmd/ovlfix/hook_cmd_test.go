package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/internal/testenv"
	"github.com/ovlfix/ovlfix/proto"
)

// criuStandIn plays the criu process an action script's environment
// names: a process whose cwd is CRIU's work dir and whose fd 3 is the
// images directory, so CRTOOLS_IMAGE_DIR is /proc/<pid>/fd/3 as CRIU 3.17.1
// sets it (criu/action-scripts.c).
type criuStandIn struct {
	pid      int
	workDir  string
	imageDir string // the /proc/<pid>/fd/3 link
}

func startCRIUStandIn(t *testing.T, workDir, imagesDir string) *criuStandIn {
	t.Helper()
	d, err := os.Open(imagesDir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cmd := exec.Command("sleep", "600")
	cmd.Dir = workDir
	cmd.ExtraFiles = []*os.File{d}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return &criuStandIn{pid: cmd.Process.Pid, workDir: workDir, imageDir: fmt.Sprintf("/proc/%d/fd/3", cmd.Process.Pid)}
}

// runHookAs runs the hook the way CRIU does (cr_system): through a symlink
// named ovlfix-hook, no arguments, stdin closed, cwd = dir, the action
// script environment set (vars with the value "-" are left unset).
func runHookAs(t *testing.T, dir string, vars map[string]string) result {
	t.Helper()
	link := filepath.Join(t.TempDir(), hookProgram)
	if err := os.Symlink(binary, link); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", `exec "$0" <&-`, link)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CRTOOLS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range vars {
		if v != "-" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	return run(t, cmd)
}

func TestHookEnvironment(t *testing.T) {
	dir := t.TempDir()
	// Not run by CRIU: a usage error.
	r := runHookAs(t, dir, map[string]string{})
	expect(t, r, exitUsage, "ovlfix-hook: not run by CRIU as an action script: CRTOOLS_SCRIPT_ACTION is not set")
	expect(t, ovlfix(t, "hook", "extra"), exitUsage, "hook takes no arguments")
	// A known action with a broken environment: ovlfix cannot help, and
	// says so, but must not fail the dump.
	for _, tc := range []struct {
		vars map[string]string
		has  string
	}{
		{map[string]string{"CRTOOLS_SCRIPT_ACTION": "pre-dump", "CRTOOLS_INIT_PID": "abc"}, `ovlfix-hook: pre-dump: cannot help: ` + quote.String(`bad action-script environment: CRTOOLS_INIT_PID="abc" is not a process id`)},
		{map[string]string{"CRTOOLS_SCRIPT_ACTION": "pre-dump"}, "CRTOOLS_INIT_PID is not set for pre-dump"},
		{map[string]string{"CRTOOLS_SCRIPT_ACTION": "post-dump", "CRTOOLS_INIT_PID": "1"}, "CRTOOLS_IMAGE_DIR is not set for post-dump"},
		{map[string]string{"CRTOOLS_SCRIPT_ACTION": "post-dump", "CRTOOLS_INIT_PID": "1", "CRTOOLS_IMAGE_DIR": "images"}, `CRTOOLS_IMAGE_DIR=\"images\" is not an absolute path`},
	} {
		expect(t, runHookAs(t, dir, tc.vars), exitOK, tc.has)
	}
	assertEmptyDir(t, dir)
}

func TestHookOtherActionsExitAtOnce(t *testing.T) {
	dir := t.TempDir()
	for _, a := range []string{"pre-restore", "post-restore", "network-lock", "network-unlock", "setup-namespaces", "post-setup-namespaces", "pre-resume", "post-resume", "orphan-pts-master", "status-ready", "something-new"} {
		r := runHookAs(t, dir, map[string]string{"CRTOOLS_SCRIPT_ACTION": a, "CRTOOLS_INIT_PID": "-"})
		if r.code != 0 || r.stderr != "" || r.stdout != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 0 and silence", a, r.code, r.stdout, r.stderr)
		}
	}
	assertEmptyDir(t, dir)
}

// post-dump on a directory that holds no dump: ovlfix cannot check it, so
// it logs why and lets the dump stand (exit 0).
func TestHookPostDumpCannotHelp(t *testing.T) {
	testenv.RequireRoot(t)
	work := t.TempDir()
	criu := startCRIUStandIn(t, work, work)
	r := runHookAs(t, work, map[string]string{"CRTOOLS_SCRIPT_ACTION": "post-dump", "CRTOOLS_INIT_PID": fmt.Sprint(criu.pid), "CRTOOLS_IMAGE_DIR": criu.imageDir})
	expect(t, r, exitOK, "ovlfix-hook: post-dump: cannot help, the dump is left as CRIU wrote it")
	// CRTOOLS_IMAGE_DIR is a /proc/<pid>/fd/3 link: named once with its
	// target, then as <images dir>, never shown as a directory name.
	if strings.Contains(r.stderr, criu.imageDir+"/") || strings.Contains(r.stderr, criu.imageDir+":") {
		t.Errorf("the log shows %s as a directory name:\n%s", criu.imageDir, r.stderr)
	}
	if want := fmt.Sprintf("<images dir> is fd 3 of CRIU (pid %d), open on the directory CRIU calls %q", criu.pid, work); !strings.Contains(r.stderr, want) {
		t.Errorf("log lacks %q:\n%s", want, r.stderr)
	}
	assertEmptyDir(t, work)
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("%s is not empty: %v", dir, ents)
	}
}

func b(s string) []byte { return []byte(s) }

// hookSpec: one overlay "main" with watches on a lower-only file, a
// copied-up file, a directory and an upper-only file, a second name (hard
// link) of the copied-up file, and a watch on the base tmpfs (not an
// overlay: CRIU opens that handle itself, so no entry).
func hookSpec(base string) scenario.Spec {
	return scenario.Spec{Base: base, Steps: []scenario.Step{
		{Do: "mkdir", Path: b("lower/dir")},
		{Do: "mkdir", Path: b("upper")},
		{Do: "mkdir", Path: b("work")},
		{Do: "write", Path: b("lower/lower-only.txt"), Content: "l"},
		{Do: "write", Path: b("lower/dir/copied.txt"), Content: "c"},
		{Do: "write", Path: b("plain.txt"), Content: "p"},
		{Do: "overlay", Path: b("merged"), Lower: []string{"lower"}, Upper: "upper", Work: "work", Label: "main"},
		{Do: "copyup", Path: b("merged/dir/copied.txt")},
		{Do: "link", Src: b("merged/dir/copied.txt"), Path: b("merged/dir/copied-link.txt")},
		{Do: "write", Path: b("merged/pure-upper.txt"), Content: "u"},
		{Do: "watch", Path: b("merged/lower-only.txt"), Label: "lower-only"},
		{Do: "watch", Path: b("merged/dir/copied.txt"), Label: "copied-up"},
		{Do: "watch", Path: b("merged/dir"), Label: "directory"},
		{Do: "watch", Path: b("merged/pure-upper.txt"), Label: "pure-upper"},
		{Do: "watch", Path: b("plain.txt"), Label: "not-overlay"},
	}}
}

type irmapJSON struct {
	Dev   uint32 `json:"dev"`
	Inode uint64 `json:"inode"`
	Path  string `json:"path"`
}

// critIrmap decodes dir/irmap-cache with CRIU's own crit.
func critIrmap(t *testing.T, dir string) []irmapJSON {
	t.Helper()
	crit := testenv.RequireTool(t, "crit", "criu")
	out, err := exec.Command(crit, "decode", "-i", filepath.Join(dir, proto.IrmapCache)).Output()
	if err != nil {
		t.Fatalf("crit decode: %v", err)
	}
	var img struct {
		Magic   string      `json:"magic"`
		Entries []irmapJSON `json:"entries"`
	}
	if err := json.Unmarshal(out, &img); err != nil {
		t.Fatalf("crit output %q: %v", out, err)
	}
	if img.Magic != "IRMAP_CACHE" {
		t.Errorf("crit says magic %q, want IRMAP_CACHE", img.Magic)
	}
	return img.Entries
}

// entryFor is the entry CRIU needs for a held watch: the overlay's s_dev in
// the kernel's encoding (from the child's own mountinfo), the inode and
// path the child itself stat'ed.
func entryFor(t *testing.T, c *scenario.Child, label string) irmapJSON {
	t.Helper()
	m := c.Mounts["main"]
	for _, h := range c.Held {
		if h.Label == label {
			return irmapJSON{Dev: m.Major<<20 | m.Minor, Inode: h.Ino, Path: string(h.Path)}
		}
	}
	t.Fatalf("no held object %q", label)
	return irmapJSON{}
}

// byInode sorts entries of one overlay as the hook writes them.
func byInode(es ...irmapJSON) []irmapJSON {
	slices.SortFunc(es, func(a, b irmapJSON) int { return cmp.Compare(a.Inode, b.Inode) })
	return es
}

func sameEntries(t *testing.T, got, want []irmapJSON) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("irmap-cache holds %d entries %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestHookPreDumpWritesIrmapCache(t *testing.T) {
	c := scenariotest.StartT(t, binary, hookSpec)
	work := t.TempDir()
	criu := startCRIUStandIn(t, work, work)
	r := runHookAs(t, work, map[string]string{"CRTOOLS_SCRIPT_ACTION": "pre-dump", "CRTOOLS_INIT_PID": fmt.Sprint(c.PID), "CRTOOLS_IMAGE_DIR": criu.imageDir})
	expect(t, r, exitOK, "ovlfix-hook: pre-dump: wrote irmap-cache in CRIU's work dir (4 overlay watch(es))")
	t.Logf("hook log:\n%s", r.stderr)
	want := byInode(entryFor(t, c, "lower-only"), entryFor(t, c, "copied-up"), entryFor(t, c, "directory"), entryFor(t, c, "pure-upper"))
	sameEntries(t, critIrmap(t, work), want)
	if fi, err := os.Stat(filepath.Join(work, proto.IrmapCache)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("irmap-cache mode: %v %v, want 0600 (as CRIU writes images)", fi, err)
	}
	// A second run finds every entry valid and leaves the file alone.
	before, _ := os.ReadFile(filepath.Join(work, proto.IrmapCache))
	r = runHookAs(t, work, map[string]string{"CRTOOLS_SCRIPT_ACTION": "pre-dump", "CRTOOLS_INIT_PID": fmt.Sprint(c.PID), "CRTOOLS_IMAGE_DIR": criu.imageDir})
	expect(t, r, exitOK, "already holds valid entries for every overlay watch: not rewritten")
	if after, _ := os.ReadFile(filepath.Join(work, proto.IrmapCache)); !bytes.Equal(before, after) {
		t.Error("a second pre-dump rewrote a cache it had nothing to add to")
	}
}

// An existing cache (here CRIU's own, from `criu pre-dump`, plus two
// entries for our watches) is merged: entries for other inodes stay byte
// for byte, a valid entry for one of our watches (the hard link's name)
// stays, a stale one (a path that is gone) is replaced.
func TestHookPreDumpMergesExistingCache(t *testing.T) {
	c := scenariotest.StartT(t, binary, hookSpec)
	work := t.TempDir()
	criu := startCRIUStandIn(t, work, work)
	real, err := proto.ReadImageFile(filepath.Join("..", "..", "testdata", "criu", "irmap", "irmap-cache"))
	if err != nil {
		t.Fatal(err)
	}
	stale, link := entryFor(t, c, "lower-only"), entryFor(t, c, "copied-up")
	stale.Path = filepath.Join(c.Merged, "gone.txt")
	link.Path = filepath.Join(c.Merged, "dir", "copied-link.txt")
	for _, e := range []irmapJSON{stale, link} {
		dev, ino, path := e.Dev, e.Inode, e.Path
		if err := real.Append(&proto.IrmapCacheEntry{Dev: &dev, Inode: &ino, Path: &path}); err != nil {
			t.Fatal(err)
		}
	}
	if err := proto.WriteImageAtomic(work, proto.IrmapCache, 0o640, real); err != nil {
		t.Fatal(err)
	}
	r := runHookAs(t, work, map[string]string{"CRTOOLS_SCRIPT_ACTION": "pre-dump", "CRTOOLS_INIT_PID": fmt.Sprint(c.PID), "CRTOOLS_IMAGE_DIR": criu.imageDir})
	expect(t, r, exitOK, "merging with the existing irmap-cache (3 entries)")
	t.Logf("hook log:\n%s", r.stderr)
	for _, has := range []string{"replaced the stale entry " + fmt.Sprintf("%q", stale.Path), "kept the existing entry " + fmt.Sprintf("%q", link.Path)} {
		if !strings.Contains(r.stderr, has) {
			t.Errorf("log lacks %q", has)
		}
	}
	// CRIU's own entry (testdata/criu/README.md: dev 31, inode 7).
	criuEntry := irmapJSON{Dev: 31, Inode: 7, Path: "/tmp/ovl/merged/lowerfile"}
	// Existing entries in place, then the new ones (sorted by inode).
	want := append([]irmapJSON{criuEntry, entryFor(t, c, "lower-only"), link}, byInode(entryFor(t, c, "directory"), entryFor(t, c, "pure-upper"))...)
	sameEntries(t, critIrmap(t, work), want)
	got, err := proto.ReadImageFile(filepath.Join(work, proto.IrmapCache))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Entries[0], real.Entries[0]) || !bytes.Equal(got.Entries[2], real.Entries[2]) {
		t.Error("kept entries were re-encoded")
	}
	if fi, err := os.Stat(filepath.Join(work, proto.IrmapCache)); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("the existing cache's mode was not kept: %v %v", fi, err)
	}
}

// A hook whose cwd is not CRIU's work dir writes nothing anywhere.
func TestHookPreDumpWrongWorkDir(t *testing.T) {
	c := scenariotest.StartT(t, binary, hookSpec)
	criuWork, hookCwd := t.TempDir(), t.TempDir()
	criu := startCRIUStandIn(t, criuWork, criuWork)
	r := runHookAs(t, hookCwd, map[string]string{"CRTOOLS_SCRIPT_ACTION": "pre-dump", "CRTOOLS_INIT_PID": fmt.Sprint(c.PID), "CRTOOLS_IMAGE_DIR": criu.imageDir})
	expect(t, r, exitOK, fmt.Sprintf(`cannot help, irmap-cache not written: "work dir: this hook's cwd is not the cwd of CRIU (pid %d)`, criu.pid))
	assertEmptyDir(t, hookCwd)
	assertEmptyDir(t, criuWork)
}

// Layers on two filesystems with xino=off: a watched non-directory has a
// pseudo st_dev, so CRIU's revalidation (MKKDEV(st_dev) == sdev) rejects
// any path for it. The hook says so and writes entries only for what CRIU
// can use (the directory, whose st_dev is the overlay's).
func TestHookPreDumpPseudoDevSkipped(t *testing.T) {
	c := scenariotest.StartT(t, binary, func(base string) scenario.Spec {
		return scenario.Spec{Base: base, Steps: []scenario.Step{
			{Do: "tmpfs", Path: b("lowerfs"), Label: "lowerfs"},
			{Do: "tmpfs", Path: b("upperfs"), Label: "upperfs"},
			{Do: "mkdir", Path: b("lowerfs/lower/dir")},
			{Do: "mkdir", Path: b("upperfs/upper")},
			{Do: "mkdir", Path: b("upperfs/work")},
			{Do: "write", Path: b("lowerfs/lower/file.txt"), Content: "l"},
			{Do: "overlay", Path: b("merged"), Lower: []string{"lowerfs/lower"}, Upper: "upperfs/upper", Work: "upperfs/work", Opts: "xino=off", Label: "main"},
			{Do: "watch", Path: b("merged/file.txt"), Label: "file"},
			{Do: "watch", Path: b("merged/dir"), Label: "directory"},
		}}
	})
	work := t.TempDir()
	criu := startCRIUStandIn(t, work, work)
	r := runHookAs(t, work, map[string]string{"CRTOOLS_SCRIPT_ACTION": "pre-dump", "CRTOOLS_INIT_PID": fmt.Sprint(c.PID), "CRTOOLS_IMAGE_DIR": criu.imageDir})
	expect(t, r, exitOK, "which CRIU's MKKDEV(st_dev) check cannot match")
	t.Logf("hook log:\n%s", r.stderr)
	sameEntries(t, critIrmap(t, work), []irmapJSON{entryFor(t, c, "directory")})
}
