package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/ovlfix/ovlfix/criuproxy"
	"github.com/ovlfix/ovlfix/hook"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// criuProgram is the name under which this binary behaves as `ovlfix
// criu`: a runtime runs it as CRIU (`runc --criu /usr/local/bin/ovlfix-criu`).
// A symlink named plain "criu" does the same, for runtimes that look CRIU
// up in PATH (Podman through runc): FindReal skips ovlfix itself there.
const criuProgram = "ovlfix-criu"

// criuArgs returns the arguments of `ovlfix criu` when argv invokes it
// (argv[0] named ovlfix-criu or criu, or `ovlfix criu ...`). main runs it
// before cobra: every argument that is not the proxy's own must reach the
// real CRIU unchanged, flags included.
func criuArgs(argv []string) ([]string, bool) {
	switch {
	case len(argv) > 0 && (filepath.Base(argv[0]) == criuProgram || filepath.Base(argv[0]) == "criu"):
		return argv[1:], true
	case len(argv) > 1 && argv[1] == "criu":
		return argv[2:], true
	}
	return nil, false
}

func newCriuCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "criu [--real PATH] swrk FD",
		Short: "Run as CRIU for a container runtime: relay CRIU's RPC and do the hook's work at pre-dump and post-dump",
		Long: `criu is a CRIU RPC proxy for runtimes that run "criu swrk FD" (runc, containerd's runc shim,
Podman with runc): install a symlink named ovlfix-criu and point the runtime at it
(runc --criu /usr/local/bin/ovlfix-criu; containerd: CriuPath; Podman: first in PATH as criu).
It starts the real CRIU (--real PATH, else $OVLFIX_REAL_CRIU, else the first criu in PATH
that is not ovlfix), relays every request, response and passed fd, and at CRIU's pre-dump
and post-dump notifications runs the work of "ovlfix hook" before answering. No CRIU config
file is involved. Any other invocation ("criu --version", "criu check", ...) is executed by
the real CRIU unchanged. Budgets: as "ovlfix hook" (OVLFIX_WATCH_BUDGET_*). Details:
docs/hook.md, "The proxy route".`,
		DisableFlagParsing: true,
		Args:               argsRule("[--real PATH] and a CRIU command line (swrk FD, --version, check, ...)", criuCommandLine),
		RunE: func(cmd *cobra.Command, args []string) error {
			if code := runCriu(args, cmd.ErrOrStderr()); code != 0 {
				return withCode(code, loggedError{fmt.Errorf("exit %d", code)})
			}
			return nil
		},
	}
}

// runCriu is `ovlfix criu ARGS`; it returns the exit code, or does not
// return (exec of the real CRIU, or death by CRIU's signal).
func runCriu(args []string, stderr io.Writer) int {
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, criuproxy.LogPrefix+format+"\n", a...) }
	realFlag, rest, err := criuRealFlag(args)
	if err != nil {
		logf("%s", quote.Error(err))
		return exitUsage
	}
	real, err := criuproxy.FindReal(realFlag, os.LookupEnv, "/proc/self/exe")
	if err != nil {
		logf("%s", quote.Error(err))
		return exitFailure
	}
	fd, isSwrk := swrkFD(rest)
	if !isSwrk {
		err := unix.Exec(real, append([]string{real}, rest...), os.Environ())
		logf("exec %s: %s", quote.String(real), quote.Error(err))
		return exitFailure
	}
	budget, treeTime, err := watchBudgetFromEnv(os.LookupEnv)
	if err != nil {
		logf("%s; using the default watch budget", quote.Error(err))
	}
	// A closed stderr must not kill the proxy (Go dies of SIGPIPE on fd 2
	// unless SIGPIPE is notified; ignoring it would pass SIG_IGN to CRIU).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	cause := func(sig os.Signal) error {
		if s, ok := sig.(syscall.Signal); ok {
			return interrupted{s}
		}
		return nil
	}
	ws, err := criuproxy.Run(context.Background(), criuproxy.Options{
		Real: real, SocketFD: fd, Log: stderr, Signals: sigs, SignalCause: cause,
		HookOptions: hook.Options{Log: stderr, WatchBudget: budget, TreeTime: treeTime},
	})
	if err != nil {
		logf("%s", quote.Error(err))
		return exitFailure
	}
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		// Die of CRIU's signal, so the runtime sees what it would have.
		signal.Reset(ws.Signal())
		_ = unix.Kill(os.Getpid(), ws.Signal())
		return 128 + int(ws.Signal())
	}
	return exitFailure
}

// criuCommands are the first words of CRIU's command lines (criu/crtools.c).
var criuCommands = map[string]bool{"dump": true, "pre-dump": true, "restore": true, "lazy-pages": true, "check": true,
	"page-server": true, "service": true, "swrk": true, "dedup": true, "cpuinfo": true, "exec": true, "show": true, "image-streamer": true}

// criuCommandLine accepts what can be a CRIU command line after --real:
// an option first, or one of CRIU's commands.
func criuCommandLine(_ *cobra.Command, args []string) error {
	_, rest, err := criuRealFlag(args)
	if err != nil {
		return err
	}
	if len(rest) == 0 || strings.HasPrefix(rest[0], "-") || criuCommands[rest[0]] {
		return nil
	}
	return fmt.Errorf("%q is not a CRIU command", rest[0])
}

// criuRealFlag takes a leading --real PATH (or --real=PATH) off args.
func criuRealFlag(args []string) (real string, rest []string, err error) {
	if len(args) == 0 {
		return "", args, nil
	}
	if v, ok := strings.CutPrefix(args[0], "--real="); ok {
		return v, args[1:], nil
	}
	if args[0] == "--real" {
		if len(args) < 2 || args[1] == "" {
			return "", nil, fmt.Errorf("--real needs the path of the real CRIU")
		}
		return args[1], args[2:], nil
	}
	return "", args, nil
}

// swrkFD recognizes `swrk FD`, the only invocation the proxy handles.
func swrkFD(args []string) (int, bool) {
	if len(args) != 2 || args[0] != "swrk" {
		return 0, false
	}
	fd, err := strconv.Atoi(args[1])
	if err != nil || fd < 0 {
		return 0, false
	}
	return fd, true
}
