package proto

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// SetFile is one file of a set written by WriteSetAtomic.
type SetFile struct {
	Name string // a plain file name
	Perm os.FileMode
	// Write writes the content. The Write funcs of one set run
	// concurrently (WriteSetAtomic writes the files in parallel), so they
	// must not change state they share.
	Write func(io.Writer) error
}

// ImageSetFile is the SetFile of img (mode 0600, as CRIU writes images).
func ImageSetFile(img *Image) SetFile {
	return SetFile{Name: img.Name, Perm: 0o600, Write: img.Encode}
}

// stagingPrefix starts the name of WriteSetAtomic's staging directory.
const stagingPrefix = ".ovlfix-staging-"

// WriteSetAtomic writes a set of files into dir all or nothing: after an
// error dir holds exactly what it held before (no new file, every old one
// as it was), so a failure midway (a full disk) never leaves a partial
// image set next to, or mixed with, an earlier one.
//
// How: every file is written into a fresh staging directory inside dir
// (mkdir under a random name, so never one an attacker or a crash left;
// each file created O_EXCL), flushed and fsynced, several files at once,
// and once all are, the staging directory fsynced. Only then is each file moved into dir: over an
// existing file with renameat2(RENAME_EXCHANGE), which leaves the old file
// in the staging directory, else with RENAME_NOREPLACE. If a move fails
// the moves made are undone in reverse order (exchanged back, moved back)
// and the error returned. Finally dir is fsynced and the staging
// directory (the replaced old files, or after an error the new ones) is
// removed.
//
// Limits: a file system without RENAME_EXCHANGE/RENAME_NOREPLACE (EINVAL:
// some FUSE and network file systems) gets plain renames, whose
// replaced files cannot be restored if a later move fails; the error then
// says so. A crash (SIGKILL, power loss) during the moves, which take
// microseconds, can leave a mixed set and the staging directory; every
// file in dir is still complete.
func WriteSetAtomic(dir string, files []SetFile) error {
	return atomicFS{}.writeSet(dir, files)
}

func (a atomicFS) writeSet(dir string, files []SetFile) (err error) {
	seen := map[string]bool{}
	for _, f := range files {
		if f.Name == "" || f.Name == "." || f.Name == ".." || strings.ContainsRune(f.Name, '/') {
			return fmt.Errorf("writing into %s: %q is not a plain file name", dir, f.Name)
		}
		if seen[f.Name] {
			return fmt.Errorf("writing into %s: %s twice in one set", dir, f.Name)
		}
		seen[f.Name] = true
	}
	syncFile, renameat2 := a.sync, a.renameat2
	if syncFile == nil {
		syncFile = (*os.File).Sync
	}
	if renameat2 == nil {
		renameat2 = func(from, to string, flags uint) error {
			return unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, flags)
		}
	}
	stage, err := os.MkdirTemp(dir, stagingPrefix+"*")
	if err != nil {
		return fmt.Errorf("writing into %s: staging directory: %w", dir, err)
	}
	defer func() {
		if rerr := os.RemoveAll(stage); rerr != nil && err == nil {
			err = fmt.Errorf("written into %s, but the staging directory %s could not be removed: %w", dir, stage, rerr)
		}
	}()
	if name, err := writeAllStaged(stage, files, syncFile); err != nil {
		return fmt.Errorf("writing %s into %s: %w (nothing written)", name, dir, err)
	}
	if err := syncDir(stage, syncFile); err != nil {
		return fmt.Errorf("writing into %s: fsync of the staging directory: %w (nothing written)", dir, err)
	}

	// Move the set in; undo on the first failure. Each move made pushes
	// its undo.
	var undos []func() error
	undo := func() error {
		var errs []error
		for i := len(undos) - 1; i >= 0; i-- {
			errs = append(errs, undos[i]())
		}
		return errors.Join(errs...)
	}
	for _, f := range files {
		from, to := filepath.Join(stage, f.Name), filepath.Join(dir, f.Name)
		var back func() error
		err := renameat2(from, to, unix.RENAME_EXCHANGE)
		switch {
		case err == nil: // the old file is in stage now
			back = func() error { return renameat2(from, to, unix.RENAME_EXCHANGE) }
		case errors.Is(err, unix.ENOENT): // nothing there yet
			if err = renameat2(from, to, unix.RENAME_NOREPLACE); err == nil {
				back = func() error { return renameat2(to, from, unix.RENAME_NOREPLACE) }
			}
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			// No renameat2 flags on this file system: plain rename.
			_, lerr := os.Lstat(to)
			existed := lerr == nil
			if err = os.Rename(from, to); err == nil {
				name := f.Name
				back = func() error { return os.Rename(to, from) }
				if existed {
					back = func() error {
						return fmt.Errorf("%s was replaced by a plain rename (no RENAME_EXCHANGE on this file system): the old one is lost", name)
					}
				}
			}
		}
		if err != nil {
			if uerr := undo(); uerr != nil {
				return fmt.Errorf("moving %s into %s: %w; undoing the moves made failed too, so the set in %s is mixed: %v", f.Name, dir, err, dir, uerr)
			}
			return fmt.Errorf("moving %s into %s: %w (nothing written: the earlier moves were undone)", f.Name, dir, err)
		}
		undos = append(undos, back)
	}
	if err := syncDir(dir, syncFile); err != nil {
		return fmt.Errorf("written into %s, but fsync of the directory failed: %w", dir, err)
	}
	return nil
}

// stagedWriters bounds how many files of a set are written and fsynced at
// once.
const stagedWriters = 4

// writeAllStaged writes every file of the set into stage, up to
// stagedWriters at once, and returns when all are done: the name and error
// of the first file in set order that failed. Each file's fsync then
// overlaps the writing of the others (the report's encoding, the images'
// writes) instead of following it, and the file system can commit the
// fsyncs together; every file is still fsynced before the staging
// directory is, and that before any move.
func writeAllStaged(stage string, files []SetFile, syncFile func(*os.File) error) (string, error) {
	errs := make([]error, len(files))
	sem := make(chan struct{}, stagedWriters)
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = writeStaged(filepath.Join(stage, f.Name), f, syncFile)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return files[i].Name, err
		}
	}
	return "", nil
}

// writeStaged creates path (O_EXCL) with f's content and fsyncs it.
func writeStaged(path string, f SetFile, syncFile func(*os.File) error) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	defer fh.Close()
	bw := bufio.NewWriter(fh)
	if err := f.Write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := fh.Chmod(f.Perm); err != nil {
		return err
	}
	if err := syncFile(fh); err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	return fh.Close()
}
