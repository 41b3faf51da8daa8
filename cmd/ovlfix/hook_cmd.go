package main

import (
	"errors"
	"os"
	"path/filepath"

	"github.com/ovlfix/ovlfix/hook"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/spf13/cobra"
)

// hookProgram is the name under which this binary behaves as `ovlfix
// hook` (a symlink for CRIU's action-script option, which takes a path
// and no arguments).
const hookProgram = "ovlfix-hook"

// isHookProgram reports whether argv0 names the hook symlink.
func isHookProgram(argv0 string) bool { return filepath.Base(argv0) == hookProgram }

// unusedHookAction reports whether this process is the hook run by CRIU
// for an action it does not act on (network-lock, network-unlock,
// pre-stream, pre-restore, ...): args (os.Args) are exactly `ovlfix-hook`
// or `ovlfix hook`, and lookup (os.LookupEnv) gives a non-empty
// CRTOOLS_SCRIPT_ACTION that is neither pre-dump nor post-dump. main then
// exits 0 before building the command tree or installing signal
// handlers: CRIU runs network-lock and network-unlock inside the freeze
// (issue 11), so the hook's own work for them must be nothing. It reads
// one environment variable and no file; whatever the Go runtime and the
// package initialisers do before main is all that remains (docs/hook.md).
// An empty or missing action, or any argument (--help), takes the normal
// path, which says what is wrong.
func unusedHookAction(args []string, lookup func(string) (string, bool)) bool {
	switch {
	case len(args) == 1 && isHookProgram(args[0]):
	case len(args) == 2 && args[1] == "hook":
	default:
		return false
	}
	action, ok := lookup(hook.EnvAction)
	return ok && action != "" && !(hook.Env{Action: action}).Acts()
}

// loggedError is an error the hook already wrote to stderr with its own
// prefix; main does not print it again.
type loggedError struct{ error }

func (e loggedError) Unwrap() error { return e.error }

func isLogged(err error) bool {
	var le loggedError
	return errors.As(err, &le)
}

func newHookCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hook",
		Short: "Run as a CRIU action script (pre-dump: seed irmap-cache; post-dump: repair files.img)",
		Long: `hook is meant to be run by CRIU, not by hand: "criu dump --action-script /usr/local/bin/ovlfix-hook"
(a symlink to ovlfix), or the line "action-script /usr/local/bin/ovlfix-hook" in /etc/criu/runc.conf
with CRIU >= 3.19. Never in any CRIU config file with CRIU <= 3.18: it aborts every runc and
Podman checkpoint there (docs/hook.md). "ovlfix hook install --runtime R --dry-run" shows the
route that works with the installed CRIU (the proxy for runtimes); without --dry-run it sets it up.
Budgets (environment): OVLFIX_WATCH_BUDGET_ENTRIES, OVLFIX_WATCH_BUDGET_TIME (per process),
OVLFIX_WATCH_BUDGET_TREE_TIME (the whole tree).
It reads CRTOOLS_SCRIPT_ACTION, CRTOOLS_IMAGE_DIR and CRTOOLS_INIT_PID and logs to stderr
(CRIU's log) with the prefix "ovlfix-hook: ".

  pre-dump   write CRIU's irmap-cache (in CRIU's work dir, the hook's cwd) with the path
             of every inotify/fanotify watch on an overlay, merged with any existing cache
  post-dump  check files.img against the frozen tasks and repair reg.name/reg.mnt_id
  other      nothing

It exits 0 unless the dump is wrong and cannot be repaired (then CRIU fails the dump and
resumes the tasks), also when SIGINT or SIGTERM stops it (the images are then whole files,
CRIU's or the complete repair); without CRTOOLS_SCRIPT_ACTION it exits 2. Details: docs/hook.md.`,
		Args: argsRule("no arguments (CRIU passes none)", cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runHook(cmd)
		},
	}
	cmd.AddCommand(newHookInstallCmd(), newHookUninstallCmd())
	return cmd
}

func runHook(cmd *cobra.Command) error {
	stderr := cmd.ErrOrStderr()
	log := hook.NewLogger(stderr)
	st := stopStateOf(cmd.Context())
	st.leave("nothing was done; the dump goes on")
	env, err := hook.ParseEnv(os.LookupEnv)
	switch {
	case errors.Is(err, hook.ErrNotCRIU):
		log.Printf("%v", err)
		return withCode(exitUsage, loggedError{err})
	case err != nil:
		// CRIU always sets these; without them ovlfix cannot help, and a
		// hook that cannot help must not fail the dump.
		action := "hook" // CRTOOLS_SCRIPT_ACTION is empty
		if env.Acts() {
			action = env.Action
		}
		log.Printf("%s: cannot help: %s", action, quote.Error(err))
		return nil
	case !env.Acts():
		return nil
	}
	budget, treeTime, err := watchBudgetFromEnv(os.LookupEnv)
	if err != nil {
		// A bad tuning variable must not fail the dump: the defaults hold.
		log.Printf("%s: %s; using the default watch budget", env.Action, quote.Error(err))
	}
	st.leave("%s", hook.LeftIfStopped(env.Action))
	// main cancels the context on SIGINT/SIGTERM (interrupt.go).
	if err := hook.Run(cmd.Context(), env, hook.Options{Log: stderr, WatchBudget: budget, TreeTime: treeTime}); err != nil {
		// Logged by hook.Run; a non-zero exit makes CRIU fail the dump.
		return withCode(exitFailure, loggedError{err})
	}
	return nil
}
