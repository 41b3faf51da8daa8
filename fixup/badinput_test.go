package fixup

import (
	"context"
	"errors"
	"fmt"
	"github.com/ovlfix/ovlfix/internal/testenv"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/proto"
	"golang.org/x/sys/unix"
)

// TestBadImageFilesRefused is class 6 of the "do no harm" issue: an image
// that is a FIFO blocked fixup (and CRIU's post-dump hook) forever, a
// symlink to /dev/zero made it read until memory ran out. Every image
// fixup reads must be refused quickly, without a big allocation, with
// proto.ErrBadImageFile and the file's name, and nothing written.
func TestBadImageFilesRefused(t *testing.T) {
	src := filepath.Join("..", "testdata", "criu", "basic")
	bad := map[string]func(path string) error{
		"a FIFO":          func(p string) error { return unix.Mkfifo(p, 0o600) },
		"a symbolic link": func(p string) error { return os.Symlink("/dev/zero", p) },
		"a directory":     func(p string) error { return os.Mkdir(p, 0o700) },
		"268435457 bytes, larger than the 256 MiB cap": func(p string) error { return os.Truncate(p, proto.MaxImageFileSize+1) }, // sparse
	}
	kinds := make([]string, 0, len(bad))
	for k := range bad {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, file := range []string{proto.FilesImg, proto.PstreeImg, "ids-149.img", "fdinfo-2.img", "fs-149.img", "mm-149.img"} {
		for _, kind := range kinds {
			t.Run(file+" is "+kind, func(t *testing.T) {
				dir := t.TempDir()
				for _, e := range testenv.DirNames(t, src) {
					if err := os.WriteFile(filepath.Join(dir, e), testenv.ReadFile(t, filepath.Join(src, e)), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				p := filepath.Join(dir, file)
				if kind != "268435457 bytes, larger than the 256 MiB cap" {
					if err := os.Remove(p); err != nil {
						t.Fatal(err)
					}
				}
				if err := bad[kind](p); err != nil {
					t.Fatal(err)
				}
				before := lsDir(t, dir)
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				start := time.Now()
				_, err := testenv.WithDeadline(t, 10*time.Second, func() (*Report, error) {
					return Run(context.Background(), dir, Options{RootPID: os.Getpid()})
				})
				took := time.Since(start)
				runtime.ReadMemStats(&m1)
				if !errors.Is(err, proto.ErrBadImageFile) || !strings.Contains(err.Error(), file+" is "+kind) {
					t.Errorf("err %v; want proto.ErrBadImageFile naming %s as %s", err, file, kind)
				}
				if grew := m1.TotalAlloc - m0.TotalAlloc; grew > 16<<20 {
					t.Errorf("allocated %d bytes to refuse it", grew)
				}
				if after := lsDir(t, dir); after != before {
					t.Errorf("directory changed:\n%s\nnow:\n%s", before, after)
				}
				t.Logf("refused in %v: %v", took, err)
			})
		}
	}
}

// lsDir describes dir without opening anything but regular files: name,
// type, and the bytes of regular files (snapshot would block on a FIFO).
func lsDir(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range ents {
		b.WriteString(e.Name() + " " + e.Type().String())
		if e.Type().IsRegular() {
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() <= 1<<20 {
				fmt.Fprintf(&b, " %q", testenv.ReadFile(t, filepath.Join(dir, e.Name())))
			} else {
				fmt.Fprintf(&b, " %d bytes, modified %v", fi.Size(), fi.ModTime())
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
