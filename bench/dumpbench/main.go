// Command dumpbench profiles what `ovlfix dump PID` does after its flags:
// quirks.Load, dump.Run, then Report + WriteJSON / WriteText (or WriteDir),
// R times in one process, with -cpuprofile and -memprofile, so that the
// whole command's cost can be broken down (scripts/bench-dump.sh times the
// command itself).
//
//	dumpbench [-r REPS] [-o json|text|dir] [-cpuprofile F] [-memprofile F] PID
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/ovlfix/ovlfix/dump"
	"github.com/ovlfix/ovlfix/quirks"
)

// heapAfter is the -heapafter flag.
var heapAfter *string

func main() {
	reps := flag.Int("r", 5, "repetitions")
	output := flag.String("o", "json", "json, text or dir")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	memprofile := flag.String("memprofile", "", "write an allocation profile to this file")
	heapAfter = flag.String("heapafter", "", "write a heap profile of what is live after the report to this file (with -r 1)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: dumpbench [-r R] [-o json|text|dir] PID")
		os.Exit(2)
	}
	pid, err := strconv.Atoi(flag.Arg(0))
	if err != nil {
		fail(err)
	}
	if *memprofile != "" || *heapAfter != "" {
		runtime.MemProfileRate = 4096
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
		defer pprof.StopCPUProfile()
	}
	for i := range *reps {
		start := time.Now()
		if err := once(pid, *output); err != nil {
			fail(err)
		}
		fmt.Printf("rep %d: %v\n", i, time.Since(start))
	}
	if *memprofile != "" {
		f, err := os.Create(*memprofile)
		if err != nil {
			fail(err)
		}
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			fail(err)
		}
		f.Close()
	}
}

// once runs the command's library part once and prints how long each
// phase took: quirks.Load, dump.Run, Report (or WriteDir) and the writer.
func once(pid int, output string) error {
	t0 := time.Now()
	q, err := quirks.Load(context.Background(), quirks.DefaultCacheDir)
	if err != nil {
		return err
	}
	t1 := time.Now()
	d, err := dump.Run(pid, dump.Options{Quirks: q})
	if err != nil {
		return err
	}
	t2 := time.Now()
	var rep *dump.Report
	if output == "dir" {
		dir, err := os.MkdirTemp("", "dumpbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if rep, err = d.WriteDir(dir); err != nil {
			return err
		}
	} else {
		rep = d.Report(nil)
	}
	t3 := time.Now()
	if output == "json" {
		err = rep.WriteJSON(io.Discard)
	} else { // `ovlfix dump -D` prints text unless -o json
		err = rep.WriteText(io.Discard)
	}
	t4 := time.Now()
	fmt.Printf("quirks %v run %v report %v write %v ", t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3))
	if err == nil && *heapAfter != "" {
		runtime.KeepAlive(d)
		err = writeHeap(*heapAfter, rep)
	}
	return err
}

// writeHeap writes a heap profile of what is live once the report is
// built (the command's peak), after a GC; rep is kept alive to the end.
func writeHeap(name string, rep *dump.Report) error {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("live after report: %.1f MB (heap sys %.1f MB, total allocated %.1f MB) ", float64(ms.HeapAlloc)/1e6, float64(ms.HeapSys)/1e6, float64(ms.TotalAlloc)/1e6)
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer f.Close()
	err = pprof.Lookup("heap").WriteTo(f, 0)
	runtime.KeepAlive(rep)
	return err
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "dumpbench:", err)
	os.Exit(1)
}
