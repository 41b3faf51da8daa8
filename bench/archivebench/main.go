// Command archivebench lists a checkpoint archive the way `tar -t` lists
// one, through checkpoint.Open, so that scripts/bench-archive.sh can time
// both on the same file in the same run: one listing per process, every
// member name on stdout (images, metadata, skipped members, then
// rootfs-diff.tar's entries).
//
//	archivebench [-cpuprofile FILE] ARCHIVE
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"runtime/pprof"
	"slices"

	"github.com/ovlfix/ovlfix/checkpoint"
)

func main() {
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: archivebench [-cpuprofile FILE] ARCHIVE")
		os.Exit(2)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "archivebench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := list(flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "archivebench:", err)
		os.Exit(1)
	}
}

func list(path string) error {
	cp, err := checkpoint.Open(context.Background(), path, checkpoint.Options{})
	if err != nil {
		return err
	}
	w := bufio.NewWriter(os.Stdout)
	for _, n := range cp.Images.Names() {
		fmt.Fprintln(w, "checkpoint/"+n)
	}
	for _, n := range slices.Sorted(maps.Keys(cp.Meta)) {
		fmt.Fprintln(w, n)
	}
	for _, n := range cp.Skipped {
		fmt.Fprintln(w, n)
	}
	if cp.Diff != nil {
		for _, p := range slices.Sorted(maps.Keys(cp.Diff.Entries)) {
			fmt.Fprintln(w, "rootfs-diff.tar:"+p)
		}
	}
	return w.Flush()
}
