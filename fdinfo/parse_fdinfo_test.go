package fdinfo

import (
	"bytes"
	"encoding/hex"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Kernel behaviour the expectations rely on (not derived from the text):
const (
	// do_epoll_ctl: "epds.events |= EPOLLERR | EPOLLHUP" for every target.
	epollAlways = 0x8 | 0x10
	// fanotify_init: "if (force_o_largefile()) event_f_flags |= O_LARGEFILE"
	// (0100000 on x86-64, where the fixtures were captured).
	oLargefile = 0o100000
)

func TestParseFdinfoFixtures(t *testing.T) {
	for _, k := range fixtureKernels(t) {
		files, _ := filepath.Glob(filepath.Join(k.dir, "fdinfo-*.txt"))
		if len(files) < 10 {
			t.Fatalf("%s: only %d fdinfo fixtures", k.dir, len(files))
		}
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".txt")
			t.Run(k.name+"/"+name, func(t *testing.T) {
				text := readFixture(t, f)
				var want fdExpect
				loadJSON(t, strings.TrimSuffix(f, ".txt")+".expect.json", &want)
				info, err := ParseFdinfo(bytes.NewReader(text))
				if err != nil {
					t.Fatal(err)
				}
				checkFdinfo(t, k, text, info, &want)
			})
		}
	}
}

func checkFdinfo(t *testing.T, k fixtureKernel, text []byte, info *Info, want *fdExpect) {
	t.Helper()
	if info.Pos != want.Pos || info.Flags != want.Flags {
		t.Errorf("pos/flags = %d/%#o, want %d/%#o", info.Pos, info.Flags, want.Pos, want.Flags)
	}
	if want.MntID != nil && info.MntID != *want.MntID {
		t.Errorf("mnt_id = %d, want %d (mountinfo)", info.MntID, *want.MntID)
	}
	if info.MntID <= 0 {
		t.Errorf("mnt_id = %d, want a mount id (every fixture kernel has mnt_id:)", info.MntID)
	}
	if !info.HasIno || info.Ino != want.Ino {
		t.Errorf("ino = %d (HasIno %v), want %d (fstat)", info.Ino, info.HasIno, want.Ino)
	}
	checkMarks(t, info, want)
	checkFanotifyGroup(t, info, want)
	checkEpoll(t, info, want)
	if want.EventfdCount != nil {
		if !info.HasEventfd || info.EventfdCount != *want.EventfdCount {
			t.Errorf("eventfd-count = %d (has %v), want %d", info.EventfdCount, info.HasEventfd, *want.EventfdCount)
		}
		if !hasExtraPrefix(info, "eventfd-id:") { // since 5.2
			t.Errorf("no eventfd-id: line in Extra %q", info.Extra)
		}
	} else if info.HasEventfd {
		t.Errorf("HasEventfd on a non-eventfd")
	}
	for _, p := range want.ExtraPrefixes {
		if !hasExtraPrefix(info, p) {
			t.Errorf("Extra %q lacks a line starting %q", info.Extra, p)
		}
	}
	if len(want.LockContains) > 0 {
		var lock string
		for _, l := range info.Extra {
			if strings.HasPrefix(l, "lock:\t") {
				lock = l
			}
		}
		for _, s := range want.LockContains {
			if !strings.Contains(lock, s) {
				t.Errorf("lock line %q lacks %q", lock, s)
			}
		}
	}
	// Nothing is lost: every line is a header line, a decoded line or Extra.
	lines := bytes.Count(text, []byte("\n"))
	decoded := 4 + len(info.Marks) + len(info.EpollTargets) + len(info.Extra)
	if info.Fanotify != nil {
		decoded++
	}
	if info.HasEventfd {
		decoded++
	}
	if decoded != lines {
		t.Errorf("%d lines, but 4 header + %d decoded/extra lines", lines, decoded-4)
	}
}

func hasExtraPrefix(info *Info, p string) bool {
	return slices.ContainsFunc(info.Extra, func(l string) bool { return strings.HasPrefix(l, p) })
}

