package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestVerifyHostileRoots: --root is the container's tree; whatever it is
// (a file, a FIFO, a loop, a symlink whose target is a host path) verify
// answers without blocking and judges held files inside it only. The host
// holds a file at exactly the path a link in the root names, with the
// right size and mode: a verdict "restorable" would mean it was stat'ed.
func TestVerifyHostileRoots(t *testing.T) {
	host := t.TempDir() // a host directory with the file the dump holds
	if err := os.WriteFile(filepath.Join(host, "data"), []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(host, "data"), 0o644)
	dump := tinyDump(t)

	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	loopDir := t.TempDir()
	loop := filepath.Join(loopDir, "loop")
	os.Symlink("loop", loop)
	expect(t, ovlfix(t, "verify", dump, "--root", file), exitRootUnusable, "not a directory")
	expect(t, ovlfix(t, "verify", dump, "--root", fifo), exitRootUnusable, "not a directory")
	expect(t, ovlfix(t, "verify", dump, "--root", loop), exitRootUnusable, "too many levels of symbolic links")

	// A root that is a symlink to a good root: the caller's path is the
	// caller's, followed; a relative --root too.
	good := tinyRoot(t, "0123456789", 0o644)
	link := filepath.Join(t.TempDir(), "rootlink")
	os.Symlink(good, link)
	expect(t, ovlfix(t, "verify", dump, "--root", link), exitOK, "")
	rel, err := filepath.Rel(mustGetwd(t), good)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, ovlfix(t, "verify", dump, "--root", rel), exitOK, "")

	// Links inside the root that name the host's directory: resolved in
	// the root, where nothing is.
	for name, mk := range map[string]func(root string) error{
		"parent is an absolute link to the host dir": func(root string) error { return os.Symlink(host, filepath.Join(root, "app")) },
		"parent climbs with ..": func(root string) error {
			return os.Symlink(strings.Repeat("../", 20)+strings.TrimPrefix(host, "/"), filepath.Join(root, "app"))
		},
		"parent is a link to /": func(root string) error {
			// app -> /, so /app/data is the root's /data: absent there,
			// present nowhere the host could answer for.
			return os.Symlink("/", filepath.Join(root, "app"))
		},
		"final link to the host file": func(root string) error {
			os.Mkdir(filepath.Join(root, "app"), 0o755)
			return os.Symlink(filepath.Join(host, "data"), filepath.Join(root, "app", "data"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			if err := mk(root); err != nil {
				t.Fatal(err)
			}
			r := ovlfix(t, "verify", dump, "--root", root)
			expect(t, r, exitNotRestorable, "1 files will not reopen")
			if !strings.Contains(r.stdout, "Can't open file app/data on restore: No such file or directory") {
				t.Errorf("stdout:\n%s", r.stdout)
			}
		})
	}
	// /proc as a root: answers, no hang, not restorable.
	expect(t, ovlfix(t, "verify", dump, "--root", "/proc"), exitNotRestorable, "")
}

// TestVerifyHostileNames: a recorded name with "..", control bytes or
// invalid UTF-8 is looked up clamped to the root, and both outputs stay
// parseable (json valid, text one line per item).
func TestVerifyHostileNames(t *testing.T) {
	for _, name := range []string{"/../../../app/data", "app/../../app/data", "/app/data\n/ok: restorable", "/app/\xff\xfe\x1b[2J"} {
		dump := tinyDumpOf(t, name)
		root := tinyRoot(t, "0123456789", 0o644)
		r := ovlfix(t, "verify", dump, "--root", root, "-o", "json")
		var rep struct {
			Restorable bool
			Problems   []struct{ Name, CRIU string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("%q: -o json is not JSON: %v\n%s", name, err, r.stdout)
		}
		clean := strings.Contains(name, "..")
		if clean != rep.Restorable || (clean && r.code != exitOK) || (!clean && r.code != exitNotRestorable) {
			t.Errorf("%q: exit %d, restorable %v, problems %+v", name, r.code, rep.Restorable, rep.Problems)
		}
		// Documented (docs/restore-check.md): invalid UTF-8 becomes U+FFFD
		// in JSON, byte by byte; the file id identifies the entry.
		if !clean && (len(rep.Problems) != 1 || rep.Problems[0].Name != jsonString(name)) {
			t.Errorf("%q: problems %+v do not name it exactly", name, rep.Problems)
		}
		r = ovlfix(t, "verify", dump, "--root", root)
		if strings.ContainsAny(r.stdout, "\x1b\xff") || strings.Contains(r.stdout, "\n/ok: restorable") {
			t.Errorf("%q: text output carries the raw name:\n%q", name, r.stdout)
		}
		r = ovlfix(t, "inspect", dump, "-o", "json")
		if !json.Valid([]byte(r.stdout)) || r.code != exitOK {
			t.Errorf("%q: inspect -o json exit %d, invalid JSON:\n%s", name, r.code, r.stdout)
		}
	}
}

// TestVerifyCarelessUsage: mistakes of a hurried user get usage errors, not
// a verdict.
func TestVerifyCarelessUsage(t *testing.T) {
	dump := tinyDump(t)
	expect(t, ovlfix(t, "verify", dump, dump, "--root", "/"), exitUsage, "exactly one checkpoint")
	expect(t, ovlfix(t, "inspect", dump, dump), exitUsage, "")
	expect(t, ovlfix(t, "verify", dump, "--root="), exitUsage, "--root DIR")
}

// jsonString is what encoding/json makes of s: each invalid UTF-8 byte
// becomes U+FFFD.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	var out string
	json.Unmarshal(b, &out)
	return out
}

