package fdinfo_test

import (
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/fdinfo"
	"golang.org/x/sys/unix"
)

// manyFds is the fd count of the exit tests: a table large enough that a
// scan takes milliseconds. The holder raises its soft RLIMIT_NOFILE for it
// (a child gets the 1024 the test binary started with); a hard limit
// below it (4096 is the kernel's default) lowers the count.
func manyFds(t *testing.T) int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	n := min(5000, int(min(rl.Max, 1<<20))-64)
	if n < 5000 {
		t.Logf("hard RLIMIT_NOFILE %d: the holder holds %d fds", rl.Max, n)
	}
	return n
}

// countFds returns the fds in p and how many of them carry an error.
func countFds(p *fdinfo.Process) (fds, failed int) {
	if p == nil {
		return 0, 0
	}
	for _, o := range p.Objects {
		if o.Kind == fdinfo.KindFD {
			fds++
			if o.Err != nil {
				failed++
			}
		}
	}
	return fds, failed
}

// TestScanZombieManyFds: a task with many fds that has exited and is not
// reaped yet (a zombie: its fd directory lists nothing, its cwd, root and
// exe fail, its /proc entry is still there) is ErrExited for Scan and
// ScanTree, with both one and two workers, never a success with no fds.
func TestScanZombieManyFds(t *testing.T) {
	fds := manyFds(t)
	h := startFdHolder(t, fds, "")
	p, err := (&fdinfo.Scanner{}).Scan(h.pid)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := countFds(p); n < fds {
		t.Fatalf("live holder: %d fds scanned, want at least %d", n, fds)
	}
	h.kill()
	waitFor(t, "the holder is a zombie", func() bool { return taskState(h.pid) == 'Z' })
	for _, workers := range []int{1, 2} {
		s := fdinfo.Scanner{Workers: workers}
		p, err := s.Scan(h.pid)
		if !errors.Is(err, fdinfo.ErrExited) {
			n, _ := countFds(p)
			t.Errorf("workers %d: Scan of a zombie: err %v with %d fds, want ErrExited", workers, err, n)
		} else {
			t.Logf("workers %d: %v", workers, err)
		}
		if _, err := s.ScanTree(h.pid); !errors.Is(err, fdinfo.ErrExited) {
			t.Errorf("workers %d: ScanTree of a zombie root: %v, want ErrExited", workers, err)
		}
	}
}

// TestScanManyFdsKilledDuringScan: a task with many fds killed at spread
// moments before, during and after a scan (and not reaped before the scan
// returns). Every scan is either complete, every fd read, or ErrExited;
// never a success missing the fds exit took away.
func TestScanManyFdsKilledDuringScan(t *testing.T) {
	const rounds = 12
	var s fdinfo.Scanner
	var outcome [3]int // exited, complete, exited before the scan began
	fds := manyFds(t)
	for i := range rounds {
		h := startFdHolder(t, fds, "")
		start := time.Now()
		p, err := s.Scan(h.pid)
		d := time.Since(start)
		want, _ := countFds(p)
		if err != nil || want < fds {
			t.Fatalf("live holder: %d fds, %v", want, err)
		}
		// The kill lands from before the scan (i = 0) to after its end.
		delay := d * time.Duration(i) / (rounds - 4)
		timer := time.AfterFunc(delay, h.kill)
		p, err = s.Scan(h.pid)
		timer.Stop()
		h.kill()
		n, failed := countFds(p)
		switch {
		case err == nil && (n != want || failed != 0):
			t.Errorf("round %d (kill after %v of a %v scan): success with %d of %d fds, %d of them failed", i, delay, d, n, want, failed)
		case err == nil:
			outcome[1]++
		case !errors.Is(err, fdinfo.ErrExited):
			t.Errorf("round %d (kill after %v): %v, want ErrExited", i, delay, err)
		case n == 0:
			outcome[2]++
		default:
			outcome[0]++
		}
		h.reap()
	}
	t.Logf("%d rounds: %d ErrExited with a partial table, %d ErrExited before any fd, %d complete", rounds, outcome[0], outcome[2], outcome[1])
}

// TestScanZombieLeader: a process whose main thread ended alone
// (pthread_exit in main) has a zombie thread-group leader, an empty
// /proc/<pid>/fd and its files in its live threads. Scan reads them
// through a live thread; it is neither ErrExited nor a success without
// fds.
func TestScanZombieLeader(t *testing.T) {
	const fds = 64
	h := startFdHolder(t, fds, ",leader-exits")
	waitFor(t, "the holder's leader is a zombie", func() bool { return taskState(h.pid) == 'Z' })
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(h.pid) + "/task")
	if err != nil || len(tasks) < 2 {
		t.Fatalf("holder tasks %v (%v): want the leader and live threads", tasks, err)
	}
	for _, workers := range []int{1, 2} {
		s := fdinfo.Scanner{Workers: workers}
		p, err := s.Scan(h.pid)
		if err != nil {
			t.Fatalf("workers %d: %v", workers, err)
		}
		n, failed := countFds(p)
		if n < fds || failed != 0 {
			t.Fatalf("workers %d: %d fds (%d failed), want at least %d", workers, n, failed, fds)
		}
		var cwd *fdinfo.Object
		for i := range p.Objects {
			if p.Objects[i].Kind == fdinfo.KindCwd {
				cwd = &p.Objects[i]
			}
		}
		if cwd == nil || cwd.Err != nil {
			t.Errorf("workers %d: cwd %+v", workers, cwd)
		}
		if p.PID != h.pid || p.Objects[0].PID == h.pid {
			t.Errorf("workers %d: process %d, objects read from %d: want the process, read through a thread", workers, p.PID, p.Objects[0].PID)
		}
		t.Logf("workers %d: %d fds read through thread %d of zombie leader %d", workers, n, p.Objects[0].PID, h.pid)
	}
	procs, err := (&fdinfo.Scanner{}).ScanTree(h.pid)
	if err != nil || len(procs) != 1 {
		t.Fatalf("ScanTree: %d tables, %v; want one (the threads share it)", len(procs), err)
	}
}
