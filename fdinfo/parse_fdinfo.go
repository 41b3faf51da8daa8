package fdinfo

import (
	"bytes"
	"fmt"
	"io"
)

// ParseFdinfo parses the text of /proc/<pid>/fdinfo/<fd>. It reads r to the
// end and calls ParseFdinfoBytes.
func ParseFdinfo(r io.Reader) (*Info, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("fdinfo: %w", err)
	}
	return ParseFdinfoBytes(b)
}

// ParseFdinfoBytes parses the text of /proc/<pid>/fdinfo/<fd>. It does not
// keep b (Extra strings and handles are copies), so the caller may reuse the
// buffer. For the four-line fdinfo of a plain file it allocates only the Info.
//
// Layout (fs/proc/fd.c seq_show): first the header, always in this order:
//
//	pos:	%lli      since 2.6.22 (with flags:)
//	flags:	0%o       f_flags, plus O_CLOEXEC when the fd has FD_CLOEXEC
//	mnt_id:	%i        since 3.15; MntID is -1 before
//	ino:	%lu       since ~5.14; HasIno says whether it was there
//
// then "lock:" lines (fs/locks.c, kept in Extra), then the file type's own
// show_fdinfo lines. Of those, the inotify/fanotify lines (fs/notify/fdinfo.c,
// 3.8+), "eventfd-count:" (fs/eventfd.c) and epoll "tfd:" lines
// (fs/eventpoll.c) are decoded; every other line (eventfd-id, timerfd,
// signalfd, pidfd, drm, io_uring, tun, bpf, fanotify mnt_ns/user_ns marks of
// 6.14+, ...) is kept verbatim in Extra, in order.
//
// A header key is decoded only in the header (the leading run of
// pos/flags/mnt_id/ino lines, each at most once): a driver line that happens
// to start with "ino:" or "flags:" later in the file goes to Extra rather
// than overwriting the header. pos: and flags: are required.
//
// Threat model: the text is printed by the kernel, but the caller may hand
// us any bytes (a file from a dump, a fuzzer). Malformed numbers are errors
// naming the line and field, wrapping ErrSyntax; nothing panics. Unknown
// keys inside a known line (a future inotify field) are skipped.
func ParseFdinfoBytes(b []byte) (*Info, error) {
	info := new(Info)
	if err := ParseFdinfoInto(b, info); err != nil {
		return nil, err
	}
	return info, nil
}

// ParseFdinfoInto is ParseFdinfoBytes into a caller-owned Info (reset
// first), so that a scan of thousands of fds can keep them in one slab.
func ParseFdinfoInto(b []byte, info *Info) error {
	if parsePlainFdinfo(b, info) {
		return nil
	}
	return parseFdinfoLines(b, info)
}

// parseFdinfoLines is the general parse of ParseFdinfoInto, line by line.
func parseFdinfoLines(b []byte, info *Info) error {
	*info = Info{MntID: -1}
	const (
		seenPos = 1 << iota
		seenFlags
		seenMnt
		seenIno
	)
	var seen uint8
	header := true
	for n := 1; len(b) > 0; n++ {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if header {
			bit, err := info.parseHeaderLine(line, n, seen)
			if err != nil {
				return err
			}
			if bit != 0 {
				seen |= uint8(bit)
				continue
			}
			header = false
		}
		if err := info.parseBodyLine(line, n); err != nil {
			return err
		}
	}
	if seen&seenPos == 0 {
		return fmt.Errorf("fdinfo: no pos: line: %w", errMissing)
	}
	if seen&seenFlags == 0 {
		return fmt.Errorf("fdinfo: no flags: line: %w", errMissing)
	}
	return nil
}

// parseHeaderLine decodes one pos/flags/mnt_id/ino line and returns its bit
// (the iota order in ParseFdinfoBytes), or 0 when line is not a header line
// not yet seen.
func (info *Info) parseHeaderLine(line []byte, n int, seen uint8) (int, error) {
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return 0, nil
	}
	key, val := line[:i], trimBlank(line[i+1:])
	switch string(key) {
	case "pos":
		if seen&1 != 0 {
			return 0, nil
		}
		v, err := parseInt(val, 64)
		if err != nil {
			return 0, fieldErr("fdinfo", n, "pos", val, err)
		}
		// f_pos is a signed loff_t; files with FMODE_UNSIGNED_OFFSET
		// (/dev/mem, /proc/<pid>/mem) print offsets ≥ 2^63 as negative.
		// The uint64 conversion gives back the offset.
		info.Pos = uint64(v)
		return 1, nil
	case "flags":
		if seen&2 != 0 {
			return 0, nil
		}
		v, err := parseUint(val, 8, 32)
		if err != nil {
			return 0, fieldErr("fdinfo", n, "flags", val, err)
		}
		info.Flags = uint32(v)
		return 2, nil
	case "mnt_id":
		if seen&4 != 0 {
			return 0, nil
		}
		v, err := parseInt(val, 32)
		if err != nil {
			return 0, fieldErr("fdinfo", n, "mnt_id", val, err)
		}
		info.MntID = int(v)
		return 4, nil
	case "ino":
		if seen&8 != 0 {
			return 0, nil
		}
		v, err := parseUint(val, 10, 64)
		if err != nil {
			return 0, fieldErr("fdinfo", n, "ino", val, err)
		}
		info.Ino, info.HasIno = v, true
		return 8, nil
	}
	return 0, nil
}

