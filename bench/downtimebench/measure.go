package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// routes are the three ways a checkpoint is taken, in the first round's
// order.
var routes = []string{"plain", "proxy", "script"}

// result is every measurement for one fd count.
type result struct {
	fds      int
	frozenUS map[string][]float64 // route -> frozen_time of each round
	actionUS map[string][]float64 // route -> time at the freeze's action points (dump.log), each round
	dumpUS   []float64            // `ovlfix dump PID -o json` wall time, each round
	scanUS   []float64            // one fdinfo Scan, each round
}

// measure runs rounds rounds for one fd count in a container of its own.
func measure(tl tools, dir string, fds, rounds int, verbose, phases bool, cpuprofile string) (result, error) {
	res := result{fds: fds, frozenUS: map[string][]float64{}, actionUS: map[string][]float64{}}
	base := filepath.Join(dir, "c"+strconv.Itoa(fds))
	c, err := newContainer(tl, base, fds)
	if err != nil {
		return res, err
	}
	defer c.close()
	pid, err := c.start()
	if err != nil {
		return res, err
	}
	if n := countFDs(pid); n < fds {
		return res, fmt.Errorf("the holder (pid %d) holds %d fds, want at least %d", pid, n, fds)
	}
	fmt.Fprintf(os.Stderr, "downtimebench: %d fds: container %s, holder pid %d, %d rounds\n", fds, c.id, pid, rounds)
	shown := map[string]bool{}
	for r := range rounds {
		for i := range routes {
			route := routes[(r+i)%len(routes)]
			img := c.path(fmt.Sprintf("img-%s-%d", route, r))
			us, log, err := checkpoint(c, route, img)
			if err != nil {
				return res, fmt.Errorf("round %d, %s: %w", r+1, route, err)
			}
			res.frozenUS[route] = append(res.frozenUS[route], float64(us))
			res.actionUS[route] = append(res.actionUS[route], inFreeze(log))
			if verbose {
				at := actionTimes(log)
				fmt.Fprintf(os.Stderr, "  round %d %-6s frozen_time %7.2f ms; action points (ms): pre-dump %.2f (not frozen), network-lock %.2f, post-dump %.2f, network-unlock %.2f\n",
					r+1, route, float64(us)/1000, at["pre-dump"]/1000, at["network-lock"]/1000, at["post-dump"]/1000, at["network-unlock"]/1000)
				if !shown[route] {
					shown[route] = true
					for _, l := range ovlfixLines(log) {
						fmt.Fprintf(os.Stderr, "    %s\n", l)
					}
				}
			}
			if err := os.RemoveAll(img); err != nil {
				return res, err
			}
			if p, err := c.pid(); err != nil || p != pid {
				return res, fmt.Errorf("round %d, %s: after --leave-running the holder is pid %d (%v), want %d", r+1, route, p, err, pid)
			}
		}
		d, err := timeDump(tl, pid)
		if err != nil {
			return res, fmt.Errorf("round %d: %w", r+1, err)
		}
		s, err := timeScan(tl, pid)
		if err != nil {
			return res, fmt.Errorf("round %d: %w", r+1, err)
		}
		res.dumpUS, res.scanUS = append(res.dumpUS, d), append(res.scanUS, s)
		if verbose {
			fmt.Fprintf(os.Stderr, "  round %d bare scan: ovlfix dump %.2f ms, Scan %.2f ms\n", r+1, d/1000, s/1000)
		}
	}
	if phases {
		img := c.path("img-phases")
		if _, _, err := checkpoint(c, "plain", img); err != nil {
			return res, fmt.Errorf("phases: %w", err)
		}
		fmt.Printf("post-dump's parts in one process, %d fds (medians of %d):\n", fds, phaseRounds)
		if err := profilePhases(os.Stdout, tl, img, pid, cpuprofile); err != nil {
			return res, fmt.Errorf("phases: %w", err)
		}
	}
	return res, nil
}

// checkpoint takes one `runc checkpoint --leave-running` by route into
// img and returns CRIU's frozen_time and dump.log.
func checkpoint(c *container, route, img string) (uint32, string, error) {
	criu, env := c.tl.criu, []string(nil)
	switch route {
	case "proxy":
		criu, env = c.tl.proxy, []string{"OVLFIX_REAL_CRIU=" + c.tl.criu}
	case "script":
		if err := c.setScript(true); err != nil {
			return 0, "", err
		}
		defer func() { _ = c.setScript(false) }()
	}
	out, err := c.runc(criu, env, "checkpoint", "--leave-running", "--image-path", img, c.id)
	logb, _ := os.ReadFile(filepath.Join(img, "dump.log"))
	if err != nil {
		return 0, "", fmt.Errorf("runc checkpoint: %v: %s; dump.log: %s", err, strings.TrimSpace(out), strings.Join(lastLines(string(logb), 5), " | "))
	}
	us, err := frozenTime(img)
	if err != nil {
		return 0, "", err
	}
	if route != "plain" && !bytes.Contains(logb, []byte("ovlfix-hook: post-dump")) {
		return 0, "", fmt.Errorf("dump.log of route %s has no ovlfix-hook post-dump line: ovlfix did not run", route)
	}
	return us, string(logb), nil
}

// timeDump is the wall time of `ovlfix dump PID -o json` (a whole process,
// output discarded).
func timeDump(tl tools, pid int) (float64, error) {
	cmd := exec.Command(tl.ovlfix, "dump", strconv.Itoa(pid), "-o", "json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if err != nil {
		return 0, fmt.Errorf("ovlfix dump %d: %v: %s", pid, err, stderr.String())
	}
	return float64(d.Microseconds()), nil
}

var medianRE = regexp.MustCompile(`median_us=([0-9.]+)`)

// timeScan is one fdinfo.Scanner.Scan of pid, as bench/scanbench times it.
func timeScan(tl tools, pid int) (float64, error) {
	out, err := exec.Command(tl.scanbench, "-r", "1", strconv.Itoa(pid)).CombinedOutput()
	m := medianRE.FindSubmatch(out)
	if err != nil || m == nil {
		return 0, fmt.Errorf("scanbench %d: %v: %s", pid, err, out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

func countFDs(pid int) int {
	ents, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	return len(ents)
}

// ovlfixLines are dump.log's lines written by ovlfix.
func ovlfixLines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "ovlfix-hook:") || strings.Contains(l, "ovlfix-criu") || strings.Contains(l, "/ovlfix-hook]") {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return out
}

func lastLines(s string, n int) []string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return l
}
