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

// classify maps a syscall error on /proc/<pid> to one of the sentinel
// errors, keeping the original for the message.
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
