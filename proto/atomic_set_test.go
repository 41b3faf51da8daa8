package proto

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

func setOf(contents map[string]string, fail string) []SetFile {
	names := make([]string, 0, len(contents))
	for n := range contents {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []SetFile
	for _, n := range names {
		c := contents[n]
		out = append(out, SetFile{Name: n, Perm: 0o640, Write: func(w io.Writer) error {
			if n == fail {
				io.WriteString(w, strings.Repeat("x", 100000)) // reaches the file
				return errInjected
			}
			_, err := io.WriteString(w, c)
			return err
		}})
	}
	return out
}

var errInjected = errors.New("injected")

// dirState maps every entry of dir to its content ("<dir>" for directories).
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		if e.IsDir() {
			out[e.Name()] = "<dir>"
			continue
		}
		out[e.Name()] = string(readTestFile(t, filepath.Join(dir, e.Name())))
	}
	return out
}

func sameState(t *testing.T, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("directory holds %v, want %v", got, want)
		return
	}
	for n, c := range want {
		if got[n] != c {
			t.Errorf("%s = %.20q, want %.20q (all: %v)", n, got[n], c, got)
		}
	}
}

func TestWriteSetAtomic(t *testing.T) {
	dir := t.TempDir()
	first := map[string]string{"files.img": "f1", "fdinfo-1.img": "d1", "report.json": "r1"}
	if err := WriteSetAtomic(dir, setOf(first, "")); err != nil {
		t.Fatal(err)
	}
	sameState(t, dirState(t, dir), first)
	if st, err := os.Stat(filepath.Join(dir, "files.img")); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v %v", st.Mode(), err)
	}
	// A second set replaces the first; other files stay.
	if err := os.WriteFile(filepath.Join(dir, "other"), []byte("o"), 0o600); err != nil {
		t.Fatal(err)
	}
	second := map[string]string{"files.img": "f2", "fdinfo-1.img": "d2", "mountpoints-1.img": "m2"}
	if err := WriteSetAtomic(dir, setOf(second, "")); err != nil {
		t.Fatal(err)
	}
	sameState(t, dirState(t, dir), map[string]string{"files.img": "f2", "fdinfo-1.img": "d2", "mountpoints-1.img": "m2", "report.json": "r1", "other": "o"})
}

// Every failure leaves the directory exactly as it was: no new file, no
// old one changed, no staging directory.
func TestWriteSetAtomicFailureChangesNothing(t *testing.T) {
	old := map[string]string{"files.img": "old files", "fdinfo-1.img": "old fdinfo"}
	next := map[string]string{"files.img": "new", "fdinfo-1.img": "new", "mountpoints-1.img": "new", "z-report.json": "new"}
	moves := 0
	failMove := func(n int, err error) func(string, string, uint) error {
		return func(from, to string, flags uint) error {
			if flags == unix.RENAME_EXCHANGE || flags == unix.RENAME_NOREPLACE {
				if strings.Contains(from, stagingPrefix) { // a move in, not an undo
					moves++
					if moves == n {
						return err
					}
				}
			}
			return unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, flags)
		}
	}
	for _, tc := range []struct {
		name string
		fs   atomicFS
		fail string
	}{
		{"a write fails midway (the third file)", atomicFS{}, "mountpoints-1.img"},
		{"fsync fails", atomicFS{sync: func(*os.File) error { return errInjected }}, ""},
		{"the third move fails (ENOSPC adding the entry)", atomicFS{renameat2: failMove(3, unix.ENOSPC)}, ""},
		{"the last move fails", atomicFS{renameat2: failMove(4, errInjected)}, ""},
		{"the first move fails", atomicFS{renameat2: failMove(1, errInjected)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			moves = 0
			dir := t.TempDir()
			for n, c := range old {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := tc.fs.writeSet(dir, setOf(next, tc.fail))
			if err == nil || !strings.Contains(err.Error(), "nothing written") {
				t.Fatalf("err %v", err)
			}
			sameState(t, dirState(t, dir), old)
		})
	}
}

