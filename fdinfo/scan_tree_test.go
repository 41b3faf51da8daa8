package fdinfo_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
)

// TestScanTreeThreadTable: a thread that unshared its file table is
// scanned as a table of its own, with its own files_id and its fd.
func TestScanTreeThreadTable(t *testing.T) {
	c := scenariotest.StartT(t, "", func(base string) scenario.Spec {
		return scenario.Spec{
			Base:  base,
			Files: []scenario.File{{Name: []byte("private.txt"), Layer: "lower", Content: "p"}},
			Ops:   []scenario.Op{{Kind: "thread-open", Path: []byte("private.txt")}},
		}
	})
	h := c.Held[0]
	if h.TID == 0 || h.TID == c.PID {
		t.Fatalf("thread-open reported tid %d (pid %d)", h.TID, c.PID)
	}
	var s fdinfo.Scanner
	procs, err := s.ScanTree(c.PID)
	if err != nil {
		t.Fatal(err)
	}
	var main, thread *fdinfo.Process
	for _, p := range procs {
		switch p.PID {
		case c.PID:
			main = p
		case h.TID:
			thread = p
		}
	}
	if main == nil || thread == nil {
		t.Fatalf("tree has %d tables; want the process and thread %d", len(procs), h.TID)
	}
	if thread.TGID != c.PID || thread.FilesID == main.FilesID {
		t.Errorf("thread table: tgid %d files_id %d (main %d)", thread.TGID, thread.FilesID, main.FilesID)
	}
	found := false
	for _, o := range thread.Objects {
		found = found || (o.Kind == fdinfo.KindFD && o.FD == h.FD && bytes.Equal(o.Link, h.Path))
	}
	if !found {
		t.Errorf("fd %d on %q not in the thread's table", h.FD, h.Path)
	}
	// Other threads share the main table and must not be listed again.
	if len(procs) != 2 {
		t.Errorf("%d tables listed, want 2", len(procs))
	}
}

// startShell runs script under sh in a process group of its own, killed
// with all its descendants when the test ends, and returns sh's pid.
func startShell(t *testing.T, script string) int {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	return cmd.Process.Pid
}

// childrenOf returns the children of pid's main thread.
func childrenOf(pid int) []int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// checkScanned fails the test for a process of a tree that ScanTree
// returned but that had exited: a task that passed the scan's last check
// read its cwd (exit_fs comes after PF_EXITING), a zombie cannot.
func checkScanned(t *testing.T, procs []*fdinfo.Process) {
	t.Helper()
	for _, p := range procs {
		if p.TGID != p.PID {
			continue // a thread's table: fds only
		}
		var cwd *fdinfo.Object
		for i := range p.Objects {
			if p.Objects[i].Kind == fdinfo.KindCwd {
				cwd = &p.Objects[i]
			}
		}
		if cwd == nil || cwd.Err != nil {
			t.Errorf("pid %d (%s) returned as scanned, but its cwd: %+v (an exited task)", p.PID, p.Comm, cwd)
		}
	}
}

// TestScanTreeZombieChild: a parent with a zombie child (exited, never
// reaped) and a live one. The tree scan succeeds, has the parent and the
// live child, leaves the zombie out and says so in Skipped.
func TestScanTreeZombieChild(t *testing.T) {
	// sleep never reaps: the subshell of "(exit 0) &" stays a zombie.
	pid := startShell(t, "(exit 0) & sleep 600 & exec sleep 600")
	var zombie, live int
	waitFor(t, "one child is a zombie and one sleeps", func() bool {
		zombie, live = 0, 0
		for _, c := range childrenOf(pid) {
			switch taskState(c) {
			case 'Z':
				zombie = c
			case 'S':
				live = c
			}
		}
		return zombie != 0 && live != 0 && taskState(pid) == 'S'
	})
	var s fdinfo.Scanner
	tree, err := s.ScanTreeReport(pid)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]bool{}
	for _, p := range tree.Processes {
		got[p.PID] = true
	}
	if !got[pid] || !got[live] || got[zombie] || len(tree.Processes) != 2 {
		t.Errorf("scanned %v: want parent %d and live child %d, not zombie %d", got, pid, live, zombie)
	}
	checkScanned(t, tree.Processes)
	if len(tree.Skipped) != 1 || tree.Skipped[0].PID != zombie || !errors.Is(tree.Skipped[0].Err, fdinfo.ErrExited) {
		t.Fatalf("skipped %v, want zombie %d with ErrExited", tree.Skipped, zombie)
	}
	t.Logf("%v", tree.Skipped[0])
	procs, err := s.ScanTree(pid)
	if err != nil || len(procs) != 2 {
		t.Errorf("ScanTree: %d tables, %v; want the same 2", len(procs), err)
	}
}

// TestScanTreeForkHeavy: a parent whose children exit at once, in a loop,
// scanned again and again. The root never fails, its long-lived child is
// always there, no exited child is returned as scanned, and the children
// that vanished are named in Skipped.
func TestScanTreeForkHeavy(t *testing.T) {
	pid := startShell(t, "sleep 600 & while :; do true & /bin/true & true & wait $!; done")
	var sleeper int
	waitFor(t, "the long-lived child sleeps", func() bool {
		for _, c := range childrenOf(pid) {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c)); string(b) == "sleep\n" && taskState(c) == 'S' {
				sleeper = c
				return true
			}
		}
		return false
	})
	const runs = 60
	var s fdinfo.Scanner
	skipped, scanned := 0, 0
	for i := range runs {
		tree, err := s.ScanTreeReport(pid)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		got := map[int]bool{}
		for _, p := range tree.Processes {
			got[p.PID] = true
		}
		if !got[pid] || !got[sleeper] {
			t.Fatalf("run %d: scanned %v, want the parent %d and the sleeper %d", i, got, pid, sleeper)
		}
		checkScanned(t, tree.Processes)
		for _, sk := range tree.Skipped {
			if sk.PID == pid || sk.PID == sleeper || got[sk.PID] {
				t.Errorf("run %d: %v: also scanned, or not a vanished child", i, sk)
			}
			if !errors.Is(sk.Err, fdinfo.ErrExited) && !errors.Is(sk.Err, fdinfo.ErrNoProcess) {
				t.Errorf("run %d: %v: not an exit", i, sk)
			}
		}
		if i == 0 || len(tree.Skipped) > 0 && skipped == 0 {
			t.Logf("run %d: %d scanned, skipped %v", i, len(tree.Processes), tree.Skipped)
		}
		skipped += len(tree.Skipped)
		scanned += len(tree.Processes) - 2
	}
	t.Logf("%d runs: %d short-lived children scanned, %d left out as exited", runs, scanned, skipped)
	if skipped == 0 {
		t.Errorf("no child left out in %d runs: the race was not exercised", runs)
	}
}