// parseBodyLine decodes one line after the header.
func (info *Info) parseBodyLine(line []byte, n int) error {
	switch {
	case bytes.HasPrefix(line, []byte("inotify ")):
		m, err := parseInotifyLine(line[len("inotify "):], n)
		if err != nil {
			return err
		}
		info.Marks = append(info.Marks, m)
		return nil
	case bytes.HasPrefix(line, []byte("fanotify ")):
		return info.parseFanotifyLine(line, n)
	case bytes.HasPrefix(line, []byte("tfd:")):
		t, err := parseEpollLine(line, n)
		if err != nil {
			return err
		}
		info.EpollTargets = append(info.EpollTargets, t)
		return nil
	case bytes.HasPrefix(line, []byte("eventfd-count:")) && !info.HasEventfd:
		// "eventfd-count: %16llx" (space padded).
		val := trimBlank(line[len("eventfd-count:"):])
		v, err := parseUint(val, 16, 64)
		if err != nil {
			return fieldErr("fdinfo", n, "eventfd-count", val, err)
		}
		info.EventfdCount, info.HasEventfd = v, true
		return nil
	}
	info.Extra = append(info.Extra, string(line))
	return nil
}

// parseEpollLine decodes one fs/eventpoll.c line:
//
//	tfd: %8d events: %8x data: %16llx  pos:%lli ino:%lx sdev:%x
//
// pos/ino/sdev were added later (for CRIU, 2014-2015 kernels); older lines
// stop after data, and the three stay zero. The kernel always adds EPOLLERR|EPOLLHUP to events.
func parseEpollLine(line []byte, n int) (EpollTarget, error) {
	var t EpollTarget
	var have uint8
	s := kvScanner{rest: line}
	for {
		key, val, ok := s.next()
		if !ok {
			break
		}
		var err error
		switch string(key) {
		case "tfd":
			var v int64
			v, err = parseInt(val, 32)
			t.TFD, have = int(v), have|1
		case "events":
			var v uint64
			v, err = parseUint(val, 16, 32)
			t.Events, have = uint32(v), have|2
		case "data":
			t.Data, err = parseUint(val, 16, 64)
			have |= 4
		case "pos":
			var v int64
			v, err = parseInt(val, 64)
			t.Pos = uint64(v)
		case "ino":
			t.Ino, err = parseUint(val, 16, 64)
		case "sdev":
			var v uint64
			v, err = parseUint(val, 16, 32)
			t.Sdev = uint32(v)
		}
		if err != nil {
			return t, fieldErr("fdinfo", n, "tfd "+string(key), val, err)
		}
	}
	if have != 7 {
		return t, lineErr("fdinfo", n, "tfd line needs tfd, events and data: %w", errMissing)
	}
	return t, nil
}

// kvScanner walks the blank-separated "key:value" tokens of a kernel line.
// A token "key:" with nothing after the colon takes the next token as its
// value when that token has no colon (the epoll "tfd:  12" style); otherwise
// the value is empty ("f_handle:" of a zero-length handle). A token without a
// colon is returned as a key with a nil value.
type kvScanner struct{ rest []byte }

func (s *kvScanner) next() (key, val []byte, ok bool) {
	tok, rest := nextToken(s.rest)
	s.rest = rest
	if len(tok) == 0 {
		return nil, nil, false
	}
	i := bytes.IndexByte(tok, ':')
	if i < 0 {
		return tok, nil, true
	}
	key, val = tok[:i], tok[i+1:]
	if len(val) == 0 {
		if peek, after := nextToken(s.rest); len(peek) > 0 && bytes.IndexByte(peek, ':') < 0 {
			val, s.rest = peek, after
		}
	}
	return key, val, true
}

// parsePlainFdinfo decodes the fdinfo of a file with nothing but the
// header, exactly as fs/proc/fd.c prints it since ~5.14:
//
//	"pos:\t%lli\nflags:\t0%o\nmnt_id:\t%i\nino:\t%lu\n"
//
// (ino: optional, for older kernels), which is what almost every fd of a
// scan has. It returns false for anything else, leaving info untouched,
// and ParseFdinfoInto then does the general parse; when it returns true
// the result is what ParseFdinfoInto gives (FuzzPlainFdinfo checks that).
// It exists for speed: one pass, no line splitting, no key switch.
func parsePlainFdinfo(b []byte, info *Info) bool {
	pos, b, ok := plainField(b, "pos:\t", 10, 18)
	if !ok {
		return false
	}
	flags, b, ok := plainField(b, "flags:\t", 8, 12)
	if !ok || flags > 1<<32-1 {
		return false
	}
	mnt, b, ok := plainField(b, "mnt_id:\t", 10, 9)
	if !ok {
		return false
	}
	var ino uint64
	hasIno := len(b) > 0
	if hasIno {
		if ino, b, ok = plainField(b, "ino:\t", 10, 19); !ok || len(b) > 0 {
			return false
		}
	}
	*info = Info{Pos: pos, Flags: uint32(flags), MntID: int(mnt), Ino: ino, HasIno: hasIno}
	return true
}

// plainField reads key, then 1 to maxDigits digits of base (8 or 10; at
// most 19 decimal or 12 octal digits, so no overflow check is needed
// beyond the caller's), then '\n'.
func plainField(b []byte, key string, base uint64, maxDigits int) (uint64, []byte, bool) {
	if len(b) < len(key) || string(b[:len(key)]) != key {
		return 0, nil, false
	}
	b = b[len(key):]
	var v uint64
	i := 0
	for ; i < len(b) && i <= maxDigits; i++ {
		d := uint64(b[i] - '0')
		if d >= base {
			break
		}
		v = v*base + d
	}
	if i == 0 || i > maxDigits || i >= len(b) || b[i] != '\n' {
		return 0, nil, false
	}
	return v, b[i+1:], true
}
