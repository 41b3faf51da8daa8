package fdinfo

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// Scanner reads the file references of processes from a procfs mount.
// The zero value scans /proc with GOMAXPROCS workers and reads map_files.
type Scanner struct {
	// Proc is the procfs mount to read ("" means "/proc").
	Proc string
	// Workers is the number of goroutines reading fds in parallel; 0 means
	// runtime.GOMAXPROCS(0). The per-fd work is three path walks in /proc,
	// all kernel time, so it scales with cores.
	Workers int
	// NoMapFiles skips /proc/<pid>/map_files (which needs CAP_SYS_ADMIN or,
	// since 5.9, CAP_CHECKPOINT_RESTORE). Without it a mapping has only what
	// maps says, which before 6.8 is the layer inode for overlay files.
	NoMapFiles bool
}

// Process is what one scan of one file table found.
type Process struct {
	PID  int // the task read: a process, or a thread with its own file table
	TGID int // its thread group
	PPID int
	Comm string
	// FilesID numbers the distinct file tables of a scan from 1, as CRIU's
	// files_id does: fdinfo-<FilesID>.img holds this table's fds.
	FilesID uint32
	// Objects lists fds (in fd order), then cwd, root, exe, mappings and
	// watches. Objects whose reads raced with the process keep Err set.
	Objects []Object
}

func (s *Scanner) proc() string {
	if s.Proc == "" {
		return "/proc"
	}
	return s.Proc
}

func (s *Scanner) workers() int {
	if s.Workers > 0 {
		return s.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// procDir is an open /proc/<pid> (or /proc/<tgid>/task/<tid>) directory.
type procDir struct {
	pid int
	fd  int
}

func (s *Scanner) openPid(pid int, tgid int) (*procDir, error) {
	path := s.proc() + "/" + strconv.Itoa(pid)
	if tgid != 0 && tgid != pid {
		path = s.proc() + "/" + strconv.Itoa(tgid) + "/task/" + strconv.Itoa(pid)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, classify(pid, "open "+path, err)
	}
	return &procDir{pid: pid, fd: fd}, nil
}

func (p *procDir) close() { unix.Close(p.fd) }

// alive reports whether the task behind p still exists. /proc/<pid> entries
// of a dead task fail with ENOENT or ESRCH even through an open dir fd.
func (p *procDir) alive() bool {
	var st unix.Stat_t
	return unix.Fstatat(p.fd, "stat", &st, 0) == nil
}

// Scan reads every file reference of process pid: fds, cwd, root, exe,
// file-backed mappings and fsnotify marks. Errors: ErrNoProcess,
// ErrPermission, or ErrExited (with the partial Process) via errors.Is.
func (s *Scanner) Scan(pid int) (*Process, error) {
	pd, err := s.openPid(pid, 0)
	if err != nil {
		return nil, err
	}
	defer pd.close()
	p := &Process{PID: pid, TGID: pid, FilesID: 1}
	if err := readStatus(pd, p); err != nil {
		return nil, err
	}
	if err := s.scanFds(pd, p); err != nil {
		return p, err
	}
	for _, k := range []Kind{KindCwd, KindRoot, KindExe} {
		p.Objects = append(p.Objects, scanSpecial(pd, k))
	}
	if err := s.scanMaps(pd, p); err != nil {
		return p, err
	}
	p.Objects = appendWatches(p.Objects, pid)
	if !pd.alive() {
		return p, fmt.Errorf("pid %d: %w", pid, ErrExited)
	}
	return p, nil
}

// scanFds reads /proc/<pid>/fd and fdinfo, splitting the fds over workers.
func (s *Scanner) scanFds(pd *procDir, p *Process) error {
	fdDir, err := unix.Openat(pd.fd, "fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return classify(pd.pid, "open fd directory", err)
	}
	defer unix.Close(fdDir)
	infoDir, err := unix.Openat(pd.fd, "fdinfo", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return classify(pd.pid, "open fdinfo directory", err)
	}
	defer unix.Close(infoDir)
	fds, err := listFds(fdDir)
	if err != nil {
		return classify(pd.pid, "list fds", err)
	}
	objs := make([]Object, len(fds))
	stats := make([]Stat, len(fds))
	infos := make([]Info, len(fds))
	w := min(s.workers(), max(1, len(fds)/64)) // tiny tables: no goroutines
	chunk := (len(fds) + w - 1) / max(w, 1)
	var wg sync.WaitGroup
	for lo := 0; lo < len(fds); lo += chunk {
		hi := min(lo+chunk, len(fds))
		work := func() {
			r := newFdReader(fdDir, infoDir, pd.pid)
			for i := lo; i < hi; i++ {
				r.read(fds[i], &objs[i], &stats[i], &infos[i])
			}
		}
		if w == 1 {
			work()
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); work() }()
	}
	wg.Wait()
	p.Objects = append(p.Objects, objs...)
	return nil
}

// listFds returns the fd numbers of an open /proc/<pid>/fd, in the
// kernel's (ascending) order. A 32 KiB getdents64 buffer takes ~1,300
// names a call: a larger one only costs page faults.
func listFds(dirfd int) ([]int, error) {
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
