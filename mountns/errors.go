package mountns

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// noSuchProcess makes ESRCH (a task that exits while its /proc files are
// read) detectable like ENOENT: errors.Is(err, fs.ErrNotExist). syscall.Errno
// maps ENOENT to fs.ErrNotExist itself, but not ESRCH.
func noSuchProcess(err error) error {
	if errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("%w (%w)", fs.ErrNotExist, err)
	}
	return err
}
