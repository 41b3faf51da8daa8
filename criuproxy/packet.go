package criuproxy

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// maxPacketFDs is the most fds one SCM_RIGHTS message can carry (the
// kernel's SCM_MAX_FD).
const maxPacketFDs = 253

// packet is one SOCK_SEQPACKET message: its bytes and the fds that came
// with it (owned by the receiver until sent on or closed).
type packet struct {
	data []byte
	fds  []int
}

func (p *packet) closeFDs() {
	for _, fd := range p.fds {
		_ = unix.Close(fd)
	}
	p.fds = nil
}

// recvPacket reads one packet of any size from a SOCK_SEQPACKET socket:
// it peeks its length first (MSG_PEEK|MSG_TRUNC, no control buffer, so no
// fd is installed by the peek), then reads it with room for the most fds
// a packet can carry. io.EOF: the peer closed. A truncated control part
// (MSG_CTRUNC) is an error: an fd would be lost.
func recvPacket(fd int) (packet, error) {
	var p packet
	for {
		n, _, err := unix.Recvfrom(fd, nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return p, fmt.Errorf("peek: %w", err)
		}
		buf := make([]byte, max(n, 1))
		oob := make([]byte, unix.CmsgSpace(maxPacketFDs*4))
		var oobn, flags int
		for {
			n, oobn, flags, _, err = unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
		if err != nil {
			return p, fmt.Errorf("recvmsg: %w", err)
		}
		fds, perr := parseRights(oob[:oobn])
		p = packet{data: buf[:n], fds: fds}
		switch {
		case perr != nil:
			p.closeFDs()
			return p, perr
		case flags&unix.MSG_CTRUNC != 0:
			p.closeFDs()
			return p, errors.New("recvmsg: control data truncated (fds lost)")
		case flags&unix.MSG_TRUNC != 0:
			p.closeFDs()
			return p, errors.New("recvmsg: packet truncated")
		case n == 0 && len(fds) == 0:
			// A SOCK_SEQPACKET peer that closed reads as a zero-length
			// packet; CRIU never sends an empty one (type is required).
			return p, io.EOF
		}
		return p, nil
	}
}

func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("control message: %w", err)
	}
	var fds []int
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_RIGHTS {
			continue
		}
		got, err := unix.ParseUnixRights(&m)
		if err != nil {
			for _, fd := range fds {
				_ = unix.Close(fd)
			}
			return nil, fmt.Errorf("SCM_RIGHTS: %w", err)
		}
		fds = append(fds, got...)
	}
	return fds, nil
}

// sendPacket writes p as one packet, with its fds as SCM_RIGHTS, and
// closes the fds (the receiver has its own copies now, or the send failed
// and they are of no use).
func sendPacket(fd int, p packet) error {
	defer p.closeFDs()
	var oob []byte
	if len(p.fds) > 0 {
		oob = unix.UnixRights(p.fds...)
	}
	for {
		err := unix.Sendmsg(fd, p.data, oob, nil, unix.MSG_NOSIGNAL)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sendmsg (%d bytes, %d fds): %w", len(p.data), len(p.fds), err)
		}
		return nil
	}
}
