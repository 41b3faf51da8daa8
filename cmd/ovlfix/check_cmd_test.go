package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/internal/testenv"
	"github.com/ovlfix/ovlfix/quirks"
	"golang.org/x/sys/unix"
)

// checkJSON runs `ovlfix check -o json ARGS...` and decodes the report.
func checkJSON(t *testing.T, cmd *exec.Cmd) checkReport {
	t.Helper()
	r := run(t, cmd)
	if r.code != 0 {
		t.Fatalf("check exit %d: %s", r.code, r.stderr)
	}
	var rep checkReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("check JSON: %v\n%s", err, r.stdout)
	}
	return rep
}

// TestCheckProbes runs the probe through the binary on this kernel and
// checks the flags docs/kernel-quirks.md documents for ≥6.8 (Matrix A/B/C,
// §5, §7; observed there on 6.18).
func TestCheckProbes(t *testing.T) {
	testenv.RequireRoot(t)
	rep := checkJSON(t, exec.Command(binary, "check", "--no-cache", "-o", "json"))
	s := rep.Quirks
	if rep.Source != "probe" || rep.Cached || rep.CacheFile != "" || !s.Probed {
		t.Fatalf("source %q cached %v cache %q probed %v; want a fresh probe and no cache", rep.Source, rep.Cached, rep.CacheFile, s.Probed)
	}
	if atLeast, ok := testenv.ReleaseAtLeast(s.Kernel, 6, 8); !atLeast || !ok {
		t.Skipf("kernel %s: the ≥6.8 expectations do not apply (the quirks package's tests cover 6.1)", s.Kernel)
	}
	want := map[string]bool{"fd_path_ok": true, "maps_ino_ok": true, "maps_dev_is_sbdev": true,
		"stat_dev_pseudo": true, "unique_mnt_id": true, "mapfiles_mntid_ok": true, "fid_decodable": false}
	got := map[string]bool{"fd_path_ok": s.FdPathOK, "maps_ino_ok": s.MapsInoOK, "maps_dev_is_sbdev": s.MapsDevIsSbDev,
		"stat_dev_pseudo": s.StatDevPseudo, "unique_mnt_id": s.UniqueMntID, "mapfiles_mntid_ok": s.MapFilesMntIDOK, "fid_decodable": s.FidDecodable}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %v, docs/kernel-quirks.md says %v for ≥6.8", k, got[k], w)
		}
	}
	if s.FhandleType != 0xf8 || !rep.Trust {
		t.Errorf("fhandle_type %#x trust %v; want 0xf8 (§5, 6.6+) and trust", s.FhandleType, rep.Trust)
	}
}

// TestCheckCache: the second run reads the cache the first one wrote.
func TestCheckCache(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	first := checkJSON(t, exec.Command(binary, "check", "-o", "json", "--cache-dir", dir))
	second := checkJSON(t, exec.Command(binary, "check", "-o", "json", "--cache-dir", dir))
	if first.Cached || !second.Cached || !second.Quirks.ProbedAt.Equal(first.Quirks.ProbedAt) {
		t.Errorf("cached %v then %v, probed at %v then %v; want a probe, then the cache", first.Cached, second.Cached, first.Quirks.ProbedAt, second.Quirks.ProbedAt)
	}
	if second.CacheFile != filepath.Join(dir, "quirks.json") {
		t.Errorf("cache file %q", second.CacheFile)
	}
	r := ovlfix(t, "check", "--cache-dir", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "read from the cache") || !strings.Contains(r.stdout, "maps_dev_is_sbdev") {
		t.Errorf("text output (exit %d) lacks the cache source or a flag:\n%s", r.code, r.stdout)
	}
}

