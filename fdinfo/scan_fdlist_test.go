package fdinfo

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/internal/testenv"
)

// startHolder starts `sleep` holding fds 0-2 (/dev/null) and, for every n
// in extra, fd n on a file named after n. It returns the pid.
func startHolder(t *testing.T, extra []int) int {
	t.Helper()
	dir := t.TempDir()
	files := make([]*os.File, slices.Max(extra)-2)
	for _, n := range extra {
		f, err := os.Create(filepath.Join(dir, "f"+strconv.Itoa(n)))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files[n-3] = f
	}
	cmd := exec.Command("sleep", "600")
	cmd.ExtraFiles = files // nil entries stay closed in the child
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// The dynamic loader and setlocale open and close files of their own
	// after exec: wait until sleep sleeps (/proc/<pid>/syscall starts with
	// the number of nanosleep or clock_nanosleep).
	sys := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/syscall"
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, err := os.ReadFile(sys)
		if err == nil && (bytes.HasPrefix(b, []byte("230 ")) || bytes.HasPrefix(b, []byte("35 "))) {
			return cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q (%v): sleep does not sleep", sys, b, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestScanFdLayouts checks that the fds a scan finds are exactly those
// the kernel lists, in order, with the right links, for tables that are
// dense, have gaps below the count, have fds far above it (the probe
// budget runs out and the scanner lists), and many scattered gaps. On 6.2+
// this exercises reading by number (scan_fdlist.go); before, the listing.
func TestScanFdLayouts(t *testing.T) {
	span := func(lo, hi int) []int { return fdRange(lo, hi) }
	every := func(lo, hi, step int) (out []int) {
		for n := lo; n < hi; n += step {
			out = append(out, n)
		}
		return out
	}
	// All fds stay well below 1024, the soft RLIMIT_NOFILE children get
	// in the lab (os/exec also parks the parent's fds above the highest
	// one while it arranges them).
	cases := []struct {
		name  string
		extra []int
	}{
		{"dense", span(3, 200)},
		{"one gap below the count", append(span(4, 200), 200)},
		{"far above the count", span(1000, 1010)},
		{"dense then far", append(span(3, 100), span(900, 905)...)},
		{"scattered gaps", every(3, 600, 3)},
		{"single high fd", []int{1000}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pid := startHolder(t, tc.extra)
			want := listed(t, pid)
			for _, n := range tc.extra {
				if !slices.Contains(want, n) {
					t.Fatalf("the holder has no fd %d: %v", n, want)
				}
			}
			for _, workers := range []int{1, 2} {
				p, err := (&Scanner{Workers: workers}).Scan(pid)
				if err != nil {
					t.Fatal(err)
				}
				var got []int
				for _, o := range p.Objects {
					if o.Kind != KindFD {
						continue
					}
					if o.Err != nil {
						t.Errorf("fd %d: %v", o.FD, o.Err)
					}
					got = append(got, o.FD)
					if slices.Contains(tc.extra, o.FD) && filepath.Base(string(o.Link)) != "f"+strconv.Itoa(o.FD) {
						t.Errorf("fd %d links to %q", o.FD, o.Link)
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("workers %d: scan found fds %v,\nwant %v", workers, got, want)
				}
			}
		})
	}
}

// listed returns the fds the kernel lists for pid, ascending. Besides the
// holder's own, the child may have inherited fds the test binary got
// without O_CLOEXEC (go test passes one).
func listed(t *testing.T, pid int) []int {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, n)
	}
	slices.Sort(fds)
	return fds
}

// TestOpenFdCount: on 6.2+ procfs reports the number of open fds as the
// size of /proc/<pid>/fd, which is what lets the scanner skip the listing;
// a directory that is not procfs never counts.
func TestOpenFdCount(t *testing.T) {
	pid := startHolder(t, fdRange(3, 40))
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, want := openFdCount(int(f.Fd())), len(listed(t, pid))
	switch n {
	case want:
		t.Logf("kernel reports %d open fds: the scan reads by number", n)
	case 0:
		if testenv.KernelAtLeast(6, 2) {
			t.Fatalf("6.2+ kernel, but /proc/%d/fd has no fd count", pid)
		}
		t.Logf("kernel before 6.2: no fd count, the scan lists")
	default:
		t.Fatalf("open fd count %d, want %d (or 0 before 6.2)", n, want)
	}
	d, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if n := openFdCount(int(d.Fd())); n != 0 {
		t.Errorf("a tmp directory counted as %d open fds", n)
	}
}

// TestProbeFdsTaskGone: when the task dies between the fd count and the
// reads, every number fails, the budget runs out, and the listing fails:
// the probe returns an error and no objects, it does not spin or invent
// fds (scanFds then reports ErrExited, as its alive check says).
func TestProbeFdsTaskGone(t *testing.T) {
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	dir := "/proc/" + strconv.Itoa(pid)
	fdDir, err := os.Open(dir + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	defer fdDir.Close()
	infoDir, err := os.Open(dir + "/fdinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer infoDir.Close()
	n := openFdCount(int(fdDir.Fd()))
	cmd.Process.Kill()
	cmd.Wait()
	tab := &fdTable{pid: pid, fdDir: int(fdDir.Fd()), infoDir: int(infoDir.Fd()), workers: 2}
	if n == 0 { // before 6.2: the listing is what fails
		if _, err := listFds(tab.fdDir); err == nil {
			t.Fatal("listing the fds of a dead task succeeded")
		}
		t.Logf("kernel before 6.2: the listing fails")
		return
	}
	objs, err := tab.probeFds(n, 0)
	if err == nil || len(objs) != 0 {
		t.Fatalf("probe of %d fds of a dead task: %d objects, err %v; want none and an error", n, len(objs), err)
	}
	t.Logf("probe of %d fds of a dead task: %v", n, err)
}
