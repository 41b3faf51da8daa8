package fdinfo

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestIsProcfs: the raw syscall path is taken for /proc's fd and fdinfo
// directories and for nothing else (a tmpfs or ext4 directory, as the
// tests' fake /proc is).
func TestIsProcfs(t *testing.T) {
	for dir, want := range map[string]bool{
		"/proc/self/fd":     true,
		"/proc/self/fdinfo": true,
		t.TempDir():         false,
		"/":                 false,
	} {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := isProcfs(fd); got != want {
			t.Errorf("isProcfs(%s) = %v, want %v", dir, got, want)
		}
		unix.Close(fd)
	}
}
