package criuproxy

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// kcmpFile is KCMP_FILE of kcmp(2).
const kcmpFile = 0

// peer is the process on the other end of the runtime's socket
// (SO_PEERCRED: the creator of the socketpair). CRIU resolves some fd
// numbers of a request in its peer's fd table (/proc/<peer>/fd/<n>); with
// the proxy in between CRIU's peer is the proxy, so each such number must
// name the runtime's file in the proxy's table too.
type peer struct {
	pid   int
	pidfd int // -1 when the peer is this process
}

// socketPeer returns the peer of the socket fd and a pidfd for it.
func socketPeer(fd int) (peer, error) {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return peer{}, fmt.Errorf("SO_PEERCRED of fd %d: %w", fd, err)
	}
	p := peer{pid: int(cred.Pid), pidfd: -1}
	if p.pid == os.Getpid() {
		return p, nil
	}
	p.pidfd, err = unix.PidfdOpen(p.pid, 0)
	if err != nil {
		return peer{}, fmt.Errorf("pidfd_open of the runtime (pid %d): %w", p.pid, err)
	}
	return p, nil
}

// localize makes fd number n of the peer usable as n in this process: if
// this process's n is already the same open file (kcmp), n; else it takes
// the peer's file (pidfd_getfd) at the lowest free number >= n (kept open
// for the proxy's life, close-on-exec: CRIU opens it by /proc/<pid>/fd).
// The returned number differs from n when n was taken here by another
// file; the caller must then write it into the request.
func (p peer) localize(n int32) (int32, error) {
	if n < 0 || p.pidfd < 0 {
		return n, nil
	}
	self := os.Getpid()
	if r, _, errno := unix.Syscall6(unix.SYS_KCMP, uintptr(self), uintptr(p.pid), kcmpFile, uintptr(n), uintptr(n), 0); errno == 0 && r == 0 {
		return n, nil
	}
	got, err := unix.PidfdGetfd(p.pidfd, int(n), 0)
	if err != nil {
		return n, fmt.Errorf("fd %d of the runtime (pid %d): pidfd_getfd: %w", n, p.pid, err)
	}
	defer unix.Close(got)
	at, err := unix.FcntlInt(uintptr(got), unix.F_DUPFD_CLOEXEC, int(n))
	if err != nil {
		return n, fmt.Errorf("fd %d of the runtime (pid %d): F_DUPFD: %w", n, p.pid, err)
	}
	if at > int(^uint32(0)>>1) {
		_ = unix.Close(at)
		return n, errors.New("fd number out of range")
	}
	return int32(at), nil
}

func (p peer) close() {
	if p.pidfd >= 0 {
		_ = unix.Close(p.pidfd)
	}
}