// Without renameat2 flags (EINVAL: some FUSE and network file systems) the
// set is still written, with plain renames.
func TestWriteSetAtomicWithoutRenameFlags(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "files.img"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := atomicFS{renameat2: func(string, string, uint) error { return unix.EINVAL }}
	next := map[string]string{"files.img": "new", "fdinfo-1.img": "new"}
	if err := fs.writeSet(dir, setOf(next, "")); err != nil {
		t.Fatal(err)
	}
	sameState(t, dirState(t, dir), next)
}

func TestWriteSetAtomicRefusesBadNames(t *testing.T) {
	for _, set := range [][]SetFile{
		{{Name: "../x"}}, {{Name: ""}}, {{Name: "."}}, {{Name: "a"}, {Name: "a"}},
	} {
		dir := t.TempDir()
		for i := range set {
			set[i].Write = func(io.Writer) error { return nil }
		}
		if err := WriteSetAtomic(dir, set); err == nil {
			t.Errorf("%+v accepted", set)
		}
		sameState(t, dirState(t, dir), map[string]string{})
	}
}

// The files of a set are written in parallel, but the durability order
// holds: each file's content is complete and fsynced before the staging
// directory is fsynced, that before the first move, and dir is fsynced
// after the last; one fsync per file, no more. A failing file is named
// even when it is not the last to finish.
func TestWriteSetAtomicSyncOrder(t *testing.T) {
	dir := t.TempDir()
	next := map[string]string{"a.img": strings.Repeat("a", 1<<20), "b.img": "b", "c.img": "c", "d.img": "d", "e.img": "e", "f.json": "f"}
	var mu sync.Mutex
	var events []string
	record := func(e string) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	fs := atomicFS{
		sync: func(f *os.File) error {
			st, err := f.Stat()
			if err != nil {
				return err
			}
			if st.IsDir() {
				record("sync dir " + filepath.Base(f.Name()))
			} else {
				if want := int64(len(next[st.Name()])); st.Size() != want {
					t.Errorf("%s fsynced with %d bytes, want %d", st.Name(), st.Size(), want)
				}
				record("sync file " + st.Name())
			}
			return f.Sync()
		},
		renameat2: func(from, to string, flags uint) error {
			record("move " + filepath.Base(to))
			return unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, flags)
		},
	}
	if err := fs.writeSet(dir, setOf(next, "")); err != nil {
		t.Fatal(err)
	}
	t.Logf("events: %v", events)
	files, stageAt, firstMove, lastMove, dirAt := 0, -1, -1, -1, -1
	for i, e := range events {
		switch {
		case strings.HasPrefix(e, "sync file "):
			files++
			if stageAt >= 0 {
				t.Errorf("%s after the staging directory's fsync", e)
			}
		case strings.HasPrefix(e, "sync dir "+stagingPrefix):
			stageAt = i
		case e == "sync dir "+filepath.Base(dir):
			dirAt = i
		case strings.HasPrefix(e, "move "):
			if firstMove < 0 {
				firstMove = i
			}
			lastMove = i
		}
	}
	if files != len(next) {
		t.Errorf("%d file fsyncs, want %d (one per file)", files, len(next))
	}
	if !(stageAt >= 0 && stageAt < firstMove && lastMove < dirAt) {
		t.Errorf("order: staging fsync at %d, moves %d..%d, dir fsync at %d", stageAt, firstMove, lastMove, dirAt)
	}
	want := map[string]string{}
	for n, c := range next {
		want[n] = c
	}
	sameState(t, dirState(t, dir), want)

	// The first file fails after writing a lot; the later ones finish first.
	err := atomicFS{}.writeSet(dir, setOf(map[string]string{"a.img": "x", "b.img": "y"}, "a.img"))
	if err == nil || !strings.Contains(err.Error(), "writing a.img into") || !strings.Contains(err.Error(), "nothing written") {
		t.Errorf("err %v, want one naming a.img", err)
	}
	sameState(t, dirState(t, dir), want)
}
