package fdinfo

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMapsFixtures(t *testing.T) {
	for _, k := range fixtureKernels(t) {
		t.Run(k.name, func(t *testing.T) {
			text := readFixture(t, filepath.Join(k.dir, "maps.txt"))
			var want struct {
				Mappings []mapExpect `json:"mappings"`
			}
			loadJSON(t, filepath.Join(k.dir, "maps.expect.json"), &want)
			got := map[uint64]Mapping{}
			err := ParseMaps(bytes.NewReader(text), func(m Mapping) error {
				if len(m.Path) == 0 || m.Path[0] != '/' {
					t.Errorf("reported a line without a path: %+v", m)
				}
				if _, dup := got[m.Start]; dup {
					t.Errorf("two mappings at %#x", m.Start)
				}
				got[m.Start] = m
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// Independent count: lines whose sixth column starts with '/'.
			files := 0
			for _, l := range strings.Split(string(text), "\n") {
				if f := strings.Fields(l); len(f) >= 6 && strings.HasPrefix(f[5], "/") {
					files++
				}
			}
			if len(got) != files || files < len(want.Mappings) {
				t.Errorf("reported %d mappings; the text has %d file lines, we made %d", len(got), files, len(want.Mappings))
			}
			for _, w := range want.Mappings {
				m, ok := got[w.Start]
				if !ok {
					t.Errorf("%s: no mapping at %#x", w.Label, w.Start)
					continue
				}
				checkMapping(t, k, m, w)
			}
		})
	}
}

func checkMapping(t *testing.T, k fixtureKernel, m Mapping, w mapExpect) {
	t.Helper()
	path, err := hex.DecodeString(w.PathHex)
	if err != nil {
		t.Fatal(err)
	}
	wantDeleted := w.Deleted != nil && *w.Deleted
	switch w.Label {
	case "literal-backslash-012":
		// Documented ambiguity: the 4 bytes `\012` in a real name read back
		// as a newline. map_files is the authority.
		path = bytes.ReplaceAll(path, []byte(`\012`), []byte("\n"))
	case "fake-deleted":
		// Documented ambiguity: an existing file named "... (deleted)".
		path, wantDeleted = bytes.TrimSuffix(path, []byte(" (deleted)")), true
	}
	if !bytes.Equal(m.Path, path) {
		t.Errorf("%s: path %q, want %q", w.Label, m.Path, path)
	}
	if w.Deleted != nil && m.Deleted != wantDeleted {
		t.Errorf("%s: deleted %v, want %v", w.Label, m.Deleted, wantDeleted)
	}
	if m.End != w.End || m.Offset != w.Offset || m.Perms != w.Perms {
		t.Errorf("%s: end/offset/perms %#x/%#x/%s, want %#x/%#x/%s", w.Label, m.End, m.Offset, m.Perms, w.End, w.Offset, w.Perms)
	}
	if m.MapFiles != nil || m.MapFilesMntID != -1 {
		t.Errorf("%s: parser filled map_files fields", w.Label)
	}
	// Which inode maps names (docs/kernel-quirks.md Matrix B): before 6.8 the
	// real layer file's, from 6.8 the overlay's (3efdc78fdc21).
	maj, min, ino := w.DevMajor, w.DevMinor, w.Ino
	if w.LayerIno != nil && !k.atLeast(6, 8) {
		maj, min, ino = w.LayerDevMajor, w.LayerDevMinor, w.LayerIno
	}
	if ino != nil && m.Ino != *ino {
		t.Errorf("%s: ino %d, want %d", w.Label, m.Ino, *ino)
	}
	if maj != nil && (m.DevMajor != *maj || m.DevMinor != *min) {
		t.Errorf("%s: dev %x:%x, want %x:%x", w.Label, m.DevMajor, m.DevMinor, *maj, *min)
	}
}

func TestParseMapsSynthetic(t *testing.T) {
	long := "/" + strings.Repeat(`d\012`, 20000) // 80 KiB: longer than the 4 KiB read buffer
	text := strings.Join([]string{
		"00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon",
		"7f0000000000-7f0000001000 rw-p 00000000 00:00 0 ",
		"7f0000001000-7f0000002000 rw-p 00000000 00:00 0",
		"7f0000002000-7f0000003000 rw-s 00000000 00:05 7                          /a b\tc\\x (deleted)",
		"7f0000003000-7f0000004000 r--p 00001000 103:0a 12345678901234567890 " + long,
		"7f0000004000-7f0000005000 rw-p 00000000 00:00 0                          [anon:glibc malloc]",
		"7f0000005000-7f0000006000 rw-s 00000000 00:01 3                          [anon_shmem:x]",
		"7f0000006000-7f0000007000 rw-s 00000000 00:0e 9                          anon_inode:i915.gem",
		"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]",
	}, "\n")
	var got []Mapping
	if err := ParseMaps(strings.NewReader(text), func(m Mapping) error { got = append(got, m); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d mappings: %+v", len(got), got)
	}
	if g := got[0]; g.Start != 0x400000 || g.End != 0x452000 || g.Perms != "r-xp" || g.DevMajor != 8 || g.DevMinor != 2 ||
		g.Ino != 173521 || string(g.Path) != "/usr/bin/dbus-daemon" || g.Deleted {
		t.Errorf("line 1: %+v", g)
	}
	if g := got[1]; string(g.Path) != "/a b\tc\\x" || !g.Deleted || g.Perms != "rw-s" {
		t.Errorf("line 4: %+v", g)
	}
	if g := got[2]; g.DevMajor != 0x103 || g.DevMinor != 0xa || g.Ino != 12345678901234567890 || g.Offset != 0x1000 ||
		!bytes.Equal(g.Path, []byte("/"+strings.Repeat("d\n", 20000))) {
		t.Errorf("line 5: dev %x:%x ino %d offset %x path len %d", g.DevMajor, g.DevMinor, g.Ino, g.Offset, len(g.Path))
	}
}

func TestParseMapsErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"0040000x-00452000 r-xp 00000000 08:02 1 /x\n", `maps line 1: start "0040000x": invalid hex`},
		{"00400000-00452000 r-xp 00000000 08:02 1 /x\n00400000\n", `maps line 2: start "00400000": truncated line`},
		{"00400000-00452000 r-x\n", `maps line 1: perms "r-x": truncated line`},
		{"00400000-00452000 r-xp 0000000g 08:02 1 /x\n", `maps line 1: offset "0000000g": invalid hex`},
		{"00400000-00452000 r-xp 00000000 0802 1 /x\n", `maps line 1: major "0802 1 /x": truncated line`},
		{"00400000-00452000 r-xp 00000000 08:02 1:2 /x\n", `maps line 1: ino "1:2": invalid decimal`},
		{"00400000-00452000 r-xp 00000000 08:02 99999999999999999999 /x\n", `maps line 1: ino "99999999999999999999": value out of range`},
	}
	for _, tt := range tests {
		err := ParseMaps(strings.NewReader(tt.text), func(Mapping) error { return nil })
		if err == nil || err.Error() != tt.want || !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseMaps(%q) = %v, want %q wrapping ErrSyntax", tt.text, err, tt.want)
		}
	}
}

