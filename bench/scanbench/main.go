// Command scanbench times fdinfo.Scanner.Scan of one live process the way
// ../shared/bench/bin/floor times the bare syscall loop: R scans in one
// process, best and median printed, so that scripts/bench.sh can compare
// the two as ratios measured in the same run.
//
//	scanbench [-t WORKERS] [-r REPS] [-map-files=false] PID
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"time"

	"github.com/ovlfix/ovlfix/fdinfo"
)

func main() {
	workers := flag.Int("t", 1, "scanner workers")
	reps := flag.Int("r", 5, "repetitions")
	mapFiles := flag.Bool("map-files", true, "read map_files for mappings")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "scanbench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: scanbench [-t T] [-r R] PID")
		os.Exit(2)
	}
	pid, err := strconv.Atoi(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "scanbench: bad pid:", err)
		os.Exit(2)
	}
	s := fdinfo.Scanner{Workers: *workers, NoMapFiles: !*mapFiles}
	times := make([]float64, *reps)
	fds := 0
	for i := range times {
		t0 := time.Now()
		p, err := s.Scan(pid)
		times[i] = float64(time.Since(t0).Microseconds())
		if err != nil {
			fmt.Fprintln(os.Stderr, "scanbench:", err)
			return
		}
		fds = 0
		for _, o := range p.Objects {
			if o.Kind == fdinfo.KindFD {
				fds++
			}
		}
	}
	sort.Float64s(times)
	fmt.Printf("scanbench: pid=%d fds=%d threads=%d reps=%d best_us=%.1f median_us=%.1f per_fd_us_best=%.3f per_fd_us_median=%.3f\n",
		pid, fds, *workers, *reps, times[0], times[len(times)/2], times[0]/float64(fds), times[len(times)/2]/float64(fds))
}
