package quirks

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// bootIDPath holds a random UUID the kernel makes at each boot.
const bootIDPath = "/proc/sys/kernel/random/boot_id"

// boot identifies the running kernel instance: a cached Set is valid only
// for the same boot of the same release.
type boot struct{ release, bootID string }

func currentBoot() (boot, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return boot{}, fmt.Errorf("uname: %w", err)
	}
	id, err := os.ReadFile(bootIDPath)
	if err != nil {
		return boot{}, fmt.Errorf("read boot id: %w", err)
	}
	return boot{unix.ByteSliceToString(uts.Release[:]), strings.TrimSpace(string(id))}, nil
}
