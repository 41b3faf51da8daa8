package proto

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// WriteFileAtomic replaces dir/name with what write produces, so that a reader (CRIU at
// restore) sees either the old file or the complete new one, also after a crash:
// the data goes to a new temporary file in dir (created with O_EXCL under a random name,
// so an attacker-planted or stale name is never reused), is flushed and fsynced, given
// perm, renamed over dir/name, and dir is fsynced. On any error the temporary file is
// removed and dir/name is left as it was.
//
// name must be a plain file name. dir may be any path to a directory, including a
// /proc/<pid>/fd/N link such as CRIU's $CRTOOLS_IMAGE_DIR.
func WriteFileAtomic(dir, name string, perm os.FileMode, write func(io.Writer) error) error {
	return atomicFS{}.write(dir, name, perm, write)
}

// WriteImageAtomic writes img to dir/name with WriteFileAtomic.
func WriteImageAtomic(dir, name string, perm os.FileMode, img *Image) error {
	return WriteFileAtomic(dir, name, perm, img.Encode)
}

// atomicFS holds the file system operations WriteFileAtomic uses; a nil field means the
// real one. Tests set fields to inject failures.
type atomicFS struct {
	sync   func(*os.File) error
	rename func(oldpath, newpath string) error
	// renameat2 is renameat2(2) with both paths relative to the working
	// directory (WriteSetAtomic).
	renameat2 func(oldpath, newpath string, flags uint) error
}

func (a atomicFS) write(dir, name string, perm os.FileMode, write func(io.Writer) error) (err error) {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return fmt.Errorf("atomic write: %q is not a plain file name", name)
	}
	syncFile, rename := a.sync, a.rename
	if syncFile == nil {
		syncFile = (*os.File).Sync
	}
	if rename == nil {
		rename = os.Rename
	}
	target := filepath.Join(dir, name)

	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("atomic write of %s: %w", target, err)
	}
	tmpName, renamed := tmp.Name(), false
	defer func() {
		if err != nil && !renamed {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()

	bw := bufio.NewWriter(tmp)
	if err := write(bw); err != nil {
		return fmt.Errorf("atomic write of %s: %w", target, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("atomic write of %s: %w", target, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("atomic write of %s: %w", target, err)
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("atomic write of %s: fsync: %w", target, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("atomic write of %s: %w", target, err)
	}
	if err := rename(tmpName, target); err != nil {
		return fmt.Errorf("atomic write of %s: %w", target, err)
	}
	renamed = true
	// The new file is in place; what remains is making the rename durable.
	if err := syncDir(dir, syncFile); err != nil {
		return fmt.Errorf("atomic write of %s: renamed, but fsync of the directory failed: %w", target, err)
	}
	return nil
}

// syncDir fsyncs a directory. Some file systems (9p, some FUSE) reject fsync on a
// directory with EINVAL; the rename is then as durable as that file system makes it.
func syncDir(dir string, syncFile func(*os.File) error) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := syncFile(d); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}
