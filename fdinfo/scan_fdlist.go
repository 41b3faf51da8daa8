package fdinfo

import (
	"fmt"
	"slices"

	"golang.org/x/sys/unix"
)

// Which fds a task has.
//
// The C floor, lsof and CRIU list /proc/<pid>/fd with getdents64. For
// /proc that is not free: the kernel instantiates a dentry for every fd it
// lists (proc_fill_cache), about 0.6 µs per fd on this project's machines,
// some 8% of the whole per-fd cost, and it is serial work done before the
// parallel reads can start.
//
// Since Linux 6.2 (commit f1f1f2569901, "proc: report open files as size in
// stat() for /proc/pid/fd") stat of that directory gives the number of open
// fds as st_size. Fd numbers are handed out lowest-first, so real tables are
// dense or nearly so. Knowing the count, the scanner reads fds 0, 1, 2, ...
// by number (probeFds); a number that is not open fails the first syscall of
// its read (readlinkat, ENOENT) at the cost of one failed lookup, and is left
// out. It stops when it has found count fds. Each gap costs one failed
// lookup, up to a budget (probeBudget); past it the scanner lists the
// directory after all, for the fds it has not read yet. Before 6.2, and for
// a Proc that is not procfs (st_size means something else there), it lists.
//
// The set is what a listing would give: exact on a frozen task (CRIU's
// case); on a running task an fd opened or closed during the scan may be
// missed or recorded with ErrClosed, as with getdents.

// maxProbeCount bounds the st_size we believe: fs.nr_open is at most
// 1<<30, but a table that large is not scanned by number.
const maxProbeCount = 1 << 24

// openFdCount returns the number of open fds of an open /proc/<pid>/fd as
// Linux 6.2+ reports it, or 0 when it does not (older kernel, not procfs).
func openFdCount(fdDir int) int {
	var sfs unix.Statfs_t
	if unix.Fstatfs(fdDir, &sfs) != nil || sfs.Type != unix.PROC_SUPER_MAGIC {
		return 0
	}
	var st unix.Stat_t
	if unix.Fstat(fdDir, &st) != nil || st.Size <= 0 || st.Size > maxProbeCount {
		return 0
	}
	return int(st.Size)
}

// probeBudget is how many fd numbers that turn out not to be open a probe
// of count fds may try before it lists the directory instead: a failed
// lookup costs about two listed entries, so the budget keeps the worst case
// near the cost of the listing it replaces.
func probeBudget(count int) int { return 32 + count/4 }

// probeFds reads count fds of the table by number (see the comment at the
// top of this file). It returns them in fd order, in a slice with room for
// extra more Objects.
func (t *fdTable) probeFds(count, extra int) ([]Object, error) {
	objs := t.read(fdRange(0, count), true, extra)
	missing := count - len(objs)
	budget := probeBudget(count) - missing
	next := count
	for missing > 0 && budget > 0 {
		k := min(missing, budget)
		more := t.read(fdRange(next, next+k), true, 0)
		objs = append(objs, more...)
		missing -= len(more)
		budget -= k - len(more)
		next += k
	}
	if missing <= 0 {
		return objs, nil
	}
	// Too many gaps: list, and read what the probes have not.
	listed, err := listFds(t.fdDir)
	if err != nil {
		return objs, err
	}
	var rest []int
	for _, fd := range listed {
		if fd >= next || !hasFD(objs, fd) {
			rest = append(rest, fd)
		}
	}
	objs = append(objs, t.read(rest, false, 0)...)
	slices.SortFunc(objs, func(a, b Object) int { return a.FD - b.FD })
	return objs, nil
}

// hasFD reports whether objs, sorted by FD, holds fd.
func hasFD(objs []Object, fd int) bool {
	_, ok := slices.BinarySearchFunc(objs, fd, func(o Object, fd int) int { return o.FD - fd })
	return ok
}

// fdRange returns lo, lo+1, ..., hi-1.
func fdRange(lo, hi int) []int {
	s := make([]int, hi-lo)
	for i := range s {
		s[i] = lo + i
	}
	return s
}

// listFds returns the fd numbers of an open /proc/<pid>/fd, in the
// kernel's (ascending) order. A 32 KiB getdents64 buffer takes ~1,300
// names a call: a larger one only costs page faults.
func listFds(dirfd int) ([]int, error) {
	if _, err := unix.Seek(dirfd, 0, 0); err != nil {
		return nil, fmt.Errorf("rewind: %w", err)
	}
	buf := make([]byte, 32<<10)
	fds := make([]int, 0, 256)
	for {
		n, err := unix.Getdents(dirfd, buf)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return fds, nil
		}
		for off := 0; off < n; {
			reclen := int(buf[off+16]) | int(buf[off+17])<<8
			name := buf[off+19 : off+reclen]
			off += reclen
			fd, ok := atoiName(name)
			if ok {
				fds = append(fds, fd)
			}
		}
	}
}

// atoiName parses a NUL-terminated decimal dirent name ("." and ".." fail).
func atoiName(b []byte) (int, bool) {
	v := 0
	i := 0
	for ; i < len(b) && b[i] != 0; i++ {
		c := b[i]
		if c < '0' || c > '9' || v > 1<<30 {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, i > 0
}
