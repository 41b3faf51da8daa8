package testenv

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// DirFiles returns the files directly in dir, by name, with their bytes:
// a snapshot to compare a directory before and after a run that must not
// change it (or must change it all or nothing).
func DirFiles(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string][]byte, len(ents))
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// Names returns the names of a DirFiles snapshot, sorted.
func Names(files map[string][]byte) []string {
	out := make([]string, 0, len(files))
	for n := range files {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// WithDeadline runs f and fails the test if it has not returned within d,
// so that a regression that blocks (an open of a FIFO, a read of a hung
// file system) fails instead of hanging the suite.
func WithDeadline[T any](t testing.TB, d time.Duration, f func() (T, error)) (T, error) {
	t.Helper()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-time.After(d):
		t.Fatalf("still blocked after %v", d)
	}
	var zero T
	return zero, nil
}

// DirNames returns the names of the entries of dir (directories too),
// sorted.
func DirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out // os.ReadDir sorts by name
}

// ReadFile is os.ReadFile that fails the test on error.
func ReadFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// CopyFiles copies the regular files of the flat directory src (an images
// directory) into a new temporary directory, mode 0600, and returns it.
func CopyFiles(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// OpenFDs is how many fds this process holds (/proc/self/fd), for tests
// that every way out of a function gives back what it opened.
func OpenFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
