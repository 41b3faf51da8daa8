package checkpoint

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// base is the minimum a checkpoint archive holds.
var base = []member{{name: "checkpoint/", typ: tar.TypeDir}, {name: "checkpoint/inventory.img", body: []byte("inv")}}

func with(ms ...member) []member { return append(slices.Clone(base), ms...) }

// paxNUL is a tar whose PAX header gives a path holding a NUL byte, which
// archive/tar's writer refuses to write: the header is made by hand.
func paxNUL(t testing.TB) []byte {
	t.Helper()
	rec := "path=checkpoint/a\x00b\n"
	rec = strconv.Itoa(len(rec)+3) + " " + rec
	var buf bytes.Buffer
	buf.Write(rawHeader("PaxHeaders/x", 'x', int64(len(rec))))
	buf.WriteString(rec)
	buf.Write(make([]byte, 512-len(rec)%512))
	buf.Write(rawHeader("placeholder", '0', 0))
	buf.Write(make([]byte, 1024))
	return buf.Bytes()
}

// rawHeader is a ustar header block with a valid checksum.
func rawHeader(name string, typ byte, size int64) []byte {
	h := make([]byte, 512)
	copy(h, name)
	copy(h[100:], "0000644\x00")
	copy(h[108:], "0000000\x00")
	copy(h[116:], "0000000\x00")
	copy(h[124:], []byte(octal(size, 11)+"\x00"))
	copy(h[136:], "00000000000\x00")
	h[156] = typ
	copy(h[257:], "ustar\x0000")
	copy(h[148:], "        ")
	sum := 0
	for _, c := range h {
		sum += int(c)
	}
	copy(h[148:], octal(int64(sum), 6)+"\x00 ")
	return h
}

func octal(n int64, width int) string {
	s := ""
	for ; n > 0; n /= 8 {
		s = string(rune('0'+n%8)) + s
	}
	return strings.Repeat("0", width-len(s)) + s
}