func TestParseMapsCallbackError(t *testing.T) {
	stop := errors.New("stop")
	calls := 0
	text := "1-2 r--p 0 00:01 1 /a\n3-4 r--p 0 00:01 1 /b\n"
	err := ParseMaps(strings.NewReader(text), func(Mapping) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("err %v after %d calls, want stop after 1", err, calls)
	}
}

func FuzzParseMaps(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(procFixtures, "*", "maps.txt"))
	for _, p := range files {
		text := readFixture(f, p)
		f.Add(text)
		// Single lines too: small inputs let the fuzzer mutate the columns.
		for _, l := range bytes.Split(text, []byte("\n")) {
			if bytes.Contains(l, []byte("(deleted)")) || bytes.Contains(l, []byte(`\012`)) || bytes.Contains(l, []byte("[")) {
				f.Add(l)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := ParseMaps(bytes.NewReader(b), func(m Mapping) error {
			if len(m.Path) == 0 || m.Path[0] != '/' || len(m.Perms) != 4 {
				return fmt.Errorf("bad mapping %+v", m)
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrSyntax) {
			t.Fatal(err)
		}
	})
}

func BenchmarkParseMaps(b *testing.B) {
	text := readFixture(b, filepath.Join(procFixtures, "6.18", "maps.txt"))
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if err := ParseMaps(bytes.NewReader(text), func(Mapping) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
