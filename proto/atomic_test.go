package proto

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFileAtomic(dir, "files.img", 0o640, func(w io.Writer) error {
		_, err := io.WriteString(w, "new")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "files.img")
	if got := string(readTestFile(t, p)); got != "new" {
		t.Fatalf("content %q", got)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want 0640", st.Mode().Perm())
	}
	assertOnlyFiles(t, dir, "files.img")
}

// Every failure leaves the old file as it was and no temporary file behind.
func TestWriteFileAtomicFailureKeepsOld(t *testing.T) {
	boom := errors.New("injected")
	halfWrite := func(w io.Writer) error {
		io.WriteString(w, strings.Repeat("x", 100000)) // more than the buffer: reaches the file
		return boom
	}
	okWrite := func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }
	for _, tc := range []struct {
		name  string
		fs    atomicFS
		write func(io.Writer) error
	}{
		{"write func fails midway", atomicFS{}, halfWrite},
		{"fsync fails", atomicFS{sync: func(*os.File) error { return boom }}, okWrite},
		{"rename fails", atomicFS{rename: func(string, string) error { return boom }}, okWrite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "files.img")
			if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			err := tc.fs.write(dir, "files.img", 0o644, tc.write)
			if !errors.Is(err, boom) || !strings.Contains(err.Error(), p) {
				t.Fatalf("err = %v, want the injected error naming %s", err, p)
			}
			if got := string(readTestFile(t, p)); got != "old" {
				t.Fatalf("old file changed to %q", got)
			}
			assertOnlyFiles(t, dir, "files.img")
		})
	}
}

// A failed fsync of the directory is reported, but the new file is in place.
func TestWriteFileAtomicDirSyncFails(t *testing.T) {
	dir := t.TempDir()
	boom := errors.New("injected")
	fs := atomicFS{sync: func(f *os.File) error {
		if st, err := f.Stat(); err == nil && st.IsDir() {
			return boom
		}
		return f.Sync()
	}}
	err := fs.write(dir, "x.img", 0o600, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err })
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "renamed") {
		t.Fatalf("err = %v", err)
	}
	if got := string(readTestFile(t, filepath.Join(dir, "x.img"))); got != "new" {
		t.Fatalf("content %q", got)
	}
	assertOnlyFiles(t, dir, "x.img")
}

func TestWriteFileAtomicBadName(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"", ".", "..", "a/b", "../x"} {
		if err := WriteFileAtomic(dir, name, 0o644, func(io.Writer) error { return nil }); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing"), "x", 0o644, func(io.Writer) error { return nil }); err == nil {
		t.Error("missing directory accepted")
	}
	assertOnlyFiles(t, dir)
}

// WriteImageAtomic of a real image reproduces it; a /proc/self/fd/N directory works as dir
// (CRIU passes the image directory to action scripts that way).
func TestWriteImageAtomicViaFdPath(t *testing.T) {
	orig := readTestFile(t, filepath.Join(criuTestdata, "basic/files.img"))
	img, err := ReadImage(bytes.NewReader(orig), "files.img")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	fdDir := "/proc/self/fd/" + itoa(int(d.Fd()))
	if err := WriteImageAtomic(fdDir, FilesImg, 0o644, img); err != nil {
		t.Fatal(err)
	}
	if got := readTestFile(t, filepath.Join(dir, FilesImg)); !bytes.Equal(got, orig) {
		t.Fatal("written image differs from the original")
	}
	assertOnlyFiles(t, dir, FilesImg)
}

func assertOnlyFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("directory holds %q, want %q", got, want)
	}
}