func TestOpenHostileArchives(t *testing.T) {
	diffOf := func(ms ...member) member { return member{name: "rootfs-diff.tar", body: tarBytes(t, ms...)} }
	zeros := make([]byte, 8<<20)
	cases := []struct {
		name   string
		tar    []byte // when set, used as is; else built from ms
		ms     []member
		opts   Options
		is     error
		member string // the member the error must name
		says   string
	}{
		{name: "parent traversal", ms: with(member{name: "../x", body: []byte("x")}), is: ErrUnsafe, member: `"../x"`, says: "climbs out"},
		{name: "absolute name", ms: with(member{name: "/etc/passwd", body: []byte("x")}), is: ErrUnsafe, member: `"/etc/passwd"`, says: "absolute"},
		{name: "traversal through checkpoint", ms: with(member{name: "checkpoint/../../x", body: []byte("x")}), is: ErrUnsafe, member: `"checkpoint/../../x"`, says: "climbs out"},
		{name: "non-canonical name", ms: with(member{name: "checkpoint//files.img", body: []byte("x")}), is: ErrUnsafe, says: "non-canonical"},
		{name: "NUL in a PAX path", tar: paxNUL(t), says: "corrupt archive"},
		{name: "symlink image", ms: with(member{name: "checkpoint/files.img", typ: tar.TypeSymlink, linkname: "/etc/shadow"}), is: ErrUnsafe, member: `"checkpoint/files.img"`, says: "never followed"},
		{name: "hardlink image", ms: with(member{name: "checkpoint/files.img", typ: tar.TypeLink, linkname: "checkpoint/inventory.img"}), is: ErrUnsafe, member: `"checkpoint/files.img"`, says: "hard link"},
		{name: "symlink metadata", ms: with(member{name: "config.dump", typ: tar.TypeSymlink, linkname: "/proc/self/environ"}), is: ErrUnsafe, member: `"config.dump"`, says: "symlink"},
		{name: "checkpoint is a symlink", ms: []member{{name: "checkpoint", typ: tar.TypeSymlink, linkname: "/"}}, is: ErrUnsafe, says: "not a folder"},
		{name: "fifo image", ms: with(member{name: "checkpoint/files.img", typ: tar.TypeFifo}), is: ErrUnsafe, says: "FIFO"},
		{name: "nested folder in checkpoint", ms: with(member{name: "checkpoint/sub/files.img", body: []byte("x")}), is: ErrUnsafe, says: "flat"},
		{name: "duplicate image", ms: with(member{name: "checkpoint/files.img", body: []byte("a")}, member{name: "checkpoint/files.img", body: []byte("b")}), is: ErrUnsafe, member: `"checkpoint/files.img"`, says: "duplicate"},
		{name: "duplicate by another spelling", ms: with(member{name: "./checkpoint/inventory.img", body: []byte("b")}), is: ErrUnsafe, says: "duplicate"},
		{name: "4 GiB image header", ms: with(member{name: "checkpoint/files.img", body: []byte("x"), size: 4 << 30}), is: ErrTooBig, member: `"checkpoint/files.img"`, says: "MaxMember"},
		{name: "4 GiB metadata header", ms: with(member{name: "config.dump", body: []byte("x"), size: 4 << 30}), is: ErrTooBig, member: `"config.dump"`, says: "MaxMeta"},
		{name: "4 GiB pages header over MaxTotal", ms: with(member{name: "checkpoint/pages-1.img", body: []byte("x"), size: 4 << 30}), opts: Options{MaxTotal: 1 << 30}, is: ErrTooBig, member: `"checkpoint/pages-1.img"`, says: "MaxTotal"},
		{name: "4 GiB pages header, truncated", ms: with(member{name: "checkpoint/pages-1.img", body: []byte("x"), size: 4 << 30}), is: nil, says: "truncated"},
		{name: "images over MaxImages", ms: with(member{name: "checkpoint/files.img", body: make([]byte, 100)}), opts: Options{MaxImages: 50}, is: ErrTooBig, says: "MaxImages"},
		{name: "bomb of zeros", ms: with(member{name: "checkpoint/pages-1.img", body: zeros}), opts: Options{MaxTotal: 1 << 20}, is: ErrTooBig, says: "MaxTotal"},
		{name: "bomb of headers", ms: manyEmpty(200), opts: Options{MaxTotal: 16 << 10}, is: ErrTooBig, says: "MaxTotal"},
		{name: "too many members", ms: manyEmpty(200), opts: Options{MaxMembers: 100}, is: ErrTooBig, says: "MaxMembers"},
		{name: "no checkpoint folder", ms: []member{{name: "config.dump", body: []byte("{}")}}, is: ErrNotArchive, says: "no checkpoint/ folder"},
		{name: "diff traversal", ms: with(diffOf(member{name: "../../etc/passwd", body: []byte("x")})), is: ErrUnsafe, member: `"../../etc/passwd"`, says: "rootfs-diff.tar"},
		{name: "diff duplicate", ms: with(diffOf(member{name: "etc/a", body: []byte("1")}, member{name: "./etc/a", body: []byte("2")})), is: ErrUnsafe, says: "duplicate of /etc/a"},
		{name: "diff member bigger than the diff", ms: with(diffOf(member{name: "etc/a", body: []byte("1"), size: 1 << 20})), says: "truncated"},
		{name: "diff not a tar", ms: with(member{name: "rootfs-diff.tar", body: bytes.Repeat([]byte("garbage!"), 100)}), says: "rootfs-diff.tar"},
		{name: "diff a symlink", ms: with(member{name: "rootfs-diff.tar", typ: tar.TypeSymlink, linkname: "/"}), is: ErrUnsafe, says: "never followed"},
		{name: "diff member under a symlink member", ms: with(diffOf(member{name: "a", typ: tar.TypeSymlink, linkname: "/etc"}, member{name: "a/passwd", body: []byte("root::0:0::/:/bin/sh\n")})), is: ErrUnsafe, member: `"a/passwd"`, says: "under the symlink member /a"},
		{name: "diff member under a relative symlink member", ms: with(diffOf(member{name: "d/", typ: tar.TypeDir}, member{name: "d/l", typ: tar.TypeSymlink, linkname: "../../.."}, member{name: "d/l/x/y", body: []byte("y")})), is: ErrUnsafe, member: `"d/l/x/y"`, says: "under the symlink member /d/l"},
		{name: "dot spelling of an image seen before", ms: with(member{name: "checkpoint/files.img", body: []byte("a")}, member{name: "checkpoint/./files.img", body: []byte("b")}), is: ErrUnsafe},
		{name: "diff members count too", ms: with(diffOf(manyEmpty(50)...)), opts: Options{MaxMembers: 20}, is: ErrTooBig, says: "MaxMembers"},
		{name: "deleted traversal", ms: with(member{name: "deleted.files", body: []byte(`["/etc/x","../../host"]`)}), is: ErrUnsafe, member: `"deleted.files"`, says: `entry 1 "../../host"`},
		{name: "deleted root", ms: with(member{name: "deleted.files", body: []byte(`["/./"]`)}), is: ErrUnsafe, says: "deletes the root"},
		{name: "deleted not JSON", ms: with(member{name: "deleted.files", body: []byte(`/etc/x`)}), says: "not a JSON list"},
	}
	for _, tc := range cases {
		for _, c := range compressors {
			t.Run(tc.name+"/"+string(c.format), func(t *testing.T) {
				raw := tc.tar
				if raw == nil {
					raw = tarBytes(t, tc.ms...)
				}
				dir := t.TempDir()
				p := filepath.Join(dir, "a")
				os.WriteFile(p, c.pack(t, raw), 0o600)
				cp, err := Open(context.Background(), p, tc.opts)
				if err == nil {
					t.Fatalf("Open = %+v, want an error", cp)
				}
				msg := err.Error()
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("error %q is not %v", msg, tc.is)
				}
				if !strings.Contains(msg, tc.member) || !strings.Contains(msg, tc.says) || !strings.Contains(msg, p) {
					t.Errorf("error %q does not name %s, %q and the archive", msg, tc.member, tc.says)
				}
				if names := dirNames(t, dir); !slices.Equal(names, []string{"a"}) {
					t.Errorf("Open wrote %q beside the archive", names)
				}
			})
		}
	}
}

