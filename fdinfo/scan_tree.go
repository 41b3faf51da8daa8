package fdinfo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// kcmpFiles is KCMP_FILES from <linux/kcmp.h>.
const kcmpFiles = 2

// sameFiles reports whether two tasks share one file table (kcmp(2),
// 3.5+, needs ptrace read access to both). ok is false when kcmp cannot
// tell (no CONFIG_KCMP, EPERM); callers then treat the tables as distinct,
// which costs a duplicate scan but loses nothing.
func sameFiles(a, b int) (same, ok bool) {
	r, _, errno := unix.Syscall6(unix.SYS_KCMP, uintptr(a), uintptr(b), kcmpFiles, 0, 0, 0)
	if errno != 0 {
		return false, false
	}
	return r == 0, true
}

// ScanTree scans pid, every thread of it that has a file table of its own
// (threads created without CLONE_FILES, or after unshare(CLONE_FILES)), and
// all descendants, recursively. Each distinct file table gets its own
// FilesID; a process sharing another's table (CLONE_FILES without
// CLONE_THREAD) keeps its mappings and cwd/root/exe but not a second copy
// of the fds. Tasks that exit during the walk are left out; the root pid
// exiting is an error.
func (s *Scanner) ScanTree(pid int) ([]*Process, error) {
	var (
		out    []*Process
		owners []int // a task per distinct file table, index = FilesID-1
	)
	assign := func(p *Process) bool { // returns true when p's table is new
		for i, o := range owners {
			if same, ok := sameFiles(o, p.PID); ok && same {
				p.FilesID = uint32(i + 1)
				return false
			}
		}
		owners = append(owners, p.PID)
		p.FilesID = uint32(len(owners))
		return true
	}
	queue := []int{pid}
	seen := map[int]bool{}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if seen[cur] {
			continue
		}
		seen[cur] = true
		p, err := s.Scan(cur)
		if err != nil {
			if cur == pid {
				return out, err
			}
			if errors.Is(err, ErrNoProcess) || errors.Is(err, ErrExited) {
				continue // a descendant exited: normal
			}
			return out, err
		}
		if !assign(p) {
			p.Objects = dropFdObjects(p.Objects)
		}
		out = append(out, p)
		tids, children := s.tasksOf(cur)
		for _, tid := range tids {
			if tid == cur {
				continue
			}
			if same, ok := sameFiles(cur, tid); ok && same {
				continue
			}
			tp, err := s.scanThread(tid, cur)
			if err != nil {
				continue // the thread exited
			}
			if assign(tp) {
				out = append(out, tp)
			}
		}
		queue = append(queue, children...)
	}
	return out, nil
}

// scanThread scans the fds of a thread whose file table differs from its
// thread group leader's.
func (s *Scanner) scanThread(tid, tgid int) (*Process, error) {
	pd, err := s.openPid(tid, tgid)
	if err != nil {
		return nil, err
	}
	defer pd.close()
	p := &Process{PID: tid, TGID: tgid}
	if err := readStatus(pd, p); err != nil {
		return nil, err
	}
	if err := s.scanFds(pd, p, nil); err != nil {
		return nil, err
	}
	p.Objects = appendWatches(p.Objects, tid)
	return p, nil
}

// tasksOf lists the threads of process pid and the children of all of
// them (/proc/<pid>/task/<tid>/children, CONFIG_PROC_CHILDREN; without it
// the children are found by scanning every /proc/<n>/status for PPid).
func (s *Scanner) tasksOf(pid int) (tids, children []int) {
	taskDir := s.proc() + "/" + strconv.Itoa(pid) + "/task"
	ents, err := os.ReadDir(taskDir)
	if err != nil {
		return nil, nil
	}
	haveChildren := true
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		tids = append(tids, tid)
		b, err := os.ReadFile(taskDir + "/" + e.Name() + "/children")
		if err != nil {
			haveChildren = haveChildren && !errors.Is(err, os.ErrNotExist)
			continue
		}
		for _, f := range bytes.Fields(b) {
			if c, err := strconv.Atoi(string(f)); err == nil {
				children = append(children, c)
			}
		}
	}
	if !haveChildren {
		children = s.childrenByScan(pid)
	}
	return tids, children
}

// childrenByScan finds the children of pid without the children file.
func (s *Scanner) childrenByScan(pid int) []int {
	ents, err := os.ReadDir(s.proc())
	if err != nil {
		return nil
	}
	var out []int
	want := []byte("PPid:\t" + strconv.Itoa(pid) + "\n")
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n == pid {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("%s/%d/status", s.proc(), n))
		if err == nil && bytes.Contains(b, want) {
			out = append(out, n)
		}
	}
	return out
}

func dropFdObjects(objs []Object) []Object {
	out := objs[:0]
	for _, o := range objs {
		if o.Kind != KindFD && o.Kind != KindWatch {
			out = append(out, o)
		}
	}
	return out
}