// TestCheckUnprivileged runs check as nobody: no mount namespace, so the
// version table answers, marked unverified, with the reason.
func TestCheckUnprivileged(t *testing.T) {
	testenv.RequireRoot(t) // to become nobody
	cmd := exec.Command(binary, "check", "--no-cache", "-o", "json")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	rep := checkJSON(t, cmd)
	if rep.Source != "fallback" || rep.Quirks.Probed || rep.Trust {
		t.Fatalf("as nobody: source %q probed %v trust %v; want the unverified fallback", rep.Source, rep.Quirks.Probed, rep.Trust)
	}
	if ev := rep.Quirks.Evidence; len(ev) == 0 || !strings.Contains(ev[0], "probe not run") || !strings.Contains(ev[0], "operation not permitted") {
		t.Errorf("first evidence line does not give the reason: %q", ev)
	}
	cmd = exec.Command(binary, "check", "--no-cache")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if r := run(t, cmd); r.code != 0 || !strings.Contains(r.stdout, "NOT probed") {
		t.Errorf("text as nobody (exit %d) does not say NOT probed:\n%s", r.code, r.stdout)
	}
}

// TestCheckUnprivilegedReadsRootCache: a cache root wrote (owned by root,
// not writable by others) serves unprivileged runs, which cannot probe.
func TestCheckUnprivilegedReadsRootCache(t *testing.T) {
	testenv.RequireRoot(t)
	dir, err := os.MkdirTemp("", "ovlfix-check-cache-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	root := checkJSON(t, exec.Command(binary, "check", "-o", "json", "--cache-dir", dir))
	cmd := exec.Command(binary, "check", "-o", "json", "--cache-dir", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	rep := checkJSON(t, cmd)
	if rep.Source != "probe" || !rep.Cached || !rep.Quirks.ProbedAt.Equal(root.Quirks.ProbedAt) {
		t.Errorf("as nobody with root's cache: source %q cached %v; want root's probe from the cache", rep.Source, rep.Cached)
	}
}

func TestCheckUsage(t *testing.T) {
	expect(t, ovlfix(t, "check", "-o", "xml"), exitUsage, "text or json")
	expect(t, ovlfix(t, "check", "extra"), exitUsage, "takes no arguments")
}

// TestCheckKernelWithoutOverlay hides overlay from /proc/filesystems, as
// TestDumpKernelWithoutOverlay does.
func TestCheckKernelWithoutOverlay(t *testing.T) {
	testenv.RequireRoot(t)
	fake := filepath.Join(t.TempDir(), "filesystems")
	if err := os.WriteFile(fake, []byte("nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\n\text4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c",
		`mount --bind "$1" /proc/filesystems && exec "$2" check --no-cache`, "sh", fake, binary)
	expect(t, run(t, cmd), exitNoOverlay, "no overlay filesystem")
}

// TestCheckTextQuotesTheCache: the evidence lines come from the cache
// file; one holding a newline and a fake flag line adds no line to the
// output and shows unquoted to its exact text.
func TestCheckTextQuotesTheCache(t *testing.T) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Fatal(err)
	}
	forged := "measured\nfd_path_ok         false  forged by the cache"
	s := quirks.Set{Kernel: unix.ByteSliceToString(uts.Release[:]), BootID: strings.TrimSpace(string(boot)), Probed: true,
		ProbedAt: time.Now().UTC(), FdPathOK: true, FhandleType: -1, Evidence: []string{"plain", forged}}
	raw, err := json.Marshal(map[string]any{"format": 1, "quirks": s})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, quirks.CacheFile), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	r := ovlfix(t, "check", "--cache-dir", dir)
	expect(t, r, exitOK, "")
	t.Logf("check:\n%s", r.stdout)
	// The hook-routes section (check_routes.go) follows the evidence.
	quirksText, _, found := strings.Cut(r.stdout, "\nhook routes (docs/hook.md):\n")
	if !found {
		t.Errorf("no hook routes section after the evidence")
	}
	lines := strings.Split(strings.TrimSuffix(quirksText, "\n"), "\n")
	// kernel, source, blank, the flags, blank, "evidence:", one per line.
	if want := 3 + len(s.Flags()) + 2 + len(s.Evidence); len(lines) != want {
		t.Errorf("%d lines, want %d: the cache added lines", len(lines), want)
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "fd_path_ok") && strings.Contains(l, "forged") {
			t.Errorf("forged flag line %q", l)
		}
	}
	if got := lines[len(lines)-1]; got != "  "+strconv.Quote(forged) {
		t.Errorf("last evidence line %q, want the forged text quoted", got)
	}
}
