package verify

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/inspect"
	"github.com/ovlfix/ovlfix/mountns"
	"golang.org/x/sys/unix"
)

// TestRootNeverLeavesTheRoot: a container root whose symlinks point out
// (absolute, relative climbing, in the middle of a path) and files.img
// names with ".." are all resolved inside the root: the host's
// /etc/passwd, which exists, is never what verify finds.
func TestRootNeverLeavesTheRoot(t *testing.T) {
	if _, err := os.Stat("/etc/passwd"); err != nil {
		t.Skip("needs the host's /etc/passwd as the file that must not be reached")
	}
	dir := t.TempDir()
	mk := func(p, content string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ln := func(target, p string) {
		if err := os.Symlink(target, filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	mk("inside/passwd", "root:x:0:0::/:/bin/sh\n")
	ln("/etc/passwd", "abs")
	ln("../../../../../../../etc/passwd", "rel")
	ln("/etc", "etcdir")
	ln("/inside/passwd", "ok")
	mk("we\nird\x1b[2Jname", "hostile\n")

	root, err := mountns.OpenRootPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	var host unix.Stat_t
	if err := unix.Stat("/etc/passwd", &host); err != nil {
		t.Fatal(err)
	}
	size := uint64(host.Size) // what the host's file would pass with
	missing := []string{"/abs", "/rel", "/etcdir/passwd", "/../../../etc/passwd", "/inside/../../etc/passwd"}
	var files []*inspect.File
	for _, name := range missing {
		files = append(files, held(name, size, host.Mode&0o7777, nil))
	}
	files = append(files, held("/ok", 22, 0o644, nil), held("/we\nird\x1b[2Jname", 8, 0o644, nil))
	for i, f := range files {
		f.ID = uint32(i + 1)
	}
	r, err := Check(context.Background(), &inspect.Listing{Files: files}, root, dir, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Checked != len(files) || len(r.Problems) != len(missing) {
		t.Fatalf("want %d checked, the %d escaping names missing; got %+v", len(files), len(missing), r)
	}
	for i, p := range r.Problems {
		if p.Name != missing[i] || p.Check != CheckOpen || !strings.Contains(p.Found, "missing") {
			t.Errorf("%s: %+v; want missing in the root (the host's /etc/passwd must not be reached)", missing[i], p)
		}
	}
	var out bytes.Buffer
	if err := WriteText(&out, r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "\x1b") || strings.Count(out.String(), "\n") != 1+3*len(missing) {
		t.Errorf("text output has a raw control character or a forged line:\n%s", out.String())
	}
}

// TestRootBuildIDAndTypes: through a real root, a regular file's build-ID
// is read (and compared), a FIFO is never opened, and a directory's real
// st_size is what CRIU's size check sees.
func TestRootBuildIDAndTypes(t *testing.T) {
	sh, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Skip(err)
	}
	want := elfBuildID(sh[:min(len(sh), buildIDMapSize)])
	if want == nil {
		t.Skip("/bin/sh has no GNU build-ID")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sh"), sh, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := mountns.OpenRootPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	recorded := append(bytes.Clone(want), make([]byte, int(align4(uint64(len(want))))-len(want))...)
	other := bytes.Clone(recorded)
	other[0] ^= 0xff
	same := held("/sh", uint64(len(sh)), 0o755, recorded)
	changed := held("/sh", uint64(len(sh)), 0o755, other)
	changed.ID = 2
	fifo := held("/fifo", 0, 0o644, nil)
	fifo.ID = 3
	r, err := Check(context.Background(), &inspect.Listing{Files: []*inspect.File{same, changed, fifo}}, root, dir, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) != 2 || r.Problems[0].FileID != 2 || r.Problems[0].CRIU != "File sh has bad build-ID" || r.Problems[1].Check != CheckFIFO {
		t.Fatalf("want the changed build-ID and the FIFO, got %+v", r.Problems)
	}
}
