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

func main() {
	reps := flag.Int("r", 5, "repetitions")
	output := flag.String("o", "json", "json, text or dir")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	memprofile := flag.String("memprofile", "", "write an allocation profile to this file")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: dumpbench [-r R] [-o json|text|dir] PID")
		os.Exit(2)
	}
	pid, err := strconv.Atoi(flag.Arg(0))
	if err != nil {
		fail(err)
	}
	if *memprofile != "" {
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

func once(pid int, output string) error {
	q, err := quirks.Load(context.Background(), quirks.DefaultCacheDir)
	if err != nil {
		return err
	}
	d, err := dump.Run(pid, dump.Options{Quirks: q})
	if err != nil {
		return err
	}
	switch output {
	case "text":
		return d.Report(nil).WriteText(io.Discard)
	case "dir":
		dir, err := os.MkdirTemp("", "dumpbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		rep, err := d.WriteDir(dir)
		if err != nil {
			return err
		}
		return rep.WriteJSON(io.Discard)
	}
	return d.Report(nil).WriteJSON(io.Discard)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "dumpbench:", err)
	os.Exit(1)
}
