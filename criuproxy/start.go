package criuproxy

import (
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/ovlfix/ovlfix/internal/quote"
	"golang.org/x/sys/unix"
)

// inheritedFDs lists this process's fds without close-on-exec, but skip:
// what the runtime passed to "CRIU" (the Go runtime's own fds are all
// close-on-exec).
func inheritedFDs(skip int) ([]int, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, fmt.Errorf("listing inherited fds: %w", err)
	}
	var fds []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n == skip {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(n), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue // the ReadDir's own fd, the Go runtime's
		}
		fds = append(fds, n)
	}
	return fds, nil
}

// startCRIU starts `real swrk <at>` with every inherited fd at its own
// number and sock at number at.
func startCRIU(real string, at, sock int, inherited []int) (*os.Process, error) {
	top := at
	for _, fd := range inherited {
		top = max(top, fd)
	}
	files := make([]uintptr, top+1)
	for i := range files {
		files[i] = ^uintptr(0) // closed in the child
	}
	for _, fd := range inherited {
		files[fd] = uintptr(fd)
	}
	files[at] = uintptr(sock)
	pid, err := syscall.ForkExec(real, []string{real, "swrk", strconv.Itoa(at)}, &syscall.ProcAttr{Env: os.Environ(), Files: files})
	if err != nil {
		return nil, fmt.Errorf("starting the real CRIU %s: %w", quote.String(real), err)
	}
	return os.FindProcess(pid)
}
