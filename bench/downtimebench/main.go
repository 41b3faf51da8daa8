// Command downtimebench measures the freeze that ovlfix adds to a runc
// checkpoint (issue 11 item 5; run by scripts/bench-downtime.sh, which
// builds its inputs). For each fd count F it starts one runc container on
// an overlay rootfs whose process holds F fds on lower-layer files, then
// for R rounds checkpoints it with `runc checkpoint --leave-running` into
// a fresh images directory by each route, in an order that rotates every
// round:
//
//	plain   runc --criu CRIU            (no ovlfix)
//	proxy   runc --criu OVLFIX-CRIU     (`ovlfix criu`, real CRIU from $OVLFIX_REAL_CRIU)
//	script  runc --criu CRIU, the org.criu.config file has `action-script OVLFIX-HOOK`
//
// and reads CRIU's frozen_time from stats-dump. Each round also times the
// bare scan of the same process: `ovlfix dump PID -o json` (a whole
// process) and one fdinfo.Scanner.Scan (bench/scanbench -r 1). It prints
// the medians, the added freeze against plain and the goals' verdicts:
// added <= 5 ms at 50 fds, added <= 1.2x the bare scan at 10,000.
//
//	downtimebench -runc R -criu C -proxy P -hook H -ovlfix O -scanbench S -holder B [-rounds 7] [-fds 50,10000] [-work DIR]
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// tools are the programs the benchmark runs.
type tools struct {
	runc, criu, proxy, hook, ovlfix, scanbench, holder string
}

func main() {
	var tl tools
	flag.StringVar(&tl.runc, "runc", "runc", "runc binary")
	flag.StringVar(&tl.criu, "criu", "", "the real CRIU binary")
	flag.StringVar(&tl.proxy, "proxy", "", "ovlfix-criu (symlink to ovlfix)")
	flag.StringVar(&tl.hook, "hook", "", "ovlfix-hook (symlink to ovlfix)")
	flag.StringVar(&tl.ovlfix, "ovlfix", "", "ovlfix binary (bare scan: ovlfix dump PID)")
	flag.StringVar(&tl.scanbench, "scanbench", "", "bench/scanbench binary (bare scan: one Scan)")
	flag.StringVar(&tl.holder, "holder", "", "static holder binary (holder/holder.c)")
	rounds := flag.Int("rounds", 7, "rounds per fd count")
	fdList := flag.String("fds", "50,10000", "fd counts, comma-separated")
	work := flag.String("work", "", "work directory (default: a new one under /tmp)")
	phases := flag.Bool("phases", false, "after the rounds of each fd count, time the parts of the hook's post-dump in this process on one more plain checkpoint")
	cpuprofile := flag.String("cpuprofile", "", "with -phases: CPU profile of the hook.Run rounds (of the last fd count)")
	verbose := flag.Bool("v", false, "print every measurement and the ovlfix lines of each route's first dump.log")
	flag.Parse()
	if tl.criu == "" || tl.proxy == "" || tl.hook == "" || tl.ovlfix == "" || tl.scanbench == "" || tl.holder == "" || *rounds < 1 {
		flag.Usage()
		os.Exit(2)
	}
	var counts []int
	for _, s := range strings.Split(*fdList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "downtimebench: bad fd count %q\n", s)
			os.Exit(2)
		}
		counts = append(counts, n)
	}
	dir := *work
	if dir == "" {
		d, err := os.MkdirTemp("", "ovlfix-downtime.")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	var results []result
	for _, n := range counts {
		r, err := measure(tl, dir, n, *rounds, *verbose, *phases, *cpuprofile)
		if err != nil {
			fail(fmt.Errorf("%d fds: %w", n, err))
		}
		results = append(results, r)
	}
	printTable(os.Stdout, results)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "downtimebench:", err)
	os.Exit(1)
}
