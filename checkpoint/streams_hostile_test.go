package checkpoint

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// openBytes writes b as an archive file and opens it with opts.
func openBytes(t *testing.T, b []byte, opts Options) (*Checkpoint, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "a")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return Open(context.Background(), p, opts)
}

// skippable is a zstd skippable frame (magic 0x184D2A5F) of n bytes.
func skippable(n int) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0x184D2A5F)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	return append(b, bytes.Repeat([]byte("S"), n)...)
}

// TestOpenStreamShapes: streams a compressor may legally make are read as
// the one archive they are (gzip multistream, zstd frames split and
// interleaved with skippable frames, a skippable frame first); a second
// tar after the first one's end marker is not read, as Go's archive/tar,
// which Podman's untar uses, does not read it either.
func TestOpenStreamShapes(t *testing.T) {
	raw := tarBytes(t, with(member{name: "checkpoint/files.img", body: []byte("files")})...)
	half := len(raw) / 2
	half -= half % 512
	hidden := tarBytes(t, member{name: "checkpoint/pstree.img", body: []byte("hidden")})
	cases := []struct {
		name string
		b    []byte
		want []string
	}{
		{"gzip multistream", append(gzipBytes(t, raw[:half]), gzipBytes(t, raw[half:])...), []string{"files.img", "inventory.img"}},
		{"zstd two frames", append(zstdBytes(t, raw[:half]), zstdBytes(t, raw[half:])...), []string{"files.img", "inventory.img"}},
		{"zstd skippable frames between", slices.Concat(zstdBytes(t, raw[:half]), skippable(100), zstdBytes(t, raw[half:]), skippable(0)), []string{"files.img", "inventory.img"}},
		{"zstd skippable frame first", slices.Concat(skippable(64), zstdBytes(t, raw)), []string{"files.img", "inventory.img"}},
		{"two tars concatenated", append(slices.Clone(raw), hidden...), []string{"files.img", "inventory.img"}},
		{"two tars concatenated, zstd", zstdBytes(t, append(slices.Clone(raw), hidden...)), []string{"files.img", "inventory.img"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cp, err := openBytes(t, tc.b, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := cp.Images.Names(); !slices.Equal(got, tc.want) {
				t.Errorf("images %v, want %v", got, tc.want)
			}
		})
	}
}

// TestOpenManyTinyMembers: a header bomb is bounded by MaxMembers and its
// cost is one map entry per member; the time for 2×10^4 and 4×10^4 is logged.
func TestOpenManyTinyMembers(t *testing.T) {
	for _, n := range []int{20_000, 40_000} {
		ms := slices.Clone(base)
		for i := range n {
			ms = append(ms, member{name: "checkpoint/e" + strconv.Itoa(i) + ".img"})
		}
		raw := tarBytes(t, ms...)
		start := time.Now()
		cp, err := openBytes(t, zstdBytes(t, raw), Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d empty members: %v (%d images)", n, time.Since(start), len(cp.Images.Names()))
		if len(cp.Images.Names()) != n+1 {
			t.Errorf("%d images, want %d", len(cp.Images.Names()), n+1)
		}
		if _, err := openBytes(t, raw, Options{MaxMembers: n / 2}); !errors.Is(err, ErrTooBig) || !strings.Contains(err.Error(), "MaxMembers") {
			t.Errorf("MaxMembers %d: %v", n/2, err)
		}
	}
}

// TestOpenHugeDeletedFiles: deleted.files of 10^6 entries is either read
// whole or refused naming the cap; a deep-nested or wrongly typed one is
// "not a JSON list".
func TestOpenHugeDeletedFiles(t *testing.T) {
	names := make([]string, 1_000_000)
	for i := range names {
		names[i] = "/d/" + strconv.Itoa(i)
	}
	big, _ := json.Marshal(names)
	start := time.Now()
	cp, err := openBytes(t, tarBytes(t, with(member{name: "deleted.files", body: big})...), Options{})
	t.Logf("deleted.files of %d bytes, 10^6 entries: %v, err %v", len(big), time.Since(start), err)
	switch {
	case err == nil:
		if cp.Diff == nil || len(cp.Diff.Deleted) != len(names) {
			t.Errorf("deleted entries not all read")
		}
	case !errors.Is(err, ErrTooBig) || !strings.Contains(err.Error(), "MaxMeta"):
		t.Errorf("error %v, want the entries or ErrTooBig naming MaxMeta", err)
	}
	for name, body := range map[string]string{
		"nested":     strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000),
		"numbers":    "[1,2,3]",
		"object":     `{"/etc":true}`,
		"nul inside": `["/etc/a\u0000/../../x"]`,
	} {
		_, err := openBytes(t, tarBytes(t, with(member{name: "deleted.files", body: []byte(body)})...), Options{})
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), "deleted.files") {
			t.Errorf("%s: error %q does not name deleted.files", name, err)
		}
	}
}

// TestUnderSymlinkLongName: a rootfs-diff.tar member name may be as long
// as a PAX record allows (1 MiB); the symlink-ancestor check allocates
// nothing and stops where no symlink path goes deeper (a per-prefix map
// lookup hashes every prefix whole: quadratic).
func TestUnderSymlinkLongName(t *testing.T) {
	links := &linkTrie{}
	links.add("/x")
	for i := range 100 {
		links.add("/a/" + strconv.Itoa(i))
	}
	for _, n := range []int{1000, 100_000} {
		p := "/" + strings.Repeat("a/", n) + "f"
		allocs := testing.AllocsPerRun(3, func() {
			if links.under(p) != "" {
				t.Fatal("no symlink ancestor expected")
			}
		})
		if allocs != 0 {
			t.Errorf("%d components: %.0f allocations", n, allocs)
		}
	}
	for p, want := range map[string]string{"/x/a/b": "/x", "/x": "", "/a/7/z": "/a/7", "/a/77": "", "/a": ""} {
		if got := links.under(p); got != want {
			t.Errorf("under(%s) = %q, want %q", p, got, want)
		}
	}
	// Through Open: a deep member under a symlink member is refused, a
	// deep one elsewhere read.
	deep := strings.Repeat("a/", 50_000) + "f"
	_, err := openBytes(t, tarBytes(t, with(member{name: "rootfs-diff.tar", body: tarBytes(t,
		member{name: "a", typ: tar.TypeSymlink, linkname: "/"}, member{name: deep, body: []byte("x")})})...), Options{})
	if !errors.Is(err, ErrUnsafe) {
		t.Errorf("deep member under a symlink: %v", err)
	}
	cp, err := openBytes(t, tarBytes(t, with(member{name: "rootfs-diff.tar", body: tarBytes(t, member{name: deep, body: []byte("x")})})...), Options{})
	if err != nil || cp.Diff == nil || len(cp.Diff.Entries) != 1 {
		t.Errorf("deep member: %v", err)
	}
}
