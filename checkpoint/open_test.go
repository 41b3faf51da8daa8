package checkpoint

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// realELF returns a real binary of this host and its build-ID as
// debug/elf reads it from the .note.gnu.build-id section.
func realELF(t testing.TB) ([]byte, []byte) {
	t.Helper()
	const bin = "/usr/bin/true"
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	sec := f.Section(".note.gnu.build-id")
	if sec == nil {
		t.Fatalf("%s has no .note.gnu.build-id", bin)
	}
	note, err := sec.Data()
	if err != nil || len(note) < 16 {
		t.Fatalf("%s build-id note: %v", bin, err)
	}
	return b, note[16:]
}

// podmanLike returns the members of a container checkpoint archive laid
// out the way Podman exports one.
func podmanLike(t testing.TB) []member {
	bin, _ := realELF(t)
	diff := tarBytes(t,
		member{name: "etc/", typ: tar.TypeDir},
		member{name: "etc/hosts", body: []byte("127.0.0.1 localhost\n")},
		member{name: "usr/local/bin/tool", body: bin},
		member{name: "etc/alt", typ: tar.TypeSymlink, linkname: "../../../host/etc/shadow"},
		member{name: "etc/hard", typ: tar.TypeLink, linkname: "etc/hosts"},
		member{name: "var/lib/nested.tar", body: tarBytes(t, member{name: "../../x", body: []byte("never read")})},
	)
	pages := bytes.Repeat([]byte{0xa5}, 3<<20)
	return []member{
		{name: "checkpoint/", typ: tar.TypeDir},
		{name: "checkpoint/inventory.img", body: []byte("inventory")},
		{name: "checkpoint/files.img", body: []byte("files")},
		{name: "checkpoint/pagemap-1.img", body: []byte("pagemap")},
		{name: "checkpoint/pages-1.img", body: pages},
		{name: "checkpoint/ovlfix-fixup.json", body: []byte(`{"v":1}`)},
		{name: "config.dump", body: []byte(`{"id":"c1"}`)},
		{name: "spec.dump", body: []byte(`{"ociVersion":"1.0.0"}`)},
		{name: "network.status", body: []byte(`[]`)},
		{name: "stats-dump", body: []byte{1, 2, 3}},
		{name: "deleted.files", body: []byte(`["/etc/motd","var/tmp//x/"]`)},
		{name: "rootfs-diff.tar", body: diff},
		{name: "artifacts/", typ: tar.TypeDir},
		{name: "artifacts/x", body: []byte("x")},
		{name: "ctr.log", body: bytes.Repeat([]byte("log\n"), 1<<10)},
	}
}

func writeArchive(t testing.TB, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "checkpoint.tar") // the name never decides
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpenArchiveFormats(t *testing.T) {
	_, wantID := realELF(t)
	raw := tarBytes(t, podmanLike(t)...)
	for _, c := range compressors {
		t.Run(string(c.format), func(t *testing.T) {
			p := writeArchive(t, c.pack(t, raw))
			cp, err := Open(context.Background(), p, Options{MaxMeta: 2 << 10})
			if err != nil {
				t.Fatal(err)
			}
			if cp.Format != c.format || cp.Path != p {
				t.Errorf("format %q path %q, want %q %q", cp.Format, cp.Path, c.format, p)
			}
			wantNames := []string{"files.img", "inventory.img", "ovlfix-fixup.json", "pagemap-1.img", "pages-1.img"}
			if got := cp.Images.Names(); !slices.Equal(got, wantNames) {
				t.Errorf("Names = %q, want %q", got, wantNames)
			}
			if b, err := cp.Images.ReadFile("files.img"); err != nil || string(b) != "files" {
				t.Errorf("files.img = %q, %v", b, err)
			}
			if _, err := cp.Images.ReadFile("pages-1.img"); !errors.Is(err, ErrNotKept) {
				t.Errorf("pages-1.img: %v, want ErrNotKept", err)
			}
			if _, err := cp.Images.ReadFile("core-1.img"); !errors.Is(err, os.ErrNotExist) || !errors.Is(err, ErrNotInCheckpoint) {
				t.Errorf("core-1.img: %v, want ErrNotExist", err)
			}
			if string(cp.Meta["config.dump"]) != `{"id":"c1"}` || len(cp.Meta["stats-dump"]) != 3 {
				t.Errorf("Meta = %q", cp.Meta)
			}
			if want := []string{"artifacts", "artifacts/x", "ctr.log"}; !slices.Equal(cp.Skipped, want) {
				t.Errorf("Skipped = %q, want %q", cp.Skipped, want)
			}
			d := cp.Diff
			if d == nil {
				t.Fatal("no Diff")
			}
			if want := []string{"/etc/motd", "/var/tmp/x"}; !slices.Equal(d.Deleted, want) {
				t.Errorf("Deleted = %q, want %q", d.Deleted, want)
			}
			tool := d.Entries["/usr/local/bin/tool"]
			if tool.Type != tar.TypeReg || !bytes.Equal(tool.BuildID, wantID) {
				t.Errorf("tool = %+v, want build-ID %x", tool, wantID)
			}
			if e := d.Entries["/etc/hosts"]; e.Size != 20 || e.Mode != 0o644 || e.BuildID != nil {
				t.Errorf("/etc/hosts = %+v", e)
			}
			if e := d.Entries["/etc/alt"]; e.Type != tar.TypeSymlink || e.Linkname != "../../../host/etc/shadow" {
				t.Errorf("/etc/alt = %+v (a symlink is recorded, never followed)", e)
			}
			if e := d.Entries["/etc/hard"]; e.Type != tar.TypeLink || e.Size != 0 {
				t.Errorf("/etc/hard = %+v", e)
			}
			if _, ok := d.Entries["/var/lib/nested.tar"]; !ok || len(d.Entries) != 6 {
				t.Errorf("Entries = %v: a tar inside rootfs-diff.tar is one entry, not read", slices.Sorted(maps.Keys(d.Entries)))
			}
		})
	}
}

func TestOpenDirectory(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "files.img"), []byte("f"), 0o600)
	cp, err := Open(context.Background(), dir, Options{})
	if err != nil || cp.Format != FormatDir || !slices.Equal(cp.Images.Names(), []string{"files.img"}) {
		t.Fatalf("Open(dir) = %+v, %v", cp, err)
	}
}

func TestOpenRefusesFIFOWithoutBlocking(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := mkfifo(p); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), p, Options{})
	if !errors.Is(err, ErrNotArchive) || !strings.Contains(err.Error(), "neither a directory nor an archive") {
		t.Fatalf("Open(fifo) = %v", err)
	}
}
