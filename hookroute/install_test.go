package hookroute

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstallConfigThenProxy: the config route on 4.2 adds the line and
// the hook link; a later proxy install takes our line out again (routes
// must not be combined), keeping the other lines; uninstall removes both
// links. Twice is the same as once.
func TestInstallConfigThenProxy(t *testing.T) {
	o := testOptions(t)
	o.Version, o.Route = Version{4, 2, 0}, Config
	conf := filepath.Join(o.ConfigDir, RuncConf)
	write(t, conf, others, 0o644)
	for i := 0; i < 2; i++ {
		if _, err := Install(o); err != nil {
			t.Fatal(err)
		}
	}
	if got := read(t, conf); got != others+ConfigLine(filepath.Join(o.Prefix, HookLink))+"\n" {
		t.Fatalf("runc.conf after two config installs:\n%s", got)
	}
	if l, err := os.Readlink(filepath.Join(o.Prefix, HookLink)); err != nil || l != o.Binary {
		t.Fatalf("hook link: %q %v", l, err)
	}
	o.Route = Proxy
	res, err := Install(o)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, conf); got != others {
		t.Errorf("runc.conf after the proxy install:\n%s", got)
	}
	if len(res.Instructions) == 0 || !strings.Contains(res.Instructions[0], "--criu "+filepath.Join(o.Prefix, CRIULink)) {
		t.Errorf("proxy instructions: %q", res.Instructions)
	}
	if _, err := Uninstall(o); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{HookLink, CRIULink} {
		if _, err := os.Lstat(filepath.Join(o.Prefix, l)); !os.IsNotExist(err) {
			t.Errorf("%s left after uninstall: %v", l, err)
		}
	}
}

// TestInstallRefusesAndChangesNothing: a refused route (config on
// 3.17.1) and a foreign file where a link goes change nothing at all.
func TestInstallRefusesAndChangesNothing(t *testing.T) {
	o := testOptions(t)
	write(t, filepath.Join(o.ConfigDir, DefaultConf), others+ConfigLine(filepath.Join(o.Prefix, HookLink))+"\n", 0o644)
	before := snapshot(t, o.Prefix, o.ConfigDir)
	o.Route = Config
	var re *RefusedError
	if _, err := Install(o); !errors.As(err, &re) {
		t.Errorf("config route on 3.17.1: %v, want a refusal", err)
	}
	o.Route = Proxy
	write(t, filepath.Join(o.Prefix, CRIULink), "#!/bin/sh\n", 0o755)
	before2 := snapshot(t, o.Prefix, o.ConfigDir)
	if _, err := Install(o); err == nil || !strings.Contains(err.Error(), "is not ovlfix: not replaced") {
		t.Errorf("a foreign ovlfix-criu: %v, want a refusal", err)
	}
	if after := snapshot(t, o.Prefix, o.ConfigDir); after != before2 || !strings.Contains(before, "default.conf") {
		t.Errorf("a refused install changed files:\n%s\n->\n%s", before2, after)
	}
}

// TestInstallWarnsOfForeignLine: an administrator's unmarked line naming
// the hook in default.conf stays, and on 3.17.1 install says it breaks.
func TestInstallWarnsOfForeignLine(t *testing.T) {
	o := testOptions(t)
	conf := filepath.Join(o.ConfigDir, DefaultConf)
	content := "action-script " + filepath.Join(o.Prefix, HookLink) + "\n"
	write(t, conf, content, 0o644)
	res, err := Install(o)
	if err != nil {
		t.Fatal(err)
	}
	if read(t, conf) != content {
		t.Errorf("the unmarked line was touched: %q", read(t, conf))
	}
	last := res.Instructions[len(res.Instructions)-1]
	if !strings.Contains(last, "line 1") || !strings.Contains(last, "on CRIU 3.17.1 it aborts every runc and Podman checkpoint") {
		t.Errorf("instructions %q lack the warning", res.Instructions)
	}
}
