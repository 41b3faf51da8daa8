package fixup

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ovlfix/ovlfix/fdinfo"
)

// hostPIDs maps the dump's pids to host pids by walking the live process
// tree from root (the host pid of the dump's root task):
// /proc/<pid>/task/*/children for the descendants, and the NSpid line of
// /proc/<pid>/status for each one's pid as the root task's pid namespace
// sees it (the root's innermost level; a descendant in a deeper pid
// namespace has more levels, and the root's level is the one CRIU
// recorded). Without NSpid (kernels before 4.1) pids are host pids.
//
// The tasks are frozen during post-dump, so the tree cannot change under
// the walk. A task that exits anyway is simply not found: its entries
// become problems, never guesses.
type pidMap struct {
	ByVPID  map[uint32]int
	RootVID uint32 // the root task's pid in its own namespace
	Note    string // e.g. "no NSpid: pids taken as host pids"
}

func hostPIDs(proc string, root int) (*pidMap, error) {
	rootNS, err := nsPIDs(proc, root)
	if err != nil {
		return nil, err
	}
	pm := &pidMap{ByVPID: map[uint32]int{}}
	level := len(rootNS) - 1
	if level < 0 {
		pm.Note = "this kernel prints no NSpid (before 4.1): dump pids taken as host pids"
	}
	vpid := func(host int, ns []uint32) (uint32, bool) {
		if level < 0 {
			return uint32(host), true
		}
		if len(ns) <= level {
			return 0, false // outside the root's pid namespace: not a task of this dump
		}
		return ns[level], true
	}
	pm.RootVID, _ = vpid(root, rootNS)
	pm.ByVPID[pm.RootVID] = root
	queue := []int{root}
	seen := map[int]bool{root: true}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		kids, err := children(proc, pid)
		if err != nil {
			return nil, err
		}
		for _, k := range kids {
			if seen[k] {
				continue
			}
			seen[k] = true
			ns, err := nsPIDs(proc, k)
			if err != nil {
				continue // exited since its parent listed it: not found later
			}
			if v, ok := vpid(k, ns); ok {
				if _, dup := pm.ByVPID[v]; !dup {
					pm.ByVPID[v] = k
				}
			}
			queue = append(queue, k)
		}
	}
	return pm, nil
}

// nsPIDs returns the NSpid line of /proc/<pid>/status, outermost first
// (nil when the kernel prints none).
func nsPIDs(proc string, pid int) ([]uint32, error) {
	f, err := os.Open(filepath.Join(proc, strconv.Itoa(pid), "status"))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("pid %d: %w", pid, fdinfo.ErrNoProcess)
		}
		if os.IsPermission(err) {
			return nil, fmt.Errorf("pid %d: %w", pid, fdinfo.ErrPermission)
		}
		return nil, err
	}
	defer f.Close()
	return parseNSpid(f, pid)
}

func parseNSpid(f io.Reader, pid int) ([]uint32, error) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte("NSpid:")) {
			continue
		}
		var out []uint32
		for _, w := range strings.Fields(string(line[len("NSpid:"):])) {
			n, err := strconv.ParseUint(w, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("pid %d: status: NSpid %q: %w", pid, line, err)
			}
			out = append(out, uint32(n))
		}
		return out, nil
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("pid %d: status: %w", pid, err)
	}
	return nil, nil
}

// children lists the children of every thread of pid.
func children(proc string, pid int) ([]int, error) {
	base := filepath.Join(proc, strconv.Itoa(pid), "task")
	tids, err := os.ReadDir(base)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil // exited: its children were reparented, not ours to find
		}
		return nil, fmt.Errorf("pid %d: list threads: %w", pid, err)
	}
	var out []int
	for _, t := range tids {
		b, err := os.ReadFile(filepath.Join(base, t.Name(), "children"))
		if err != nil {
			continue // the thread exited
		}
		for _, w := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(w); err == nil && n > 0 {
				out = append(out, n)
			}
		}
	}
	return out, nil
}
