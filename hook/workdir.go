package hook

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// checkWorkDir makes sure dir (the hook's cwd, inherited from CRIU) is
// CRIU's work dir, where irmap_load_cache looks for irmap-cache: it must be
// the directory /proc/<criuPID>/cwd points at. criuPID is the pid in
// CRTOOLS_IMAGE_DIR (CRIU itself, even when a wrapper script sits between
// CRIU and the hook), else the parent's pid. A mismatch is an error: the
// hook then writes nothing rather than a cache CRIU would never read, or
// a file in a directory that is not CRIU's. When /proc/<pid>/cwd cannot be
// read (another user's CRIU, no ptrace access) the check is skipped and
// the returned note says so.
func checkWorkDir(dir string, criuPID int) (note string, err error) {
	who := "CRIU"
	if criuPID <= 0 {
		criuPID, who = os.Getppid(), "the parent process"
	}
	var own, theirs unix.Stat_t
	if err := unix.Stat(dir, &own); err != nil {
		return "", fmt.Errorf("work dir: stat %s: %w", dir, err)
	}
	cwd := "/proc/" + strconv.Itoa(criuPID) + "/cwd"
	if err := unix.Stat(cwd, &theirs); err != nil {
		return fmt.Sprintf("work dir not cross-checked: stat %s (%s): %v", cwd, who, err), nil
	}
	if own.Dev != theirs.Dev || own.Ino != theirs.Ino {
		return "", fmt.Errorf("work dir: this hook's cwd is not the cwd of %s (pid %d): not writing irmap-cache where CRIU would not read it", who, criuPID)
	}
	return fmt.Sprintf("work dir is the cwd of %s (pid %d)", who, criuPID), nil
}