func checkMarks(t *testing.T, info *Info, want *fdExpect) {
	t.Helper()
	if len(info.Marks) != len(want.Marks) {
		t.Fatalf("%d marks, want %d (failed to add: %v)", len(info.Marks), len(want.Marks), want.FailedMarks)
	}
	for _, w := range want.Marks {
		i := slices.IndexFunc(info.Marks, func(m Mark) bool { return markMatches(m, w) })
		if i < 0 {
			t.Errorf("no mark for %+v in %+v", w, info.Marks)
			continue
		}
		m := info.Marks[i]
		if m.Mask != w.Mask || m.MFlags != w.MFlags || m.IgnoredMask != 0 {
			t.Errorf("%s: mask/mflags/ignored = %#x/%#x/%#x, want %#x/%#x/0", w.Path, m.Mask, m.MFlags, m.IgnoredMask, w.Mask, w.MFlags)
		}
		if w.HandleType != nil {
			if m.HandleType != *w.HandleType || hex.EncodeToString(m.Handle) != *w.Handle {
				t.Errorf("%s: handle %d/%x, want %d/%s (name_to_handle_at)", w.Path, m.HandleType, m.Handle, *w.HandleType, *w.Handle)
			}
		}
		if m.Kind == MarkInotify || m.Kind == MarkFanotifyInode {
			// Every fixture kernel has CONFIG_EXPORTFS and encodes a handle
			// for tmpfs and overlay inodes.
			if m.HandleType < 0 || int(m.HandleBytes) != len(m.Handle) || len(m.Handle) == 0 {
				t.Errorf("%s: handle type %d bytes %d len %d", w.Path, m.HandleType, m.HandleBytes, len(m.Handle))
			}
		} else if m.HandleType != -1 || m.Handle != nil {
			t.Errorf("%s: %v mark has a handle", w.Path, m.Kind)
		}
	}
}

// markMatches pairs a parsed mark with an expectation by its identity.
func markMatches(m Mark, w markExpect) bool {
	switch {
	case w.WD != nil:
		return m.Kind == MarkInotify && m.WD == *w.WD && m.Ino == w.Ino && m.Sdev == w.Sdev
	case w.Kind == "inode":
		return m.Kind == MarkFanotifyInode && m.Ino == w.Ino && m.Sdev == w.Sdev
	case w.Kind == "mount":
		return m.Kind == MarkFanotifyMount && m.MntID == w.MntID
	case w.Kind == "super":
		return m.Kind == MarkFanotifySuper && m.Sdev == w.Sdev && m.Ino == 0
	}
	return false
}

func checkFanotifyGroup(t *testing.T, info *Info, want *fdExpect) {
	t.Helper()
	if want.InitFlags == nil {
		if info.Fanotify != nil {
			t.Errorf("Fanotify set on a non-fanotify fd")
		}
		return
	}
	if info.Fanotify == nil {
		t.Fatal("no fanotify flags line")
	}
	if info.Fanotify.Flags != *want.InitFlags || info.Fanotify.EventFlags != *want.EventFlags|oLargefile {
		t.Errorf("fanotify flags %#x event-flags %#x, want %#x %#x", info.Fanotify.Flags, info.Fanotify.EventFlags,
			*want.InitFlags, *want.EventFlags|oLargefile)
	}
}

func checkEpoll(t *testing.T, info *Info, want *fdExpect) {
	t.Helper()
	got := slices.Clone(info.EpollTargets)
	slices.SortFunc(got, func(a, b EpollTarget) int { return a.TFD - b.TFD })
	if len(got) != len(want.Epoll) {
		t.Fatalf("%d epoll targets, want %d", len(got), len(want.Epoll))
	}
	for i, w := range want.Epoll {
		w.Events |= epollAlways
		if g := got[i]; g != (EpollTarget{w.TFD, w.Events, w.Data, w.Pos, w.Ino, w.Sdev}) {
			t.Errorf("epoll target %+v, want %+v", g, w)
		}
	}
}

