package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCriuArgs(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want []string
		ok   bool
	}{
		{[]string{"/usr/local/bin/ovlfix-criu", "swrk", "3"}, []string{"swrk", "3"}, true},
		{[]string{"ovlfix-criu", "--version"}, []string{"--version"}, true},
		{[]string{"/usr/bin/ovlfix", "criu", "--real", "/x/criu", "swrk", "3"}, []string{"--real", "/x/criu", "swrk", "3"}, true},
		{[]string{"ovlfix", "hook"}, nil, false},
		{[]string{"ovlfix-hook"}, nil, false},
		{[]string{"/usr/local/lib/ovlfix/criu", "swrk", "3"}, []string{"swrk", "3"}, true}, // first in PATH for Podman
		{[]string{"/usr/local/bin/criu-ng", "swrk", "3"}, nil, false},
	} {
		got, ok := criuArgs(c.argv)
		if ok != c.ok || strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("criuArgs(%q) = %q, %v; want %q, %v", c.argv, got, ok, c.want, c.ok)
		}
	}
	for _, c := range []struct {
		args       []string
		real, rest string
		bad        bool
	}{
		{[]string{"--real", "/r", "swrk", "3"}, "/r", "swrk 3", false},
		{[]string{"--real=/r", "--version"}, "/r", "--version", false},
		{[]string{"check"}, "", "check", false},
		{[]string{"--real"}, "", "", true},
	} {
		real, rest, err := criuRealFlag(c.args)
		if (err != nil) != c.bad || real != c.real || strings.Join(rest, " ") != c.rest {
			t.Errorf("criuRealFlag(%q) = %q, %q, %v", c.args, real, rest, err)
		}
	}
	for _, c := range []struct {
		args []string
		fd   int
		ok   bool
	}{{[]string{"swrk", "3"}, 3, true}, {[]string{"swrk", "x"}, 0, false}, {[]string{"swrk"}, 0, false}, {[]string{"swrk", "3", "4"}, 0, false}, {[]string{"dump", "3"}, 0, false}} {
		if fd, ok := swrkFD(c.args); fd != c.fd || ok != c.ok {
			t.Errorf("swrkFD(%q) = %d, %v", c.args, fd, ok)
		}
	}
}

// Every invocation but `swrk FD` is the real CRIU's, unchanged (runc may
// ask `criu --version`), found by --real, $OVLFIX_REAL_CRIU or PATH; a
// `criu` in PATH that is ovlfix itself is skipped.
func TestCriuPassesOtherInvocationsToTheRealCRIU(t *testing.T) {
	dir := t.TempDir()
	proxy := filepath.Join(dir, "ovlfix-criu")
	if err := os.Symlink(binary, proxy); err != nil {
		t.Fatal(err)
	}
	loop := filepath.Join(dir, "loop")
	realDir := filepath.Join(dir, "real")
	for _, d := range []string{loop, realDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(binary, filepath.Join(loop, "criu")); err != nil { // a criu -> ovlfix first in PATH
		t.Fatal(err)
	}
	fake := filepath.Join(realDir, "criu")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"real criu: $0 $*\"\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		cmd  *exec.Cmd
		env  []string
		want string
	}{
		{"PATH, skipping criu -> ovlfix", exec.Command(proxy, "--version"), []string{"PATH=" + loop + ":" + realDir + ":/usr/bin:/bin"}, "real criu: " + fake + " --version\n"},
		{"invoked as criu, first in PATH", exec.Command(filepath.Join(loop, "criu"), "--version"), []string{"PATH=" + loop + ":" + realDir + ":/usr/bin:/bin"}, "real criu: " + fake + " --version\n"},
		{"$OVLFIX_REAL_CRIU", exec.Command(proxy, "check", "--all"), []string{"OVLFIX_REAL_CRIU=" + fake}, "real criu: " + fake + " check --all\n"},
		{"--real, ovlfix criu", exec.Command(binary, "criu", "--real", fake, "dump", "-t", "1"), nil, "real criu: " + fake + " dump -t 1\n"},
	} {
		c.cmd.Env = append(os.Environ(), c.env...)
		r := run(t, c.cmd)
		if r.code != 3 || r.stdout != c.want {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want the real CRIU's exit 3 and %q", c.name, r.code, r.stdout, r.stderr, c.want)
		}
	}
	// Only ovlfix in PATH, or --real naming ovlfix: a clear error, no loop.
	only := exec.Command(proxy, "--version")
	only.Env = append(os.Environ(), "PATH="+loop, "OVLFIX_REAL_CRIU=")
	if r := run(t, only); r.code != exitFailure || !strings.Contains(r.stderr, "no `criu` in PATH other than ovlfix itself") {
		t.Errorf("only ovlfix in PATH: exit %d, stderr %q", r.code, r.stderr)
	}
	self := exec.Command(proxy, "--real", filepath.Join(loop, "criu"), "swrk", "3")
	if r := run(t, self); r.code != exitFailure || !strings.Contains(r.stderr, "is ovlfix itself, not CRIU") {
		t.Errorf("--real naming ovlfix: exit %d, stderr %q", r.code, r.stderr)
	}
	// With the real CRIU 4.2, the answer runc reads is CRIU's own.
	criu42 := filepath.Join("..", "..", "..", "shared", "criu", "4.2", "criu")
	if want, err := exec.Command(criu42, "--version").Output(); err == nil {
		cmd := exec.Command(proxy, "--version")
		cmd.Env = append(os.Environ(), "OVLFIX_REAL_CRIU="+criu42)
		if r := run(t, cmd); r.code != 0 || r.stdout != string(want) {
			t.Errorf("ovlfix-criu --version with CRIU 4.2: exit %d, %q; want %q", r.code, r.stdout, want)
		}
	} else {
		t.Logf("CRIU 4.2 not runnable at %s (%v): its --version not compared", criu42, err)
	}
}
