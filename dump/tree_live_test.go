package dump_test

import (
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/dump"
)

// TestTreeForkHeavyParent dumps the tree of a parent that forks
// short-lived children in a loop, 60 times. Children exit between their
// scan and their resolution; that used to fail the whole dump with
// "process exited during the scan" (exit 5, no report) in about a quarter
// of the runs. Now such children are left out and named, and only the
// root's exit is fatal.
func TestTreeForkHeavyParent(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 600 & while :; do true & /bin/true & true & wait $!; done")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	pid := cmd.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for !hasSleepingChild(pid) {
		if time.Now().After(deadline) {
			t.Fatal("the long-lived child does not sleep")
		}
		time.Sleep(10 * time.Millisecond)
	}
	const runs = 60
	leftOut := 0
	for i := range runs {
		d, err := dump.Run(pid, dump.Options{Tree: true})
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if d.Processes[0].TGID != pid {
			t.Fatalf("run %d: first process is %d, want the root %d", i, d.Processes[0].TGID, pid)
		}
		rep := d.Report(nil)
		if len(rep.LeftOut) != len(d.LeftOut) {
			t.Fatalf("run %d: report lists %d left out, dump %d", i, len(rep.LeftOut), len(d.LeftOut))
		}
		for _, l := range rep.LeftOut {
			if l.PID == pid || !strings.Contains(l.Reason, "exited") && !strings.Contains(l.Reason, "no such process") {
				t.Errorf("run %d: left out %+v: not a vanished child", i, l)
			}
		}
		if len(d.LeftOut) > 0 && leftOut == 0 {
			var text bytes.Buffer
			if err := rep.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text.String(), "left out: pid ") {
				t.Errorf("run %d: the text report does not name the tasks left out:\n%s", i, text.String())
			}
			t.Logf("run %d: %d processes, left out %v", i, len(d.Processes), d.LeftOut)
		}
		leftOut += len(d.LeftOut)
	}
	t.Logf("%d runs: %d tasks left out as exited, none fatal", runs, leftOut)
	if leftOut == 0 {
		t.Errorf("no child left out in %d runs: the race was not exercised", runs)
	}
}

func hasSleepingChild(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
	if err != nil {
		return false
	}
	for _, c := range strings.Fields(string(b)) {
		comm, _ := os.ReadFile("/proc/" + c + "/comm")
		if string(comm) == "sleep\n" {
			return true
		}
	}
	return false
}
