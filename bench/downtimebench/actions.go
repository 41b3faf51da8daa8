package main

import (
	"regexp"
	"strconv"
	"strings"
)

// freezeActions are the action-script points of a dump inside the freeze
// (criu/cr-dump.c: the tasks are frozen after pre-dump and resumed after
// network-unlock).
var freezeActions = []string{"network-lock", "post-dump", "network-unlock"}

var (
	stampRE   = regexp.MustCompile(`^\((\d+)\.(\d+)\) (.*)$`)
	runningRE = regexp.MustCompile(`^Running (\S+) scripts$`)
)

// actionTimes returns, from CRIU's dump.log, how long each action-script
// point took (µs): from CRIU's "Running X scripts" line to its next
// timestamped line that is not CRIU's note of the RPC notification
// ("\tRPC") or of a script it runs ("\t[path]"); the runtime's answer
// to the notification is part of it.
// The hook's own lines carry no timestamp. The sum over freezeActions is
// the time spent at action points inside the freeze, by CRIU's clock.
func actionTimes(log string) map[string]float64 {
	out := map[string]float64{}
	cur, start := "", 0.0
	for _, l := range strings.Split(log, "\n") {
		m := stampRE.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		sec, _ := strconv.ParseFloat(m[1], 64)
		frac, _ := strconv.ParseFloat("0."+m[2], 64)
		t := (sec + frac) * 1e6
		text := strings.TrimSpace(m[3])
		if cur != "" && (text == "RPC" || strings.HasPrefix(text, "[")) {
			continue
		}
		if cur != "" {
			out[cur] += t - start
			cur = ""
		}
		if r := runningRE.FindStringSubmatch(text); r != nil {
			cur, start = r[1], t
		}
	}
	return out
}

// inFreeze is the sum of actionTimes over freezeActions.
func inFreeze(log string) float64 {
	at := actionTimes(log)
	sum := 0.0
	for _, a := range freezeActions {
		sum += at[a]
	}
	return sum
}
