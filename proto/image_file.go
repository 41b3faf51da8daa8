package proto

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// ErrBadImageFile means an image or cache file is not one ovlfix will read:
// not a regular file (a FIFO, a device, a socket, a directory, a symbolic
// link) or larger than its size cap. Errors of OpenImageFile,
// ReadFileCapped and ReadImageFile that say so wrap it (errors.Is).
var ErrBadImageFile = errors.New("not a regular file within its size cap")

// MaxImageFileSize caps every image and cache file ovlfix reads whole:
// files.img, pstree.img, ids-, fdinfo-, fs- and mm-<n>.img, irmap-cache,
// fixup's backup and report. 256 MiB is far above real dumps (a files.img
// entry is ~100 bytes, so this is over two million files; an mm entry
// with 65530 VMAs, the default vm.max_map_count, is ~6 MiB) and low
// enough that reading one never exhausts memory.
const MaxImageFileSize = 256 << 20

// BadFileError is an image file refused by OpenImageFile. Its text names
// the file and what is wrong: "files.img is a FIFO, not a regular file".
type BadFileError struct {
	Path string // as given to OpenImageFile
	What string // "is a FIFO, not a regular file", "is larger than the 256 MiB cap"
}

func (e *BadFileError) Error() string { return filepath.Base(e.Path) + " " + e.What }

// Unwrap makes errors.Is(err, ErrBadImageFile) true.
func (e *BadFileError) Unwrap() error { return ErrBadImageFile }

// ImageFile is a file opened by OpenImageFile: a regular file, read-only,
// whose reads fail with a BadFileError once more than its cap was read
// (the file may grow after it was opened).
type ImageFile struct {
	f     *os.File
	path  string
	info  fs.FileInfo
	limit int64
	read  int64
}

// OpenImageFile opens the image or cache file at path for reading, and
// refuses anything but a regular file of at most limit bytes.
//
// Threat model: the images directory is untrusted. A FIFO named files.img
// would block a plain open or read forever (and with it CRIU's post-dump
// hook), a symbolic link to /dev/zero would be read until memory runs out,
// and opening a device node can have side effects (a watchdog arms on
// open). So the file is first opened O_PATH|O_NOFOLLOW (no open of the
// object itself, a final symlink is not followed), checked with fstat, and
// only a regular file within the cap is reopened for reading through
// /proc/self/fd (O_RDONLY|O_NONBLOCK|O_CLOEXEC: the very inode that was
// checked). Without /proc it is opened O_RDONLY|O_NOFOLLOW|O_NONBLOCK|
// O_CLOEXEC and checked again with fstat. Directory components of path
// are followed (CRIU's images directory is a /proc/<pid>/fd/N link).
//
// A missing file gives an error wrapping fs.ErrNotExist.
func OpenImageFile(path string, limit int64) (*ImageFile, error) {
	pfd, err := unix.Open(path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if err := checkImageStat(path, &st, limit); err != nil {
		return nil, err
	}
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(pfd), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) { // no /proc mounted
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if err := checkImageStat(path, &now, limit); err != nil {
		f.Close()
		return nil, err
	}
	if now.Dev != st.Dev || now.Ino != st.Ino {
		f.Close()
		return nil, &BadFileError{Path: path, What: "was replaced while it was being opened"}
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &ImageFile{f: f, path: path, info: info, limit: limit}, nil
}

// checkImageStat refuses anything but a regular file of at most limit bytes.
func checkImageStat(path string, st *unix.Stat_t, limit int64) error {
	kind := ""
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if st.Size > limit {
			return &BadFileError{Path: path, What: fmt.Sprintf("is %d bytes, larger than the %s cap", st.Size, capString(limit))}
		}
		return nil
	case unix.S_IFIFO:
		kind = "a FIFO"
	case unix.S_IFLNK:
		kind = "a symbolic link"
	case unix.S_IFDIR:
		kind = "a directory"
	case unix.S_IFCHR:
		kind = "a character device"
	case unix.S_IFBLK:
		kind = "a block device"
	case unix.S_IFSOCK:
		kind = "a socket"
	default:
		kind = fmt.Sprintf("of file type %#o", st.Mode&unix.S_IFMT)
	}
	return &BadFileError{Path: path, What: "is " + kind + ", not a regular file"}
}

func capString(limit int64) string {
	if limit >= 1<<20 && limit%(1<<20) == 0 {
		return strconv.FormatInt(limit>>20, 10) + " MiB"
	}
	return strconv.FormatInt(limit, 10) + "-byte"
}

// Read reads from the file; past the cap it fails with a BadFileError.
func (f *ImageFile) Read(p []byte) (int, error) {
	if f.read > f.limit {
		return 0, f.tooLarge()
	}
	if room := f.limit + 1 - f.read; int64(len(p)) > room {
		p = p[:room] // at most one byte past the cap: enough to tell
	}
	n, err := f.f.Read(p)
	f.read += int64(n)
	if f.read > f.limit {
		return n - int(f.read-f.limit), f.tooLarge()
	}
	return n, err
}

func (f *ImageFile) tooLarge() error {
	return &BadFileError{Path: f.path, What: "grew past the " + capString(f.limit) + " cap while it was read"}
}

// MaxEntry is the ReadOption that caps an entry at the file's size: no
// size field can then make ReadImage allocate more than the file holds.
func (f *ImageFile) MaxEntry() ReadOption { return MaxEntrySize(entryCapFor(f.info.Size())) }

// Info is the file's stat at open (size, permission bits).
func (f *ImageFile) Info() fs.FileInfo { return f.info }

// Close closes the file.
func (f *ImageFile) Close() error { return f.f.Close() }

// ReadFileCapped reads the whole file at path through OpenImageFile (so
// only a regular file of at most limit bytes) and returns its bytes and
// its stat at open.
func ReadFileCapped(path string, limit int64) ([]byte, fs.FileInfo, error) {
	f, err := OpenImageFile(path, limit)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	// One byte more than the size at open: a file that did not grow is
	// read without a reallocation.
	buf := bytes.NewBuffer(make([]byte, 0, f.info.Size()+1))
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), f.info, nil
}

// ReadImageFile reads the image at path (OpenImageFile with
// MaxImageFileSize); errors name the file by its base name. No entry may
// be larger than the file itself, so a size field cannot make it allocate
// more than the file holds.
func ReadImageFile(path string, opts ...ReadOption) (*Image, error) {
	f, err := OpenImageFile(path, MaxImageFileSize)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadImage(f, filepath.Base(path), append([]ReadOption{f.MaxEntry()}, opts...)...)
}

// entryCapFor is DefaultMaxEntrySize, or the file's size when smaller.
func entryCapFor(size int64) uint32 {
	if size < DefaultMaxEntrySize {
		return uint32(size)
	}
	return DefaultMaxEntrySize
}
