package mountns

import (
	"bytes"
	"os"
	"strconv"
	"testing"
	"time"
)

// benchMounts is the size the issue sets: parsing a 10,000-line mountinfo
// must cost at most 1.3x reading it.
const benchMounts = 10000

// BenchmarkMountinfo10k compares, on a real process whose namespace holds
// 10,000 extra tmpfs mounts, reading /proc/<pid>/mountinfo (open + read all
// + close, what any consumer pays) with ReadTable (the same read, done
// ahead of ParseTable in a goroutine, and the index by mount id). "ratio" is
// ns/op(ReadTable) / ns/op(read); "ratio-indexed" also builds the indexes by
// device and mountpoint that ReadTable leaves to their first use.
func BenchmarkMountinfo10k(b *testing.B) {
	start := time.Now()
	pid, _ := startHelper(b, "mounts", b.TempDir()+":"+strconv.Itoa(benchMounts))
	setup := time.Since(start)
	path := "/proc/" + strconv.Itoa(pid) + "/mountinfo"
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Count(data, []byte("\n"))
	if lines < benchMounts {
		b.Fatalf("helper has %d mounts, want >= %d", lines, benchMounts)
	}
	b.Logf("setup of %d mounts: %v; mountinfo %d lines, %d bytes", lines, setup, lines, len(data))

	read := func() {
		if _, err := os.ReadFile(path); err != nil {
			b.Fatal(err)
		}
	}
	readParse := func() {
		if _, err := ReadTable(pid); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			read()
		}
	})
	b.Run("read+parse", func(b *testing.B) {
		for b.Loop() {
			readParse()
		}
	})
	b.Run("parse-only", func(b *testing.B) {
		for b.Loop() {
			if _, err := ParseTable(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Interleaved, so all sides see the same machine state. "ratio" is
	// ReadTable against the read; "ratio-indexed" adds building the two
	// indexes ReadTable leaves to first use (by device, by mountpoint),
	// which a resolver needing them pays later.
	b.Run("ratio", func(b *testing.B) {
		var tRead, tBoth, tIndexed time.Duration
		for b.Loop() {
			t0 := time.Now()
			read()
			t1 := time.Now()
			readParse()
			t2 := time.Now()
			tab, err := ReadTable(pid)
			if err != nil {
				b.Fatal(err)
			}
			tab.ByMountpoint("/")
			tab.ByDev(0, 0)
			tIndexed += time.Since(t2)
			tBoth += t2.Sub(t1)
			tRead += t1.Sub(t0)
		}
		b.ReportMetric(float64(tBoth)/float64(tRead), "ratio")
		b.ReportMetric(float64(tIndexed)/float64(tRead), "ratio-indexed")
		b.ReportMetric(float64(tRead.Nanoseconds())/float64(b.N), "read-ns/op")
		b.ReportMetric(float64(tBoth.Nanoseconds())/float64(b.N), "read+parse-ns/op")
		b.ReportMetric(setup.Seconds(), "setup-s")
	})
}
