package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/internal/testenv"
)

// realCRIUs are the CRIU binaries of this host: ../shared/criu (4.2 and
// 4.1.1, see its README) and Debian's 3.17.1. Only --version is run.
func realCRIUs(t *testing.T) map[string]string {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{
		"4.2":    filepath.Join(root, "..", "shared", "criu", "4.2", "criu"),
		"4.1.1":  filepath.Join(root, "..", "shared", "criu", "4.1.1", "criu"),
		"3.17.1": "/usr/sbin/criu",
	}
	for _, p := range m {
		testenv.RequireFile(t, p, "../shared/criu/README.md; apt-get install criu")
	}
	return m
}

// TestHookInstallDryRunRealCRIU: `hook install --dry-run --runtime runc`
// with each real CRIU picks the proxy, names the version and the other
// routes' verdicts, and writes nothing; --route config is refused on
// 3.17.1 with the BUG and allowed (runs twice) on 4.1.1.
func TestHookInstallDryRunRealCRIU(t *testing.T) {
	otherConfig := map[string]string{"3.17.1": "other route config: breaks: CRIU 3.17.1 aborts every runc checkpoint",
		"4.1.1": "other route config: runs twice: CRIU 4.1.1 registers", "4.2": "other route config: works: CRIU 4.2 runs"}
	for v, criu := range realCRIUs(t) {
		t.Run(v, func(t *testing.T) {
			prefix, conf := t.TempDir(), t.TempDir()
			args := []string{"hook", "install", "--dry-run", "--runtime", "runc", "--criu", criu, "--prefix", prefix, "--config-dir", conf}
			r := ovlfix(t, args...)
			t.Logf("$ ovlfix %s\n%s", strings.Join(args, " "), r.stdout)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			for _, want := range []string{"CRIU " + v + " (", "runtime runc: route proxy (works)", otherConfig[v],
				"would create symlink " + `"` + filepath.Join(prefix, "ovlfix-criu"), "dry run: nothing written (1 change(s) would be made)",
				"you must: run runc with --criu " + filepath.Join(prefix, "ovlfix-criu")} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("output lacks %q", want)
				}
			}
			if n := len(testenv.DirNames(t, prefix)) + len(testenv.DirNames(t, conf)); n != 0 {
				t.Errorf("--dry-run wrote %d file(s)", n)
			}
			r = ovlfix(t, append(args, "--route", "config")...)
			switch v {
			case "3.17.1":
				expect(t, r, 1, "CRIU 3.17.1 aborts every runc checkpoint when an action script comes from a config file (BUG at criu/action-scripts.c:172")
			default:
				if r.code != 0 || !strings.Contains(r.stdout, "would add ") {
					t.Errorf("--route config on %s: exit %d\n%s%s", v, r.code, r.stdout, r.stderr)
				}
			}
		})
	}
}

// TestHookInstallUninstallBinary: a real install of the config route with
// CRIU 4.2 into temporary directories, twice (byte-identical), then
// uninstall gives back the other tool's file byte for byte.
func TestHookInstallUninstallBinary(t *testing.T) {
	criu := realCRIUs(t)["4.2"]
	prefix, conf := t.TempDir(), t.TempDir()
	runcConf := filepath.Join(conf, "runc.conf")
	orig := "# by another tool\ntcp-established\n"
	if err := os.WriteFile(runcConf, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--runtime", "runc", "--route", "config", "--criu", criu, "--prefix", prefix, "--config-dir", conf}
	var after []string
	for i := 0; i < 2; i++ {
		r := ovlfix(t, append([]string{"hook", "install"}, args...)...)
		if r.code != 0 {
			t.Fatalf("install %d: exit %d %s", i, r.code, r.stderr)
		}
		t.Logf("install %d:\n%s", i+1, r.stdout)
		after = append(after, string(testenv.ReadFile(t, runcConf)))
	}
	want := orig + "action-script " + filepath.Join(prefix, "ovlfix-hook") + "  # added by ovlfix hook install\n"
	if after[0] != want || after[1] != want {
		t.Fatalf("runc.conf after two installs:\n%q\n%q\nwant %q", after[0], after[1], want)
	}
	if fi, _ := os.Stat(runcConf); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600 kept", fi.Mode().Perm())
	}
	r := ovlfix(t, append([]string{"hook", "uninstall"}, args...)...)
	t.Logf("uninstall:\n%s", r.stdout)
	if r.code != 0 || string(testenv.ReadFile(t, runcConf)) != orig {
		t.Errorf("uninstall: exit %d %s; runc.conf %q", r.code, r.stderr, testenv.ReadFile(t, runcConf))
	}
	if names := testenv.DirNames(t, prefix); len(names) != 0 {
		t.Errorf("links left: %v", names)
	}
}

// TestCheckHookRoutes: check's JSON has the hook-routes section for the
// CRIU first in PATH (here 4.1.1: the config route runs twice for runc).
func TestCheckHookRoutes(t *testing.T) {
	testenv.RequireRoot(t)
	criu := realCRIUs(t)["4.1.1"]
	cmd := exec.Command(binary, "check", "--no-cache", "-o", "json")
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(criu)+":"+os.Getenv("PATH"))
	rep := checkJSON(t, cmd)
	h := rep.HookRoutes
	if h.Version != "4.1.1" || h.CRIU != criu || len(h.Runtimes) != 4 {
		b, _ := json.Marshal(h)
		t.Fatalf("hook_routes %s", b)
	}
	got := map[string]string{}
	for _, r := range h.Runtimes[0].Routes {
		got[string(r.Route)] = string(r.Status)
	}
	if h.Runtimes[0].Runtime != "runc" || got["proxy"] != "works" || got["config"] != "runs twice" || got["cli"] != "not applicable" {
		t.Errorf("runc routes on 4.1.1: %v", got)
	}
	cmd = exec.Command(binary, "check", "--no-cache")
	cmd.Env = cmd.Env[:0]
	cmd.Env = append(os.Environ(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	r := run(t, cmd)
	if !strings.Contains(r.stdout, "hook routes (docs/hook.md):\n  CRIU 3.17.1 at \"/usr/sbin/criu\"") || !strings.Contains(r.stdout, "config breaks: CRIU 3.17.1 aborts every runc checkpoint") {
		t.Errorf("text check with Debian's CRIU:\n%s", r.stdout)
	}
}
