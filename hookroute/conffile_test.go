package hookroute

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// others is a runc.conf as other tools and an administrator leave it.
const others = "# CRIU options for runc (managed by hand)\ntcp-established\n\n  # a comment with action-script in it\nmanage-cgroups=ignore\n"

func write(t *testing.T, p, s string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAddLineIdempotent: twice gives one line and a byte-identical file;
// mode and owner are kept; uninstall gives back the original bytes.
func TestAddLineIdempotent(t *testing.T) {
	p := filepath.Join(t.TempDir(), "runc.conf")
	write(t, p, others, 0o640)
	if err := os.Chown(p, 12345, 54321); err != nil {
		t.Fatal(err)
	}
	hook := "/usr/local/bin/ovlfix-hook"
	e, err := AddLine(p, hook, false)
	if err != nil || !e.Changed {
		t.Fatalf("first add: %+v %v", e, err)
	}
	first := read(t, p)
	if first != others+ConfigLine(hook)+"\n" {
		t.Fatalf("after add:\n%s", first)
	}
	e, err = AddLine(p, hook, false)
	if err != nil || e.Changed || !strings.Contains(e.What, "already names the hook") {
		t.Fatalf("second add: %+v %v", e, err)
	}
	if second := read(t, p); second != first {
		t.Fatalf("second add changed the file:\n%s", second)
	}
	st, _ := os.Stat(p)
	sys := st.Sys().(*syscall.Stat_t)
	if st.Mode().Perm() != 0o640 || sys.Uid != 12345 || sys.Gid != 54321 {
		t.Errorf("mode %v owner %d:%d, want 0640 12345:54321", st.Mode().Perm(), sys.Uid, sys.Gid)
	}
	e, err = RemoveLine(p, hook, false)
	if err != nil || !e.Changed {
		t.Fatalf("remove: %+v %v", e, err)
	}
	if got := read(t, p); got != others {
		t.Errorf("after remove:\n%q\nwant\n%q", got, others)
	}
	if e, _ := RemoveLine(p, hook, false); e.Changed {
		t.Errorf("second remove changed: %+v", e)
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// TestRemoveLineOnlyOurs: an unmarked line naming the hook (the
// administrator's) and other tools' lines stay; only the marked one goes.
func TestRemoveLineOnlyOurs(t *testing.T) {
	p := filepath.Join(t.TempDir(), "default.conf")
	hook := "/usr/local/bin/ovlfix-hook"
	mine := "action-script " + hook + "\n"
	content := others + mine + ConfigLine(hook) + "\n" + "action-script /opt/other/script\n"
	write(t, p, content, 0o644)
	e, err := RemoveLine(p, hook, false)
	if err != nil || !e.Changed || !strings.Contains(e.What, "left alone") {
		t.Fatalf("remove: %+v %v", e, err)
	}
	if got, want := read(t, p), others+mine+"action-script /opt/other/script\n"; got != want {
		t.Errorf("after remove:\n%q\nwant\n%q", got, want)
	}
	// The administrator's line counts as installed: add changes nothing.
	if e, err := AddLine(p, hook, false); err != nil || e.Changed || !strings.Contains(e.What, "not marked by ovlfix") {
		t.Errorf("add next to an unmarked line: %+v %v", e, err)
	}
}

// TestAddLineOddFiles: no final newline, CRLF, a new file, a symlink.
func TestAddLineOddFiles(t *testing.T) {
	hook := "/usr/local/bin/ovlfix-hook"
	dir := t.TempDir()

	p := filepath.Join(dir, "nonl.conf")
	write(t, p, "tcp-established", 0o644)
	if _, err := AddLine(p, hook, false); err != nil {
		t.Fatal(err)
	}
	if got := read(t, p); got != "tcp-established\n"+ConfigLine(hook)+"\n" {
		t.Errorf("no final newline: %q", got)
	}

	p = filepath.Join(dir, "crlf.conf")
	write(t, p, "tcp-established\r\n", 0o644)
	if _, err := AddLine(p, hook, false); err != nil {
		t.Fatal(err)
	}
	if got := read(t, p); got != "tcp-established\r\n"+ConfigLine(hook)+"\r\n" {
		t.Errorf("CRLF: %q", got)
	}
	if w := configWords(ConfigLine(hook) + "\r\n"); len(w) != 2 || w[1] != hook {
		t.Errorf("CRIU's words of our CRLF line: %q (the \\r must fall in the comment)", w)
	}
	if e, err := RemoveLine(p, hook, false); err != nil || !e.Changed || read(t, p) != "tcp-established\r\n" {
		t.Errorf("CRLF remove: %+v %v %q", e, err, read(t, p))
	}

	p = filepath.Join(dir, "sub", "runc.conf")
	if _, err := AddLine(p, hook, false); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if got := read(t, p); got != ConfigLine(hook)+"\n" || st.Mode().Perm() != 0o644 {
		t.Errorf("new file: %q mode %v", got, st.Mode().Perm())
	}

	target := filepath.Join(dir, "target.conf")
	write(t, target, others, 0o644)
	link := filepath.Join(dir, "link.conf")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(string, string, bool) (Edit, error){"add": AddLine, "remove": RemoveLine} {
		if _, err := f(link, hook, false); err == nil || !strings.Contains(err.Error(), "is a symlink") {
			t.Errorf("%s on a symlinked config file: %v, want a refusal", name, err)
		}
	}
	if read(t, target) != others {
		t.Errorf("the link's target changed")
	}
}

// TestDryRunWritesNothing: install and uninstall with DryRun leave the
// directories as they were, and say what they would do.
func TestDryRunWritesNothing(t *testing.T) {
	o := testOptions(t)
	o.DryRun = true
	write(t, filepath.Join(o.ConfigDir, RuncConf), others, 0o644)
	before := snapshot(t, o.Prefix, o.ConfigDir)
	o.Route, o.Version = Config, Version{4, 2, 0}
	res, err := Install(o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Edits) != 2 || !strings.HasPrefix(res.Edits[0].What, "would create symlink") || !strings.HasPrefix(res.Edits[1].What, "would add line 6") {
		t.Errorf("dry-run edits: %+v", res.Edits)
	}
	if _, err := Uninstall(o); err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, o.Prefix, o.ConfigDir); after != before {
		t.Errorf("dry run changed files:\n%s\n->\n%s", before, after)
	}
}

func testOptions(t *testing.T) Options {
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Options{CRIU: "/usr/sbin/criu", Version: Version{3, 17, 1}, Runtime: Runc,
		Prefix: t.TempDir(), ConfigDir: t.TempDir(), Binary: bin}
}

// snapshot lists every file under dirs with its mode and content.
func snapshot(t *testing.T, dirs ...string) string {
	var b strings.Builder
	for _, d := range dirs {
		filepath.Walk(d, func(p string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			b.WriteString(p + " " + info.Mode().String())
			if info.Mode().IsRegular() {
				c, _ := os.ReadFile(p)
				b.WriteString(" " + string(c))
			} else if l, err := os.Readlink(p); err == nil {
				b.WriteString(" -> " + l)
			}
			b.WriteString("\n")
			return nil
		})
	}
	return b.String()
}
