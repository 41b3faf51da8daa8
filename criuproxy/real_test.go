package criuproxy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindReal(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "ovlfix")
	if err := os.WriteFile(self, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	loop, a, b, noexec := filepath.Join(dir, "loop"), filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "noexec")
	for _, d := range []string{loop, a, b, noexec} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(self, filepath.Join(loop, "criu")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(self, filepath.Join(a, "criu")); err != nil { // a hard link is ovlfix too
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(b, "criu"), filepath.Join(dir, "named")} {
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(noexec, "criu"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := func(kv ...string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1], true
				}
			}
			return "", false
		}
	}
	path := "PATH"
	for _, c := range []struct {
		name, flag string
		lookup     func(string) (string, bool)
		want, err  string
	}{
		{"PATH skips ovlfix (symlink, hard link) and a non-executable", "", env(path, strings.Join([]string{loop, a, noexec, b}, ":")), filepath.Join(b, "criu"), ""},
		{"env first", "", env(EnvRealCRIU, filepath.Join(dir, "named"), path, b), filepath.Join(dir, "named"), ""},
		{"--real first", filepath.Join(dir, "named"), env(EnvRealCRIU, filepath.Join(b, "criu")), filepath.Join(dir, "named"), ""},
		{"--real is ovlfix", filepath.Join(loop, "criu"), env(), "", "is ovlfix itself"},
		{"env is ovlfix", "", env(EnvRealCRIU, self), "", "is ovlfix itself"},
		{"--real missing", filepath.Join(dir, "nope"), env(), "", "no such file"},
		{"only ovlfix in PATH", "", env(path, loop+":"+a), "", "no `criu` in PATH"},
	} {
		got, err := FindReal(c.flag, c.lookup, self)
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: %q, %v; want an error containing %q", c.name, got, err, c.err)
		}
		if c.name == "only ovlfix in PATH" && !errors.Is(err, ErrNoRealCRIU) {
			t.Errorf("%s: %v does not wrap ErrNoRealCRIU", c.name, err)
		}
	}
}
