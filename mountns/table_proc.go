package mountns

import (
	"fmt"
	"os"
	"strconv"
)

// ReadTable reads /proc/<pid>/mountinfo: the mount namespace of pid, with
// mountpoints relative to pid's root (mounts outside that root are left out
// by the kernel). An exited or unknown pid gives an error that satisfies
// errors.Is(err, fs.ErrNotExist) (the kernel answers ENOENT, or ESRCH for a
// task that died while being read). The read costs what the kernel takes to
// print the table, which a stack of mounts on one path makes superlinear
// (see the package doc).
func ReadTable(pid int) (*Table, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("mount table of pid %d: %w", pid, noSuchProcess(err))
	}
	defer f.Close()
	// The kernel formats mountinfo inside read(2), a page a call; read it
	// in 16 KiB chunks up to four ahead of the parse (readahead.go): small
	// chunks keep the parse close behind the kernel, so little is left to
	// parse when the last read returns.
	ra := newReadAhead(f, 16<<10, 4)
	defer ra.Close()
	t, err := ParseTable(ra)
	if err != nil {
		return nil, fmt.Errorf("mount table of pid %d: %w", pid, noSuchProcess(err))
	}
	return t, nil
}