func manyEmpty(n int) []member {
	ms := slices.Clone(base)
	for i := range n {
		ms = append(ms, member{name: "checkpoint/e" + octal(int64(i), 4) + ".img"})
	}
	return ms
}

func dirNames(t testing.TB, dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestOpenNotAnArchive(t *testing.T) {
	raw := tarBytes(t, base...)
	cases := []struct {
		name string
		b    []byte
		says string
	}{
		{"empty", nil, "empty file"},
		{"text", []byte("hello, world\n"), "neither tar, gzip nor zstd"},
		{"xz", []byte("\xfd7zXZ\x00\x00"), "xz -d"},
		{"gzip of text", gzipBytes(t, bytes.Repeat([]byte("text "), 200)), "does not hold a tar"},
		{"zstd of text", zstdBytes(t, bytes.Repeat([]byte("text "), 200)), "does not hold a tar"},
		{"truncated gzip", gzipBytes(t, raw)[:40], "gzip"},
		{"truncated zstd", zstdBytes(t, raw)[:20], "zstd"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeArchive(t, tc.b)
			_, err := Open(context.Background(), p, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Open = %v, want %q", err, tc.says)
			}
			t.Log(err)
		})
	}
}

// TestOpenTruncatedCompression cuts a real archive's compressed stream in
// the middle of its page data: the error says the archive is truncated.
func TestOpenTruncatedCompression(t *testing.T) {
	raw := tarBytes(t, podmanLike(t)...)
	for _, c := range compressors {
		t.Run(string(c.format), func(t *testing.T) {
			b := c.pack(t, raw)
			if c.format == FormatTar {
				b = b[:len(b)/2]
			} else {
				b = b[:len(b)*3/4]
			}
			_, err := Open(context.Background(), writeArchive(t, b), Options{})
			if err == nil || !strings.Contains(err.Error(), "truncated") {
				t.Fatalf("Open = %v, want a truncation", err)
			}
			t.Log(err)
		})
	}
}