func TestParseFdinfoSynthetic(t *testing.T) {
	tests := []struct {
		name, text string
		check      func(*testing.T, *Info)
	}{
		{"pre-3.15 header only", "pos:\t0\nflags:\t02\n", func(t *testing.T, i *Info) {
			if i.MntID != -1 || i.HasIno || i.Flags != 2 || len(i.Extra) != 0 {
				t.Errorf("%+v", i)
			}
		}},
		{"no trailing newline", "pos:\t7\nflags:\t0100000\nmnt_id:\t3", func(t *testing.T, i *Info) {
			if i.Pos != 7 || i.MntID != 3 || i.Flags != 0o100000 {
				t.Errorf("%+v", i)
			}
		}},
		{"negative pos of an unsigned-offset file", "pos:\t-2\nflags:\t0\n", func(t *testing.T, i *Info) {
			if i.Pos != ^uint64(1) {
				t.Errorf("pos %#x", i.Pos)
			}
		}},
		{"ino: after the header is not the header's", "pos:\t0\nflags:\t0\nmnt_id:\t1\nlock:\tx\nino:\t5\nflags:\t7\n", func(t *testing.T, i *Info) {
			if i.HasIno || i.Flags != 0 || !slices.Equal(i.Extra, []string{"lock:\tx", "ino:\t5", "flags:\t7"}) {
				t.Errorf("%+v", i)
			}
		}},
		{"inotify without exportfs", "pos:\t0\nflags:\t0\ninotify wd:1 ino:2 sdev:800001 mask:fff ignored_mask:0 \n", func(t *testing.T, i *Info) {
			if len(i.Marks) != 1 || i.Marks[0].HandleType != -1 || i.Marks[0].Handle != nil || i.Marks[0].Sdev != 0x800001 {
				t.Errorf("%+v", i.Marks)
			}
		}},
		{"future inotify field is skipped", "pos:\t0\nflags:\t0\ninotify wd:1 ino:2 sdev:3 mask:4 newthing:zz ignored_mask:0 fhandle-bytes:0 fhandle-type:1 f_handle:\n", func(t *testing.T, i *Info) {
			if len(i.Marks) != 1 || i.Marks[0].HandleType != 1 || len(i.Marks[0].Handle) != 0 || i.Marks[0].Mask != 4 {
				t.Errorf("%+v", i.Marks)
			}
		}},
		{"fanotify mnt_ns mark (6.14+) goes to Extra", "pos:\t0\nflags:\t0\nfanotify flags:10 event-flags:0\nfanotify mnt_ns:4026531841 mflags:0 mask:1000000 ignored_mask:0\n", func(t *testing.T, i *Info) {
			if len(i.Marks) != 0 || len(i.Extra) != 1 || i.Fanotify == nil || i.Fanotify.Flags != 0x10 {
				t.Errorf("%+v", i)
			}
		}},
		{"old epoll line without pos/ino/sdev", "pos:\t0\nflags:\t02\ntfd:        5 events:       19 data:                0\n", func(t *testing.T, i *Info) {
			if len(i.EpollTargets) != 1 || i.EpollTargets[0] != (EpollTarget{TFD: 5, Events: 0x19}) {
				t.Errorf("%+v", i.EpollTargets)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := ParseFdinfoBytes([]byte(tt.text))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, info)
		})
	}
}

func TestParseFdinfoErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"pos:\t0\nflags:\t08x\n", `fdinfo line 2: flags "08x": invalid octal`},
		{"pos:\tx\nflags:\t0\n", `fdinfo line 1: pos "x": invalid decimal`},
		{"pos:\t0\nflags:\t0\nmnt_id:\t99999999999\n", `fdinfo line 3: mnt_id "99999999999": value out of range`},
		{"pos:\t0\nflags:\t0\nmnt_id:\t1\nino:\t\n", `fdinfo line 4: ino "": empty value`},
		{"pos:\t0\nflags:\t0\ninotify wd:g ino:1 sdev:1 mask:1\n", `fdinfo line 3: inotify wd "g": invalid hex`},
		{"pos:\t0\nflags:\t0\ninotify wd:1 sdev:1 mask:1\n", `fdinfo line 3: inotify line needs wd, ino, sdev and mask: missing field`},
		{"pos:\t0\nflags:\t0\ninotify wd:1 ino:1 sdev:1 mask:1 fhandle-bytes:8 fhandle-type:1 f_handle:00\n", `fdinfo line 3: inotify fhandle-bytes:8 but 1 handle bytes: fhandle-bytes does not match f_handle`},
		{"pos:\t0\nflags:\t0\ninotify wd:1 ino:1 sdev:1 mask:1 fhandle-bytes:1 fhandle-type:1 f_handle:0\n", `fdinfo line 3: inotify f_handle "0": odd number of hex digits`},
		{"pos:\t0\nflags:\t0\ninotify wd:1 ino:1 sdev:1 mask:1 fhandle-type:1\n", `fdinfo line 3: inotify line has part of a file handle: missing field`},
		{"pos:\t0\nflags:\t0\nfanotify mnt_id:zz mflags:0 mask:1 ignored_mask:0\n", `fdinfo line 3: fanotify mnt_id "zz": invalid hex`},
		{"pos:\t0\nflags:\t0\nfanotify flags:1\n", `fdinfo line 3: fanotify flags line needs flags and event-flags: missing field`},
		{"pos:\t0\nflags:\t0\ntfd:  1 events: 1\n", `fdinfo line 3: tfd line needs tfd, events and data: missing field`},
		{"pos:\t0\nflags:\t0\ntfd:  1 events: 1 data: 1 pos:q\n", `fdinfo line 3: tfd pos "q": invalid decimal`},
		{"pos:\t0\nflags:\t0\neventfd-count: 1g\n", `fdinfo line 3: eventfd-count "1g": invalid hex`},
		{"flags:\t0\n", `fdinfo: no pos: line: missing field`},
		{"pos:\t0\n", `fdinfo: no flags: line: missing field`},
		{"", `fdinfo: no pos: line: missing field`},
	}
	for _, tt := range tests {
		_, err := ParseFdinfoBytes([]byte(tt.text))
		if err == nil || err.Error() != tt.want || !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseFdinfoBytes(%q) = %v, want %q wrapping ErrSyntax", tt.text, err, tt.want)
		}
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

