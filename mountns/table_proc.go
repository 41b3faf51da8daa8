package mountns

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
)

// ReadTable reads /proc/<pid>/mountinfo: the mount namespace of pid, with
// mountpoints relative to pid's root (mounts outside that root are left out
// by the kernel). An exited or unknown pid gives an error that satisfies
// errors.Is(err, fs.ErrNotExist) (the kernel answers ENOENT, or ESRCH for a
// task that died while being read).
func ReadTable(pid int) (*Table, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("mount table of pid %d: %w", pid, noSuchProcess(err))
	}
	defer f.Close()
	// Large reads: seq_file fills each read(2) as far as it can, so this
	// costs a few syscalls instead of one per 4 KiB.
	t, err := ParseTable(bufio.NewReaderSize(f, 256<<10))
	if err != nil {
		return nil, fmt.Errorf("mount table of pid %d: %w", pid, noSuchProcess(err))
	}
	return t, nil
}
