package hook

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/fixup"
	"github.com/ovlfix/ovlfix/internal/testenv"
	"github.com/ovlfix/ovlfix/manifest"
	"golang.org/x/sys/unix"
)

// manifestRun runs post-dump in dir with a fixup that made m, within a
// deadline (a write that blocks fails the test), and returns the log.
func manifestRun(t *testing.T, dir string, m *manifest.Manifest) string {
	t.Helper()
	fake := func(context.Context, string, fixup.Options) (*fixup.Report, error) {
		return &fixup.Report{Checked: len(m.Files), Manifest: m}, nil
	}
	env := Env{Action: ActionPostDump, ImageDir: dir, CRIUPID: 1, InitPID: 42}
	var log bytes.Buffer
	_, err := testenv.WithDeadline(t, 5*time.Second, func() (struct{}, error) {
		return struct{}{}, Run(context.Background(), env, Options{Log: &log, LoadQuirks: noQuirks, fixupRun: fake})
	})
	if err != nil {
		t.Fatalf("post-dump failed the dump: %v\n%s", err, log.String())
	}
	return log.String()
}

func oneFileManifest(name string) *manifest.Manifest {
	m := manifest.New(manifest.WriterPostDump)
	m.Files = append(m.Files, manifest.File{ID: 1, Name: name, MntID: 30, Dev: "0:40", Ino: 7,
		Holders: []manifest.Holder{{PID: 1, Kind: "fd", FD: 3}}})
	return m
}

// TestPostDumpManifestHostileName: the images directory is CRIU's, but a
// name in it may be planted (a reused directory, a hostile runtime): a
// symlink named ovlfix-manifest.json is replaced, never written through;
// a FIFO is replaced without being opened (no block); an old manifest of
// another dump is replaced whole. The directory holds nothing else after.
func TestPostDumpManifestHostileName(t *testing.T) {
	hostFile := filepath.Join(t.TempDir(), "passwd")
	os.WriteFile(hostFile, []byte("root:x:0:0::/root:/bin/sh\n"), 0o644)
	passwd := testenv.ReadFile(t, "/etc/passwd")
	for name, plant := range map[string]func(p string) error{
		"symlink to a host file": func(p string) error { return os.Symlink(hostFile, p) },
		"symlink to /etc/passwd": func(p string) error { return os.Symlink("/etc/passwd", p) },
		"dangling symlink":       func(p string) error { return os.Symlink("/nonexistent/ovlfix-planted", p) },
		"FIFO":                   func(p string) error { return unix.Mkfifo(p, 0o644) },
		"old manifest of another dump": func(p string) error {
			old := oneFileManifest("/old/dump/file")
			old.Files = append(old.Files, old.Files[0], old.Files[0])
			var b bytes.Buffer
			old.Encode(&b)
			return os.WriteFile(p, b.Bytes(), 0o644)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, manifest.FileName)
			if err := plant(p); err != nil {
				t.Fatal(err)
			}
			log := manifestRun(t, dir, oneFileManifest("/etc/x"))
			if !strings.Contains(log, "provenance of 1 REG entries written") {
				t.Errorf("log:\n%s", log)
			}
			fi, err := os.Lstat(p)
			if err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("%s is %v (%v), want a regular file", manifest.FileName, fi.Mode(), err)
			}
			m, err := manifest.ReadFile(testenv.ReadFile(t, p))
			if err != nil || len(m.Files) != 1 || m.Files[0].Name != "/etc/x" {
				t.Errorf("manifest %+v (%v), want this dump's only", m, err)
			}
			if got := testenv.ReadFile(t, hostFile); string(got) != "root:x:0:0::/root:/bin/sh\n" {
				t.Errorf("the host file was written through the link: %q", got)
			}
			if got := testenv.ReadFile(t, "/etc/passwd"); !bytes.Equal(got, passwd) {
				t.Errorf("/etc/passwd changed")
			}
			if _, err := os.Lstat("/nonexistent/ovlfix-planted"); err == nil {
				t.Errorf("the dangling link's target was created")
			}
			if names := testenv.DirNames(t, dir); len(names) != 1 {
				t.Errorf("images dir holds %v, want the manifest only", names)
			}
		})
	}
}

// Environment of the read-only child: the directory to mount on.
const envManifestRODir = "OVLFIX_HOOK_MANIFEST_RO_DIR"

