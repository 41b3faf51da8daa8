package proto

import (
	"bytes"
	"errors"
	"github.com/ovlfix/ovlfix/internal/testenv"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestImageFileRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, FilesImg)
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.img")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "dir.img")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	sparse := filepath.Join(dir, "mm-1.img")
	if err := os.WriteFile(sparse, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(sparse, MaxImageFileSize+1); err != nil { // sparse: no blocks
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"FIFO", fifo, "files.img is a FIFO, not a regular file"},
		{"symlink to /dev/zero", zero, "zero.img is a symbolic link, not a regular file"},
		{"directory", sub, "dir.img is a directory, not a regular file"},
		{"character device", "/dev/null", "null is a character device, not a regular file"},
		{"sparse file one byte over the cap", sparse, "mm-1.img is 268435457 bytes, larger than the 256 MiB cap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b, err := testenv.WithDeadline(t, 5*time.Second, func() ([]byte, error) {
				b, _, err := ReadFileCapped(tc.path, MaxImageFileSize)
				return b, err
			})
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrBadImageFile) || err.Error() != tc.want || b != nil {
				t.Errorf("ReadFileCapped: %d bytes, err %v; want ErrBadImageFile %q", len(b), err, tc.want)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Errorf("allocated %d bytes to refuse it", grew)
			}
			_, err = testenv.WithDeadline(t, 5*time.Second, func() (*Image, error) { return ReadImageFile(tc.path) })
			if !errors.Is(err, ErrBadImageFile) {
				t.Errorf("ReadImageFile: %v", err)
			}
			_, err = testenv.WithDeadline(t, 5*time.Second, func() (*ImageFile, error) { return OpenImageFile(tc.path, MaxImageFileSize) })
			if !errors.Is(err, ErrBadImageFile) {
				t.Errorf("OpenImageFile: %v", err)
			}
		})
	}
}

func TestImageFileReadsRegularFiles(t *testing.T) {
	p := filepath.Join(criuTestdata, "basic", FilesImg)
	want := readTestFile(t, p)
	b, info, err := ReadFileCapped(p, MaxImageFileSize)
	if err != nil || !bytes.Equal(b, want) || info.Size() != int64(len(want)) || !info.Mode().IsRegular() {
		t.Fatalf("ReadFileCapped: %d bytes, %v, %v", len(b), info, err)
	}
	// Exactly at the cap is fine; one byte over is not.
	if _, _, err := ReadFileCapped(p, int64(len(want))); err != nil {
		t.Errorf("file of exactly the cap: %v", err)
	}
	if _, _, err := ReadFileCapped(p, int64(len(want))-1); !errors.Is(err, ErrBadImageFile) || !strings.Contains(err.Error(), "larger than the") {
		t.Errorf("file one byte over the cap: %v", err)
	}
	img, err := ReadImageFile(p)
	if err != nil || len(img.Entries) == 0 {
		t.Fatalf("ReadImageFile: %v", err)
	}
	// Through a symlinked directory (CRIU's images dir is /proc/<pid>/fd/N).
	link := filepath.Join(t.TempDir(), "images")
	abs, _ := filepath.Abs(filepath.Dir(p))
	if err := os.Symlink(abs, link); err != nil {
		t.Fatal(err)
	}
	if b, _, err := ReadFileCapped(filepath.Join(link, FilesImg), MaxImageFileSize); err != nil || !bytes.Equal(b, want) {
		t.Errorf("through a symlinked directory: %v", err)
	}
	if _, _, err := ReadFileCapped(filepath.Join(t.TempDir(), "none.img"), MaxImageFileSize); !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrBadImageFile) {
		t.Errorf("missing file: %v", err)
	}
}

// TestImageFileGrowingPastTheCap: a file that grows after the open is cut
// off one byte past the cap.
func TestImageFileGrowingPastTheCap(t *testing.T) {
	p := filepath.Join(t.TempDir(), FilesImg)
	if err := os.WriteFile(p, bytes.Repeat([]byte("x"), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := OpenImageFile(p, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("y"), 1<<20)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(f)
	if !errors.Is(err, ErrBadImageFile) || !strings.Contains(err.Error(), "files.img grew past the 100-byte cap") {
		t.Errorf("err %v", err)
	}
	if buf.Len() != 100 {
		t.Errorf("read %d bytes, want the 100 of the cap", buf.Len())
	}
	// A corrupt size field cannot make ReadImageFile allocate more than
	// the file holds.
	small := filepath.Join(t.TempDir(), FilesImg)
	orig := readTestFile(t, filepath.Join(criuTestdata, "basic", FilesImg))
	hdr := append(append([]byte(nil), orig[:8]...), 0xf0, 0xff, 0xff, 0x03) // entry size 64 MiB - 16
	if err := os.WriteFile(small, hdr, 0o600); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = ReadImageFile(small)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "exceeds cap 12") {
		t.Errorf("err %v", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("allocated %d bytes for a 12-byte file", grew)
	}
}
