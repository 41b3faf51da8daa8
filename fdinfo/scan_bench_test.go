package fdinfo_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"golang.org/x/sys/unix"
)

// benchFds is the fd count of the benchmark target (the 10,000;
// this machine allows 20,000 per process).
const benchFds = 10000

// floorScan is the bare syscall loop the scanner is measured against, the
// Go twin of ../shared/bench/src/floor.c: getdents64 of /proc/PID/fd, then
// per fd readlinkat, fstatat through the link, open+read+close of fdinfo.
// No parsing, no allocation per fd.
func floorScan(b *testing.B, pid int) int {
	dir := "/proc/" + strconv.Itoa(pid)
	fdDir, err := unix.Open(dir+"/fd", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fdDir)
	infoDir, err := unix.Open(dir+"/fdinfo", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(infoDir)
	names, err := os.ReadDir(dir + "/fd")
	if err != nil {
		b.Fatal(err)
	}
	link := make([]byte, 4096)
	buf := make([]byte, 4096)
	var st unix.Stat_t
	for _, e := range names {
		n := e.Name()
		if _, err := unix.Readlinkat(fdDir, n, link); err != nil {
			continue
		}
		_ = unix.Fstatat(fdDir, n, &st, 0)
		fd, err := unix.Openat(infoDir, n, unix.O_RDONLY, 0)
		if err != nil {
			continue
		}
		unix.Read(fd, buf)
		unix.Close(fd)
	}
	return len(names)
}

// BenchmarkScanVsFloor alternates, in every iteration, the floor loop, a
// one-worker Scan and a two-worker Scan over one live process holding
// benchFds fds on an overlay, and reports µs per fd for each and the
// ratios (goals: scan1/floor <= 1.15, scan2/floor <= 0.65 on two cores).
// Alternating keeps the machine's noise out of the ratios.
func BenchmarkScanVsFloor(b *testing.B) {
	c := scenariotest.StartT(b, "", func(base string) scenario.Spec {
		return scenario.Spec{
			Base:  base,
			Files: []scenario.File{{Name: []byte("f"), Layer: "lower", Content: "x"}},
			Ops:   []scenario.Op{{Kind: "open", Path: []byte("f"), Count: benchFds}},
		}
	})
	one, two := fdinfo.Scanner{Workers: 1}, fdinfo.Scanner{Workers: 2}
	var tf, t1, t2 time.Duration
	fds := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		fds = floorScan(b, c.PID)
		tf += time.Since(t0)
		t0 = time.Now()
		if _, err := one.Scan(c.PID); err != nil {
			b.Fatal(err)
		}
		t1 += time.Since(t0)
		t0 = time.Now()
		if _, err := two.Scan(c.PID); err != nil {
			b.Fatal(err)
		}
		t2 += time.Since(t0)
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N*fds) }
	b.ReportMetric(per(tf), "floor-us/fd")
	b.ReportMetric(per(t1), "scan1-us/fd")
	b.ReportMetric(per(t2), "scan2-us/fd")
	b.ReportMetric(float64(t1)/float64(tf), "scan1/floor")
	b.ReportMetric(float64(t2)/float64(tf), "scan2/floor")
}
