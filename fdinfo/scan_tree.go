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

// Tree is what one walk of a process tree found (ScanTreeReport).
type Tree struct {
	// Processes are the distinct file tables read, the root first.
	Processes []*Process
	// Skipped are the tasks of the tree left out because they exited: a
	// zombie child not reaped yet, a child that exited between the listing
	// of its parent's children and its scan, or during it. The root is
	// never among them (its exit is the walk's error).
	Skipped []SkippedTask
}

// SkippedTask is one task of a tree that is not in Tree.Processes.
type SkippedTask struct {
	PID  int // the task: a process, or a thread with a file table of its own
	TGID int // its thread group (PID for a process)
	// Err says why; it wraps ErrExited (a zombie, or exiting or gone during
	// its scan) or ErrNoProcess (gone before its scan began).
	Err error
}

// String says what was left out and why; Err names the task's pid.
func (t SkippedTask) String() string {
	if t.TGID != t.PID {
		return fmt.Sprintf("left out a thread of pid %d: %v", t.TGID, t.Err)
	}
	return fmt.Sprintf("left out: %v", t.Err)
}

// ScanTree is ScanTreeReport without the list of skipped tasks.
func (s *Scanner) ScanTree(pid int) ([]*Process, error) {
	t, err := s.ScanTreeReport(pid)
	return t.Processes, err
}

// ScanTreeReport scans pid, every thread of it that has a file table of
// its own (threads created without CLONE_FILES, or after
// unshare(CLONE_FILES)), and all descendants, recursively. Each distinct
// file table gets its own FilesID; a process sharing another's table
// (CLONE_FILES without CLONE_THREAD) keeps its mappings and cwd/root/exe
// but not a second copy of the fds.
//
// A descendant or thread that is a zombie, or exits before or during its
// scan, is left out and listed in Tree.Skipped: a fork-heavy parent always
// has some, and CRIU does not dump their files either (a zombie has none).
// The root exiting is an error wrapping ErrExited, returned with what was
// read; any other error of any task (ErrPermission, ...) ends the walk.
// The returned Tree is never nil.
func (s *Scanner) ScanTreeReport(pid int) (*Tree, error) {
	tree := &Tree{}
	// owners holds a task per distinct file table, index = FilesID-1;
	// assign returns true when p's table is new.
	var owners []int
	assign := func(p *Process) bool {
		for i, o := range owners {
			if same, ok := sameFiles(o, p.readFrom); ok && same {
				p.FilesID = uint32(i + 1)
				return false
			}
		}
		owners = append(owners, p.readFrom)
		p.FilesID = uint32(len(owners))
		return true
	}
	// exited reports whether err is the task's exit, noting the task.
	exited := func(tid, tgid int, err error) bool {
		if !errors.Is(err, ErrNoProcess) && !errors.Is(err, ErrExited) {
			return false
		}
		tree.Skipped = append(tree.Skipped, SkippedTask{PID: tid, TGID: tgid, Err: err})
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
			if cur != pid && exited(cur, cur, err) {
				continue
			}
			return tree, err
		}
		if !assign(p) {
			p.Objects = dropFdObjects(p.Objects)
		}
		tree.Processes = append(tree.Processes, p)
		tids, children := s.tasksOf(cur)
		for _, tid := range tids {
			if tid == cur || tid == p.readFrom {
				continue
			}
			if same, ok := sameFiles(p.readFrom, tid); ok && same {
				continue
			}
			tp, err := s.scanThread(tid, cur)
			if err != nil {
				if exited(tid, cur, err) {
					continue
				}
				return tree, err
			}
			if assign(tp) {
				tree.Processes = append(tree.Processes, tp)
			}
		}
		queue = append(queue, children...)
	}
	return tree, nil
}

// scanThread scans the fds of a thread whose file table differs from its
// thread group leader's. A thread that is exiting or exits during the scan
// is ErrExited, as a process is in Scan.
func (s *Scanner) scanThread(tid, tgid int) (*Process, error) {
	pd, err := s.openPid(tid, tgid)
	if err != nil {
		return nil, err
	}
	defer pd.close()
	p := &Process{PID: tid, TGID: tgid, readFrom: tid}
	if err := readStatus(pd, p); err != nil {
		return nil, err
	}
	if err := pd.live(); err != nil {
		return nil, err
	}
	if err := s.scanFds(pd, p, nil); err != nil {
		return nil, pd.exitedOr(err)
	}
	p.Objects = appendWatches(p.Objects, tid)
	if err := pd.live(); err != nil {
		return nil, err
	}
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
