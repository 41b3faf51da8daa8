package podman

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/checkpoint"
	"github.com/ovlfix/ovlfix/inspect"
	"github.com/ovlfix/ovlfix/manifest"
	"github.com/ovlfix/ovlfix/mountns"
	"github.com/ovlfix/ovlfix/verify"
)

// TestFixtureInspectAndVerify reads each committed Podman archive with
// checkpoint.Open (no zstd command, no Podman, no root), checks the hook's
// manifest against the image the archives were made from (rootfs.tar.gz:
// what is in it is lower layer 0 or, when the holder copied it up,
// copied-up from 0; the rest is upper), and verifies each archive against
// that image unpacked: the archives that restored pass, the appended one
// fails with the very line the real restore printed (versions.txt).
func TestFixtureInspectAndVerify(t *testing.T) {
	root := unpackRootfs(t, filepath.Join(fixtureDir, "rootfs.tar.gz"))
	// The tarball has no "./" entry; the layer Podman made of it has its
	// root directory 0555 (files.img records / as 040555): so does ours.
	if err := os.Chmod(root, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(root, 0o755) }) // before TempDir's removal
	want := map[string]string{
		"/holder": "lower:0", "/data/lower.txt": "lower:0", "/data/mapped.txt": "lower:0",
		"/data/copied.txt": "copied-up:0", "/data/upper.txt": "upper", "/data/unlinked.txt": "upper",
	}
	for _, fx := range fixtures {
		t.Run(fx.file, func(t *testing.T) {
			c, err := checkpoint.Open(context.Background(), filepath.Join(fixtureDir, fx.file), checkpoint.Options{})
			if err != nil {
				t.Fatal(err)
			}
			l, err := inspect.Load(c)
			if err != nil {
				t.Fatal(err)
			}
			if !l.Manifest.Present || l.Manifest.Problem != "" || l.Manifest.Writer != manifest.WriterPostDump {
				t.Fatalf("manifest %+v: want one written by the hook's post-dump", l.Manifest)
			}
			seen := map[string]string{}
			for _, f := range l.Files {
				if p := f.Provenance; p != nil && p.Overlay != nil {
					w := p.Overlay.Where
					if w != manifest.UpperOnly {
						w += ":" + strconv.Itoa(p.Overlay.Layer)
					}
					seen[strings.TrimSuffix(f.Name, " (deleted)")] = w
				}
			}
			for name, w := range want {
				if seen[name] != w {
					t.Errorf("%s: %s is %q, want %q (all: %v)", fx.file, name, seen[name], w, seen)
				}
			}
			r, err := mountns.OpenRootPath(root)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			res, err := verify.Check(context.Background(), l, r, root, c.Diff, verify.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if fx.file != "holder-appended.tar.zst" {
				if !res.Restorable() {
					t.Errorf("%s restored for real, but verify says: %+v", fx.file, res.Problems)
				}
				return
			}
			const criu = "File data/copied.txt has bad size 12 (expect 21)" // versions.txt: the real restore's line
			if len(res.Problems) != 1 || res.Problems[0].Name != "/data/copied.txt" || res.Problems[0].CRIU != criu {
				t.Errorf("verify of the appended archive: %+v, want one problem on /data/copied.txt predicting %q", res.Problems, criu)
			}
		})
	}
}

// unpackRootfs unpacks the fixture image (regular files and directories
// only, with their modes and mtimes) into a temporary directory.
func unpackRootfs(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, os.FileMode(h.Mode&0o7777))
		case tar.TypeReg:
			var out *os.File
			if out, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode&0o7777)); err == nil {
				_, err = io.Copy(out, tr)
				out.Close()
			}
		default:
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, os.FileMode(h.Mode&0o7777)); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, h.ModTime, h.ModTime); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