func TestParseFdinfoReadError(t *testing.T) {
	if _, err := ParseFdinfo(failingReader{}); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("err = %v", err)
	}
}

func FuzzParseFdinfo(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(procFixtures, "*", "fdinfo-*.txt"))
	for _, p := range files {
		f.Add(readFixture(f, p))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ParseFdinfoBytes(b)
		if err != nil {
			if info != nil {
				t.Fatal("info and error")
			}
			return
		}
		for _, m := range info.Marks {
			if m.HandleType >= 0 && int(m.HandleBytes) != len(m.Handle) {
				t.Fatalf("handle length mismatch accepted: %+v", m)
			}
		}
	})
}

func BenchmarkParseFdinfo(b *testing.B) {
	text := readFixture(b, filepath.Join(procFixtures, "6.18", "fdinfo-reg-tmpfs.txt"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseFdinfoBytes(text); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseFdinfoReader(b *testing.B) {
	text := readFixture(b, filepath.Join(procFixtures, "6.18", "fdinfo-reg-tmpfs.txt"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseFdinfo(bytes.NewReader(text)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPlainFdinfo: the one-pass parser of plain fdinfo takes exactly the
// kernel's four-line header and hands everything else to the general
// parser; where it answers, it answers what the general parser says.
func TestPlainFdinfo(t *testing.T) {
	for _, tc := range []struct {
		text string
		fast bool
	}{
		{"pos:\t0\nflags:\t0100000\nmnt_id:\t66\nino:\t1234\n", true},
		{"pos:\t9223372036854775807\nflags:\t037777777777\nmnt_id:\t999999999\nino:\t18446744073709551615\n", false}, // pos has 19 digits
		{"pos:\t922337203685477580\nflags:\t037777777777\nmnt_id:\t999999999\nino:\t9999999999999999999\n", true},
		{"pos:\t0\nflags:\t02\nmnt_id:\t22\n", true}, // before ino: (< 5.14)
		{"pos:\t-1\nflags:\t02\nmnt_id:\t22\nino:\t1\n", false},
		{"pos:\t0\nflags:\t040000000000\nmnt_id:\t22\nino:\t1\n", false}, // flags over 32 bits
		{"pos:\t0\nflags:\t08\nmnt_id:\t22\nino:\t1\n", false},
		{"pos:\t0\nflags:\t02\nmnt_id:\t1000000000\nino:\t1\n", false}, // 10 digits: general parser
		{"pos:\t0\nflags:\t02\nmnt_id:\t22\nino:\t1", false},           // no final newline
		{"pos:\t0\nflags:\t02\nmnt_id:\t22\nino:\t1\nlock:\t1: POSIX  ADVISORY  WRITE 4242 00:2a:7 0 EOF\n", false},
		{"pos: 0\nflags:\t02\nmnt_id:\t22\nino:\t1\n", false},
		{"pos:\t\nflags:\t02\nmnt_id:\t22\nino:\t1\n", false},
		{"pos:\t0\nflags:\t02\n", false},
		{"", false},
	} {
		var fast, slow Info
		if got := parsePlainFdinfo([]byte(tc.text), &fast); got != tc.fast {
			t.Errorf("%q: plain parse %v, want %v", tc.text, got, tc.fast)
			continue
		}
		if tc.fast {
			if err := parseFdinfoLines([]byte(tc.text), &slow); err != nil || !reflect.DeepEqual(fast, slow) {
				t.Errorf("%q: plain %+v, general %+v (%v)", tc.text, fast, slow, err)
			}
		}
	}
}

// FuzzPlainFdinfo: whenever the one-pass parser accepts a text, the
// general parser accepts it too, with the same result.
func FuzzPlainFdinfo(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(procFixtures, "*", "fdinfo-*.txt"))
	for _, p := range files {
		f.Add(readFixture(f, p))
	}
	f.Add([]byte("pos:\t0\nflags:\t0100000\nmnt_id:\t66\nino:\t1234\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast, slow Info
		if !parsePlainFdinfo(b, &fast) {
			return
		}
		if err := parseFdinfoLines(b, &slow); err != nil || !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: plain %+v, general %+v (%v)", b, fast, slow, err)
		}
	})
}