// TestPostDumpManifestReadOnlyDir: an images directory on a read-only
// file system, or a full one, makes the manifest fail; the hook logs it
// and the dump stands, with no partial file left. The test re-executes
// itself in a private mount namespace to mount the file systems.
func TestPostDumpManifestReadOnlyDir(t *testing.T) {
	testenv.InPrivateMountNS(t, envManifestRODir, manifestROChild)
}

func manifestROChild(t *testing.T, base string) {
	big := oneFileManifest("/etc/x")
	for range 2000 {
		big.Files = append(big.Files, big.Files[0])
	}
	for _, tc := range []struct {
		name, opts string
		flags      uintptr
		m          *manifest.Manifest
		says       string
	}{
		{"read-only", "size=1m", unix.MS_RDONLY, oneFileManifest("/etc/x"), "read-only file system"},
		{"full", "size=16k", 0, big, "no space left on device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(base, tc.name)
			os.Mkdir(dir, 0o755)
			if err := unix.Mount("tmpfs", dir, "tmpfs", tc.flags, tc.opts); err != nil {
				t.Fatalf("mount tmpfs: %v", err)
			}
			defer unix.Unmount(dir, unix.MNT_DETACH)
			log := manifestRun(t, dir, tc.m)
			if !strings.Contains(log, manifest.FileName+" not written (the dump is not affected)") || !strings.Contains(strings.ToLower(log), tc.says) {
				t.Errorf("log does not say the manifest was not written (%s):\n%s", tc.says, log)
			}
			if names := testenv.DirNames(t, dir); len(names) != 0 {
				t.Errorf("images dir holds %v after a failed write", names)
			}
		})
	}
}

// TestPostDumpStaleManifest: CRIU reuses an images directory; when this
// post-dump makes no manifest (fixup could not check the dump), an
// ovlfix-manifest.json of an earlier dump must not stay next to the new
// images, where inspect and verify would take it for this dump's (its ids
// and names may well match a re-dumped container). It is removed, and
// the log says so; a dry run leaves the directory alone and warns.
func TestPostDumpStaleManifest(t *testing.T) {
	failing := func(context.Context, string, fixup.Options) (*fixup.Report, error) {
		return nil, errors.New("files.img: cannot be read")
	}
	noManifest := func(context.Context, string, fixup.Options) (*fixup.Report, error) {
		return &fixup.Report{Checked: 0}, nil
	}
	dry := func(context.Context, string, fixup.Options) (*fixup.Report, error) {
		return &fixup.Report{DryRun: true, Manifest: oneFileManifest("/etc/x")}, nil
	}
	for name, tc := range map[string]struct {
		run  fixupFunc
		kept bool
		says string
	}{
		"fixup failed":     {failing, false, "removed"},
		"no manifest made": {noManifest, false, "removed"},
		"dry run":          {dry, true, "not this dump's"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, manifest.FileName)
			var old bytes.Buffer
			oneFileManifest("/etc/x").Encode(&old)
			os.WriteFile(p, old.Bytes(), 0o644)
			env := Env{Action: ActionPostDump, ImageDir: dir, CRIUPID: 1, InitPID: 42}
			var log bytes.Buffer
			Run(context.Background(), env, Options{Log: &log, LoadQuirks: noQuirks, fixupRun: tc.run})
			_, err := os.Lstat(p)
			if kept := err == nil; kept != tc.kept {
				t.Errorf("earlier manifest kept %v, want %v; log:\n%s", kept, tc.kept, log.String())
			}
			if !strings.Contains(log.String(), tc.says) {
				t.Errorf("log does not say %q:\n%s", tc.says, log.String())
			}
		})
	}
}

// TestPostDumpManifestDigest: the manifest names the files.img next to it
// by digest (inspect refuses it beside another one).
func TestPostDumpManifestDigest(t *testing.T) {
	dir := t.TempDir()
	fi := []byte("files.img as the repair left it")
	os.WriteFile(filepath.Join(dir, "files.img"), fi, 0o600)
	manifestRun(t, dir, oneFileManifest("/etc/x"))
	m, err := manifest.ReadFile(testenv.ReadFile(t, filepath.Join(dir, manifest.FileName)))
	if err != nil || m.FilesImgSHA256 != manifest.Digest(fi) {
		t.Errorf("digest %q (%v), want %q", m.FilesImgSHA256, err, manifest.Digest(fi))
	}
}
