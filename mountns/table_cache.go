package mountns

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"

	"golang.org/x/sys/unix"
)

// Tables reads the mount table of each mount namespace met once: the
// processes of a tree mostly share one. A namespace is known by the inode
// of /proc/<pid>/ns/mnt. Not safe for concurrent use.
type Tables struct {
	byNS map[uint64]*Table
}

// NewTables returns an empty cache.
func NewTables() *Tables { return &Tables{byNS: map[uint64]*Table{}} }

// For returns the mount table of pid's mount namespace, the namespace's
// inode, and whether this call read it (the namespace was new). Errors
// name the pid; an exited pid satisfies errors.Is(err, fs.ErrNotExist).
func (ts *Tables) For(pid int) (t *Table, nsIno uint64, fresh bool, err error) {
	nsIno, err = NamespaceOf(pid)
	if err != nil {
		return nil, 0, false, err
	}
	if t := ts.byNS[nsIno]; t != nil {
		return t, nsIno, false, nil
	}
	if t, err = ReadTable(pid); err != nil {
		return nil, 0, false, err
	}
	ts.byNS[nsIno] = t
	return t, nsIno, true, nil
}

// NamespaceOf returns the inode of pid's mount namespace.
//
// A task reaped between the lookup of /proc/<pid>/ns/mnt and the following
// of its link makes the kernel answer EACCES, not ENOENT (proc_ns_get_link:
// get_proc_task finds no task; seen on 6.1 with a parent forking
// short-lived children). EACCES is therefore checked against /proc/<pid>
// itself: gone means exited (fs.ErrNotExist), present means a real denial.
func NamespaceOf(pid int) (uint64, error) {
	var st unix.Stat_t
	dir := "/proc/" + strconv.Itoa(pid)
	if err := unix.Stat(dir+"/ns/mnt", &st); err != nil {
		return 0, namespaceError(pid, dir, err)
	}
	return st.Ino, nil
}

// namespaceError names pid in err and makes an EACCES from a task whose
// /proc directory dir is gone an fs.ErrNotExist.
func namespaceError(pid int, dir string, err error) error {
	if errors.Is(err, unix.EACCES) {
		var st unix.Stat_t
		if gone := unix.Stat(dir, &st); errors.Is(gone, unix.ENOENT) || errors.Is(gone, unix.ESRCH) {
			err = fmt.Errorf("%w (the process exited while its namespace was read: %w)", fs.ErrNotExist, err)
		}
	}
	return fmt.Errorf("mount namespace of pid %d: %w", pid, noSuchProcess(err))
}
