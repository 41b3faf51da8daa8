package fdinfo

import (
	"errors"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

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
	// readFrom is the task whose /proc directory was read: PID, or a live
	// thread when PID is a leader that exited alone (see Scan).
	readFrom int
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

// Scan reads every file reference of process pid: fds, cwd, root, exe,
// file-backed mappings and fsnotify marks. Errors: ErrNoProcess,
// ErrPermission, or ErrExited (with the partial Process) via errors.Is.
//
// A task that is exiting or a zombie when the scan starts, or that has
// begun to exit by its end, is ErrExited, never a success: its fds vanish
// without a trace (see task_state.go). The one exception is a thread-group
// leader that exited alone (pthread_exit in main): it stays a zombie while
// its threads run on with the process's files, which are then read through
// a live thread (its Objects carry that thread's PID).
func (s *Scanner) Scan(pid int) (*Process, error) {
	pd, err := s.openPid(pid, 0)
	if err != nil {
		return nil, err
	}
	defer func() { pd.close() }()
	p := &Process{PID: pid, TGID: pid, FilesID: 1}
	if err := readStatus(pd, p); err != nil {
		return nil, err
	}
	if err := pd.live(); err != nil {
		t := s.liveThread(p.TGID, pid, err)
		if t == nil {
			return p, err
		}
		pd.close()
		pd = t
	}
	p.readFrom = pd.pid
	// cwd, root, exe and the mappings: with more than one worker, one of
	// them reads these first and then joins the fds (serial work of ~1 ms
	// per 100 mappings that would otherwise follow the parallel reads);
	// with one, or when the fds fail early, they are read here after.
	var rest []Object
	var restErr error
	readRest := sync.OnceFunc(func() {
		for _, k := range []Kind{KindCwd, KindRoot, KindExe} {
			rest = append(rest, scanSpecial(pd, k))
		}
		rest, restErr = s.scanMaps(pd, rest)
	})
	fdErr := s.scanFds(pd, p, readRest)
	readRest()
	if fdErr != nil {
		return p, pd.exitedOr(fdErr)
	}
	p.Objects = append(p.Objects, rest...)
	if restErr != nil {
		return p, pd.exitedOr(restErr)
	}
	p.Objects = appendWatches(p.Objects, pd.pid)
	if err := pd.live(); err != nil {
		return p, err
	}
	return p, nil
}

// liveThread returns an open live thread of process pid when pid is a
// thread-group leader that has exited alone (why wraps ErrExited), or nil.
func (s *Scanner) liveThread(tgid, pid int, why error) *procDir {
	if tgid != pid || !errors.Is(why, ErrExited) {
		return nil
	}
	ents, err := os.ReadDir(s.proc() + "/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return nil
	}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil || tid == pid {
			continue
		}
		t, err := s.openPid(tid, pid)
		if err != nil {
			continue
		}
		if t.live() == nil {
			return t
		}
		t.close()
	}
	return nil
}

// scanFds reads /proc/<pid>/fd and fdinfo, splitting the fds over workers.
// On Linux 6.2+ it reads them by number instead of listing the directory
// (scan_fdlist.go). side, if not nil, is run by a worker goroutine before
// it reads fds, when there is one (see fdTable.side).
func (s *Scanner) scanFds(pd *procDir, p *Process, side func()) error {
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
	t := &fdTable{pid: pd.pid, fdDir: fdDir, infoDir: infoDir, raw: isProcfs(fdDir) && isProcfs(infoDir),
		workers: s.workers(), side: side}
	// Room for cwd, root, exe and a typical process's mappings, so that
	// the fd slab becomes p.Objects without another copy.
	const extra = 3 + 256
	var objs []Object
	if n := openFdCount(fdDir); n > 0 {
		objs, err = t.probeFds(n, extra)
	} else {
		var fds []int
		if fds, err = listFds(fdDir); err == nil {
			objs = t.read(fds, false, extra)
		}
	}
	if err != nil {
		return pd.exitedOr(classify(pd.pid, "list fds", err))
	}
	if len(p.Objects) == 0 {
		p.Objects = objs
	} else {
		p.Objects = append(p.Objects, objs...)
	}
	return nil
}

// isProcfs reports whether dirfd is on procfs (fstatfs f_type
// PROC_SUPER_MAGIC). Scanner.Proc may name any directory (the tests' fake
// /proc does), and there a "fdinfo" file can be a FIFO that blocks.
func isProcfs(dirfd int) bool {
	var st unix.Statfs_t
	return unix.Fstatfs(dirfd, &st) == nil && st.Type == unix.PROC_SUPER_MAGIC
}

// fdTable is one open /proc/<pid>/fd and fdinfo pair being read.
type fdTable struct {
	pid            int
	fdDir, infoDir int
	// raw: both directories are procfs, so the fdReader may take the raw
	// syscall path (see fdReader.raw).
	raw     bool
	workers int
	// side is other work of the scan that a worker goroutine does first,
	// so that there are never more runnable goroutines than workers: a
	// third one would make the runtime hand a worker's P away whenever
	// it is in a syscall, which costs more than the side work. It is
	// run at most once; read leaves it alone when it starts no goroutine.
	side func()
}

// read reads fds, split over the workers, into Objects in the order of
// fds. With probe, an fd number that is not open is left out; without, it
// is recorded with ErrClosed (it was listed, so it closed during the scan).
// The result has room for extra more Objects.
func (t *fdTable) read(fds []int, probe bool, extra int) []Object {
	objs := make([]Object, len(fds), len(fds)+extra)
	var next, absent atomic.Int64
	work := func() {
		r := newFdReader(t.fdDir, t.infoDir, t.pid, t.raw)
		n := 0
		for {
			hi := int(next.Add(fdChunk))
			lo := hi - fdChunk
			if lo >= len(fds) {
				break
			}
			hi = min(hi, len(fds))
			// Stat and Info slabs per chunk: allocated (and zeroed, and
			// faulted in) by the worker, in parallel, not up front.
			stats, infos := make([]Stat, hi-lo), make([]Info, hi-lo)
			for i := lo; i < hi; i++ {
				if !r.read(fds[i], &objs[i], &stats[i-lo], &infos[i-lo]) && probe {
					objs[i].FD = -1
					n++
				}
			}
		}
		absent.Add(int64(n))
	}
	// Workers take chunks from a shared counter, so one slowed down (the
	// other core busy with something else) does not hold up the scan.
	w := min(t.workers, max(1, len(fds)/fdChunk)) // tiny tables: no goroutines
	var wg sync.WaitGroup
	for range w - 1 {
		wg.Add(1)
		go func(side func()) {
			defer wg.Done()
			if side != nil {
				side()
			}
			work()
		}(t.side)
		t.side = nil
	}
	work()
	wg.Wait()
	if absent.Load() == 0 {
		return objs
	}
	out := objs[:0]
	for i := range objs {
		if objs[i].FD >= 0 {
			out = append(out, objs[i])
		}
	}
	return out
}

// fdChunk is how many fds a worker takes at a time: large enough that the
// shared counter is touched rarely, small enough to even out the workers.
const fdChunk = 256
