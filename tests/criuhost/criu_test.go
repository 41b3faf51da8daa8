package criuhost

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// criuTimeout bounds one criu dump or restore.
const criuTimeout = 60 * time.Second

// criuDump dumps the tree of pid into dir, with the hook as action script
// when hook is set. The error carries CRIU's first error lines.
func criuDump(ns *mountNS, tl tools, pid int, dir string, hook bool) error {
	args := []string{"dump", "-t", strconv.Itoa(pid), "-D", dir, "--shell-job", "--link-remap", "-v4", "-o", "dump.log"}
	if hook {
		args = append(args, "--action-script", tl.hook)
	}
	return runCRIU(ns, tl, dir, "dump", args)
}

// criuRestore restores the dump in dir detached (-d) and returns the
// restored root task's pid; root is --root for a dump with its own mount
// namespace, "" otherwise.
func criuRestore(ns *mountNS, tl tools, dir, root string) (int, error) {
	pidfile := filepath.Join(dir, "restore.pid")
	args := []string{"restore", "-D", dir, "-d", "--shell-job", "-v4", "-o", "restore.log", "--pidfile", pidfile}
	if root != "" {
		args = append(args, "--root", root)
	}
	if err := runCRIU(ns, tl, dir, "restore", args); err != nil {
		return 0, err
	}
	raw, err := os.ReadFile(pidfile)
	if err != nil {
		return 0, fmt.Errorf("criu restore succeeded but wrote no pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return 0, fmt.Errorf("criu restore pid file %s: %w", pidfile, err)
	}
	return pid, nil
}

// runCRIU runs CRIU in the namespace; its own output goes to a file, never
// to a pipe a restored task could keep open.
func runCRIU(ns *mountNS, tl tools, dir, action string, args []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), criuTimeout)
	defer cancel()
	outPath := filepath.Join(dir, "criu-"+action+".out")
	out, err := os.Create(outPath)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := ns.command(tl.criu, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	defer stop()
	if err := cmd.Wait(); err != nil {
		errs := logLines(filepath.Join(dir, action+".log"), isCRIUError, 4)
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (killed after %v)", err, criuTimeout)
		}
		return fmt.Errorf("criu %s: %v: %s", action, err, strings.Join(errs, " | "))
	}
	return nil
}

// isCRIUError selects CRIU's error lines, without the rlimit complaint CRIU
// makes on this host on every run (it cannot raise its own RLIMIT_NOFILE,
// and goes on).
func isCRIUError(line string) bool {
	return strings.Contains(line, "Error (") && !strings.Contains(line, "rlimit:")
}

// isHookLine selects what the hook wrote to CRIU's log.
func isHookLine(line string) bool { return strings.HasPrefix(line, "ovlfix-hook: ") }

// logLines returns up to max lines of a log that keep says to keep.
func logLines(path string, keep func(string) bool, max int) []string {
	f, err := os.Open(path)
	if err != nil {
		return []string{fmt.Sprintf("(no %s: %v)", filepath.Base(path), err)}
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() && len(lines) < max {
		if keep(sc.Text()) {
			lines = append(lines, strings.TrimSpace(sc.Text()))
		}
	}
	return lines
}
