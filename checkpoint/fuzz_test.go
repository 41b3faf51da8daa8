package checkpoint

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// FuzzOpenBytes feeds readArchive arbitrary bytes: it must never panic,
// and an archive it accepts must be self-consistent.
func FuzzOpenBytes(f *testing.F) {
	raw := tarBytes(f, with(
		member{name: "checkpoint/files.img", body: []byte("files")},
		member{name: "checkpoint/pages-1.img", body: make([]byte, 4096)},
		member{name: "deleted.files", body: []byte(`["/a"]`)},
		member{name: "rootfs-diff.tar", body: tarBytes(f, member{name: "bin/x", body: synthELF(2, binary.LittleEndian, []byte{1, 2, 3, 4})}, member{name: "l", typ: tar.TypeSymlink, linkname: "/x"})},
	)...)
	for _, c := range compressors {
		f.Add(c.pack(f, raw))
	}
	f.Add(tarBytes(f, with(member{name: "../x", body: []byte("x")})...))
	opts := Options{MaxMember: 1 << 20, MaxImages: 4 << 20, MaxMeta: 1 << 16, MaxTotal: 16 << 20, MaxMembers: 1000}
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := readArchive(context.Background(), bytes.NewReader(b), opts)
		if err != nil {
			return
		}
		names := cp.Images.Names()
		if !slices.IsSorted(names) {
			t.Fatalf("Names not sorted: %q", names)
		}
		for _, n := range names {
			if _, err := cp.Images.ReadFile(n); err != nil && !errors.Is(err, ErrNotKept) {
				t.Fatalf("listed %q unreadable: %v", n, err)
			}
		}
		if cp.Diff != nil {
			for p, e := range cp.Diff.Entries {
				if p != e.Path || p[0] != '/' {
					t.Fatalf("entry %q = %+v", p, e)
				}
			}
		}
	})
}
