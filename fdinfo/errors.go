package fdinfo

import (
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"
)

// Errors a caller can test with errors.Is to choose an exit code or retry.
var (
	// ErrNoProcess: the pid does not exist.
	ErrNoProcess = errors.New("no such process")
	// ErrPermission: /proc/<pid> exists but may not be read by us
	// (ptrace access mode check: another user without CAP_SYS_PTRACE,
	// or a Yama/LSM restriction).
	ErrPermission = errors.New("permission denied")
	// ErrExited: the process had begun to exit (PF_EXITING), was a zombie,
	// or went away, when its scan began or by its end: its files were being
	// taken away, so what was read (returned with this error) is partial.
	ErrExited = errors.New("process exited during the scan")
	// ErrClosed marks an Object whose fd was closed between the directory
	// listing and the reads (normal for a running process).
	ErrClosed = errors.New("fd closed during the scan")
)

// Classify maps an error met reading /proc/<pid> of a process that was
// already scanned (its mount table, its root, a path inside it) to the
// sentinels, so that callers test one set with errors.Is: the task gone
// (ESRCH, ENOENT) is ErrExited, since it existed a moment before; EACCES
// or EPERM is ErrPermission. The original error stays in the message. An
// error that already wraps a sentinel, any other error, and nil are
// returned as they are.
func Classify(err error) error {
	switch {
	case errors.Is(err, ErrNoProcess), errors.Is(err, ErrPermission), errors.Is(err, ErrExited):
		return err
	case errors.Is(err, unix.ESRCH), errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %v", ErrExited, err)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return fmt.Errorf("%w: %v", ErrPermission, err)
	}
	return err
}

// classify maps a syscall error on /proc/<pid> at the start of its scan to
// one of the sentinel errors, keeping the original for the message. Unlike
// Classify, a missing pid here is ErrNoProcess: nothing has shown yet that
// it ever existed.
func classify(pid int, what string, err error) error {
	var sentinel error
	hint := ""
	switch {
	case errors.Is(err, unix.ESRCH), errors.Is(err, fs.ErrNotExist):
		sentinel = ErrNoProcess
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		sentinel = ErrPermission
		hint = "; run as root, or with CAP_SYS_PTRACE (and CAP_CHECKPOINT_RESTORE for map_files)"
	default:
		return fmt.Errorf("pid %d: %s: %w", pid, what, err)
	}
	if errors.Is(err, unix.EACCES) || errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("pid %d: %s: %w%s", pid, what, sentinel, hint)
	}
	return fmt.Errorf("pid %d: %s: %w (%v)%s", pid, what, sentinel, err, hint)
}

// gone reports whether err means the object vanished (fd closed, task
// exited): those are races, not failures.
func gone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH)
}
