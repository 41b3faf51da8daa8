package main

import (
	"fmt"
	"io"
	"sort"
)

// Goals of issue 11 item 5.
const (
	goalSmallFDs   = 50
	goalSmallAdded = 5000.0 // µs added at 50 fds
	goalLargeFDs   = 10000
	goalLargeRatio = 1.2 // added / bare scan at 10,000 fds
)

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// printTable prints one row per route and fd count (medians, ms), the
// bare scans, and a verdict line per goal.
func printTable(w io.Writer, results []result) {
	fmt.Fprintln(w, "| route | fds | median frozen_time ms | median added vs plain ms | at freeze action points ms (added) | bare scan: ovlfix dump ms | added / dump | bare scan: Scan ms | added / Scan |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	var verdicts []string
	for _, r := range results {
		dump, scan := median(r.dumpUS), median(r.scanUS)
		for _, route := range routes {
			// added: the median of each round's difference against
			// that round's plain checkpoint (alternated, so load
			// drifts cancel).
			var diffs, adiffs []float64
			for i, v := range r.frozenUS[route] {
				diffs = append(diffs, v-r.frozenUS["plain"][i])
				adiffs = append(adiffs, r.actionUS[route][i]-r.actionUS["plain"][i])
			}
			med, added, aAdded := median(r.frozenUS[route]), median(diffs), median(adiffs)
			if route == "plain" {
				fmt.Fprintf(w, "| %s | %d | %.2f | – | %.2f | %.2f | – | %.2f | – |\n", route, r.fds, med/1000, median(r.actionUS[route])/1000, dump/1000, scan/1000)
				continue
			}
			fmt.Fprintf(w, "| %s | %d | %.2f | %+.2f | %.2f (%+.2f) | %.2f | %.2f | %.2f | %.2f |\n", route, r.fds, med/1000, added/1000, median(r.actionUS[route])/1000, aAdded/1000, dump/1000, added/dump, scan/1000, added/scan)
			switch r.fds {
			case goalSmallFDs:
				verdicts = append(verdicts, fmt.Sprintf("goal %s, %d fds: added %.2f ms <= 5 ms %s", route, r.fds, added/1000, passMiss(added <= goalSmallAdded)))
			case goalLargeFDs:
				verdicts = append(verdicts, fmt.Sprintf("goal %s, %d fds: added/bare scan %.2f (ovlfix dump) %s, %.2f (Scan) %s; <= %.1f",
					route, r.fds, added/dump, passMiss(added <= goalLargeRatio*dump), added/scan, passMiss(added <= goalLargeRatio*scan), goalLargeRatio))
			}
		}
	}
	for _, v := range verdicts {
		fmt.Fprintln(w, v)
	}
}

func passMiss(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}