func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// TestVerifyNameWithNUL: protobuf strings may hold NUL; CRIU opens
// reg.name as a C string, so what it opens is the name up to the first
// NUL. verify must answer for that path, not fail on the lookup.
func TestVerifyNameWithNUL(t *testing.T) {
	dump := tinyDumpOf(t, "/app/data\x00/../../etc/shadow")
	r := ovlfix(t, "verify", dump, "--root", tinyRoot(t, "0123456789", 0o644))
	expect(t, r, exitOK, "")
	r = ovlfix(t, "verify", dump, "--root", tinyRoot(t, "012345678", 0o644))
	expect(t, r, exitNotRestorable, "")
	if !strings.Contains(r.stdout, "has bad size 9 (expect 10)") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
}

// TestInspectHostileArchivePaths: what a careless user passes as ARCHIVE
// (a FIFO nobody writes, /dev/zero, a symlink to an images dir, a name
// with a newline) gets an answer at once, with one clean stderr line.
func TestInspectHostileArchivePaths(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "dump-link")
	os.Symlink(tinyDump(t), link)
	nl := filepath.Join(dir, "x\ny: restorable")
	expect(t, ovlfix(t, "inspect", fifo), exitBadArchive, "FIFO")
	expect(t, ovlfix(t, "verify", fifo, "--root", "/"), exitBadArchive, "FIFO")
	expect(t, ovlfix(t, "inspect", "/dev/zero"), exitBadArchive, "")
	expect(t, ovlfix(t, "inspect", link), exitOK, "")
	r := ovlfix(t, "inspect", nl)
	if r.code == exitOK || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, `x\ny: restorable`) {
		t.Errorf("a missing archive named with a newline: exit %d, stderr %q (want one line, the name quoted)", r.code, r.stderr)
	}
	unix.Mkfifo(nl, 0o644)
	expect(t, ovlfix(t, "inspect", nl), exitBadArchive, "FIFO") // the chain (exit code) is kept
	r = ovlfix(t, "verify", tinyDump(t), "--root", nl)
	if r.code != exitRootUnusable || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("a --root named with a newline: exit %d, stderr %q (want one line)", r.code, r.stderr)
	}
}

// TestVerifyDumpInProgress: ARCHIVE is the images directory of a dump
// CRIU is still writing: files.img cut mid-entry, pstree.img not yet
// there. A clear error naming the image, no verdict, no panic.
func TestVerifyDumpInProgress(t *testing.T) {
	dump := tinyDump(t)
	fi := filepath.Join(dump, "files.img")
	b, err := os.ReadFile(fi)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(fi, b[:len(b)-5], 0o600)
	for _, args := range [][]string{{"inspect", dump}, {"verify", dump, "--root", tinyRoot(t, "0123456789", 0o644)}} {
		r := ovlfix(t, args...)
		if r.code != exitFailure || !strings.Contains(r.stderr, "files.img") || strings.Contains(r.stderr, "panic") || strings.Contains(r.stdout, "restorable") {
			t.Errorf("%v on a cut files.img: exit %d, stderr %q, stdout %q", args[0], r.code, r.stderr, r.stdout)
		}
	}
	os.WriteFile(fi, b, 0o600)
	os.Remove(filepath.Join(dump, "pstree.img"))
	r := ovlfix(t, "verify", dump, "--root", tinyRoot(t, "0123456789", 0o644))
	if r.code != exitFailure || !strings.Contains(r.stderr, "pstree.img") {
		t.Errorf("verify without pstree.img: exit %d, stderr %q", r.code, r.stderr)
	}
}
