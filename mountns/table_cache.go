package mountns

import (
	"fmt"
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
func NamespaceOf(pid int) (uint64, error) {
	var st unix.Stat_t
	p := "/proc/" + strconv.Itoa(pid) + "/ns/mnt"
	if err := unix.Stat(p, &st); err != nil {
		return 0, fmt.Errorf("mount namespace of pid %d: %w", pid, noSuchProcess(err))
	}
	return st.Ino, nil
}
