package criuproxy

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ovlfix/ovlfix/hook"
	"github.com/ovlfix/ovlfix/internal/quote"
	"golang.org/x/sys/unix"
)

// HookFunc is hook.Run's signature: what the proxy runs at pre-dump and
// post-dump.
type HookFunc func(ctx context.Context, env hook.Env, opts hook.Options) error

// DefaultGrace is how long the proxy waits, once the budget is spent, for
// a hook stuck in a system call that does not return (as `ovlfix hook`
// does on SIGTERM) before it answers CRIU without it.
const DefaultGrace = 500 * time.Millisecond

// budgetSlack is added to the hook's own tree time to make the proxy's
// budget: the hook's walks stop at their own budget, the proxy's only
// catches what they do not bound.
const budgetSlack = time.Second

// hookEnv is the environment CRIU would have given an action script for
// this notification: CRIU's own fd on the images directory
// (/proc/<criu>/fd/<n>), the dump's root pid. ok is false when CRIU's fd on
// the images directory cannot be found; env then names the proxy's fd and
// has no CRIUPID (pre-dump's work-dir check then fails and it writes
// nothing: safe).
func hookEnv(action string, criuPID int, req request) (env hook.Env, note string) {
	env = hook.Env{Action: action, InitPID: req.pid}
	var want unix.Stat_t
	var err error
	if req.imagesFD >= 0 {
		err = unix.Fstat(int(req.imagesFD), &want)
	} else if req.imagesDir != "" {
		err = unix.Stat(req.imagesDir, &want)
	} else {
		return env, "the request names no images directory"
	}
	if err != nil {
		return env, fmt.Sprintf("images directory: %v", err)
	}
	if n, ok := criuFDOn(criuPID, want); ok {
		env.ImageDir, env.CRIUPID = "/proc/"+strconv.Itoa(criuPID)+"/fd/"+strconv.Itoa(n), criuPID
		return env, ""
	}
	if req.imagesFD >= 0 {
		env.ImageDir = "/proc/" + strconv.Itoa(os.Getpid()) + "/fd/" + strconv.Itoa(int(req.imagesFD))
	} else if filepath.IsAbs(req.imagesDir) {
		env.ImageDir = req.imagesDir
	}
	return env, fmt.Sprintf("CRIU (pid %d) holds no fd on the images directory: using the proxy's", criuPID)
}

// criuFDOn returns the lowest fd of process pid open on the directory
// with want's device and inode.
func criuFDOn(pid int, want unix.Stat_t) (int, bool) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, false
	}
	var fds []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			fds = append(fds, n)
		}
	}
	sort.Ints(fds)
	for _, n := range fds {
		var st unix.Stat_t
		if unix.Stat(dir+"/"+strconv.Itoa(n), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR && st.Dev == want.Dev && st.Ino == want.Ino {
			return n, true
		}
	}
	return 0, false
}

// openCRIULog opens CRIU's log file (log_file, in its work dir) to append
// the hook's lines, as an action script's stderr would be; nil when there
// is none or it cannot be opened (never created, never a symlink).
func openCRIULog(criuPID int, logFile string) *os.File {
	if logFile == "" || strings.Contains(logFile, "/") {
		return nil
	}
	f, err := os.OpenFile("/proc/"+strconv.Itoa(criuPID)+"/cwd/"+logFile, os.O_WRONLY|os.O_APPEND|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil
	}
	return f
}

// runHook runs the hook for action with a bounded time and says whether
// CRIU may go on (true) or the dump must fail (the hook's error: an
// unrepairable dump). A hook that is still running Grace after its budget
// is left behind and counts as success.
func (p *proxy) runHook(ctx context.Context, action string, req request) bool {
	env, note := hookEnv(action, p.criuPID, req)
	if note != "" {
		p.logf("%s: %s", action, quote.String(note))
	}
	hopts := p.opts.HookOptions
	var logw io.Writer = p.opts.Log
	if hopts.Log != nil {
		logw = hopts.Log
	}
	// CRIU's log stays open for a deferred manifest write's lines (a
	// second Close, of a hook left behind, is harmless).
	f := openCRIULog(p.criuPID, req.logFile)
	var deferred atomic.Bool
	// gaveUp (under p.mu) is set once the proxy answers CRIU without the
	// hook: work the hook hands over after that is dropped (setPending).
	var gaveUp bool
	defer func() {
		if f != nil && !deferred.Load() {
			f.Close()
		}
	}()
	if f != nil {
		logw = bestEffort{f, logw}
	}
	hopts.Log = logw
	if action == hook.ActionPostDump {
		// CRIU's log is closed once the deferred work is done or dropped.
		closeLog := func() {
			if f != nil {
				f.Close()
			}
		}
		hopts.DeferManifest = func(write hook.LateCheck) {
			deferred.Store(true)
			p.setPending("manifest write", &gaveUp, func(ctx context.Context, run bool) {
				write(ctx, run) // run false: it only releases the directory it holds
				closeLog()
			})
		}
		hopts.DeferCheck = func(check hook.LateCheck) {
			deferred.Store(true)
			p.setPending("check", &gaveUp, func(ctx context.Context, run bool) {
				check(ctx, run)
				closeLog()
			})
		}
	}
	hopts.WorkDir = "/proc/" + strconv.Itoa(p.criuPID) + "/cwd"
	run := p.opts.Hook
	if run == nil {
		run = hook.Run
	}
	budget, grace := p.bounds()
	hctx, cancel := context.WithTimeoutCause(ctx, budget, fmt.Errorf("the proxy's budget for the hook (%v) is spent", budget))
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- run(hctx, env, hopts) }()
	var err error
	select {
	case err = <-done:
	case <-hctx.Done():
		select {
		case err = <-done:
		case <-time.After(grace):
			p.mu.Lock()
			gaveUp = true
			p.mu.Unlock()
			p.logf("%s: the hook did not return %v after %v: answering CRIU without it; %s", action, grace, context.Cause(hctx), hook.LeftIfStopped(action))
			return true
		}
	}
	if err != nil {
		p.logf("%s: the hook failed the dump after %v: %s", action, time.Since(start).Round(time.Microsecond), quote.Error(err))
		return false
	}
	p.logf("%s: hook done in %v", action, time.Since(start).Round(time.Microsecond))
	return true
}

// bounds are the budget of one hook action (Options.Budget, else the
// hook's tree time plus budgetSlack) and the grace after it.
func (p *proxy) bounds() (budget, grace time.Duration) {
	budget = p.opts.Budget
	if budget <= 0 {
		tt := p.opts.HookOptions.TreeTime
		if tt <= 0 { // 0: the default; negative: no bound asked, the proxy still has one
			tt = hook.DefaultTreeTime
		}
		budget = tt + budgetSlack
	}
	grace = p.opts.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	return budget, grace
}

// bestEffort writes to every writer, whatever each returns: a stderr
// nobody reads must not keep the hook's lines from CRIU's log.
type bestEffort []io.Writer

func (b bestEffort) Write(p []byte) (int, error) {
	for _, w := range b {
		if w != nil {
			_, _ = w.Write(p)
		}
	}
	return len(p), nil
}
