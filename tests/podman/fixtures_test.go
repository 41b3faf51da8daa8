package podman

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/internal/testenv"
	"github.com/ovlfix/ovlfix/proto"
)

// fixtures are the archives scripts/make-archive-fixtures.sh committed in
// testdata/archives, with the format their bytes must have and the size
// CRIU recorded for the held /data/copied.txt.
var fixtures = []struct {
	file, format string
	copiedSize   int64
}{
	{"holder-zstd.tar.zst", "zstd", 12},
	{"holder-gzip.tar.gz", "gzip", 12},
	{"holder-none.tar", "tar", 12},
	{"holder-appended.tar.zst", "zstd", 21},
}

const fixtureDir = "../../testdata/archives"

// TestFixtureArchives checks that each committed archive is what its README
// says: a real Podman archive in its format, with CRIU's images, the
// hook's ovlfix-fixup.json and a rootfs-diff.tar holding the upper-only
// file, whose files.img names the held files with the sizes of the
// committed image rootfs (rootfs.tar.gz) — except copied.txt in the
// appended archive, which Podman 4.3.1 left out of rootfs-diff.tar. No root
// and no Podman needed; the zstd ones need the zstd command.
func TestFixtureArchives(t *testing.T) {
	rootfs, _, err := members(filepath.Join(fixtureDir, "rootfs.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fx := range fixtures {
		t.Run(fx.file, func(t *testing.T) {
			path := filepath.Join(fixtureDir, fx.file)
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() > 1<<20 {
				t.Errorf("%s is %d bytes, want a small fixture (< 1 MiB)", fx.file, st.Size())
			}
			if got, err := archiveFormat(path); err != nil || got != fx.format {
				t.Fatalf("%s is %q (%v), want %s", fx.file, got, err, fx.format)
			}
			if fx.format == "zstd" {
				testenv.RequireTool(t, "zstd", "zstd")
			}
			files, _, err := members(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []string{"checkpoint/files.img", "checkpoint/inventory.img", "checkpoint/pstree.img",
				"checkpoint/mm-1.img", "checkpoint/ghost-file-1.img", "checkpoint/ovlfix-fixup.json",
				"rootfs-diff.tar", "config.dump", "spec.dump", "stats-dump"} {
				if _, ok := files[m]; !ok {
					t.Errorf("%s has no %s", fx.file, m)
				}
			}
			_, dhdrs, err := readTar(bytes.NewReader(files["rootfs-diff.tar"]), 1<<20)
			if err != nil {
				t.Fatalf("rootfs-diff.tar: %v", err)
			}
			var diff []string
			for _, h := range dhdrs {
				diff = append(diff, h.Name)
			}
			if !slices.Contains(diff, "data/upper.txt") || slices.Contains(diff, "data/copied.txt") {
				t.Errorf("rootfs-diff.tar has %q, want data/upper.txt and (Podman 4.3.1) no data/copied.txt", diff)
			}
			entries, err := proto.ReadFiles(bytes.NewReader(files["checkpoint/files.img"]), "files.img")
			if err != nil {
				t.Fatal(err)
			}
			sizes := map[string]int64{}
			for _, e := range entries {
				if r := e.GetReg(); r != nil {
					sizes[r.GetName()] = int64(r.GetSize())
				}
			}
			want := map[string]int64{"/data/upper.txt": int64(len("upper data\n")),
				"/data/unlinked.txt": int64(len("unlinked data\n")), "/data/copied.txt": fx.copiedSize}
			for _, name := range []string{"/holder", "/data/lower.txt", "/data/mapped.txt"} {
				data, ok := rootfs["./"+strings.TrimPrefix(name, "/")]
				if !ok {
					t.Fatalf("rootfs.tar.gz has no %s", name)
				}
				want[name] = int64(len(data))
			}
			for name, size := range want {
				got, ok := sizes[name]
				if !ok || got != size {
					t.Errorf("files.img: %s size %d (present %v), want %d; files.img has %v", name, got, ok, size, sizes)
				}
			}
		})
	}
}
