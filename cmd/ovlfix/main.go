// Command ovlfix inspects processes whose files live on overlayfs and
// writes the CRIU images that describe them correctly. See README.md for
// the commands and docs/cli.md for exit codes.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/quirks"
)

func main() {
	// CRIU's actions the hook ignores: nothing but the exit (hook_cmd.go).
	if unusedHookAction(os.Args, os.LookupEnv) {
		os.Exit(0)
	}
	// `ovlfix criu` / ovlfix-criu: every argument is CRIU's (criu_cmd.go).
	if args, ok := criuArgs(os.Args); ok {
		os.Exit(runCriu(args, os.Stderr))
	}
	// `ovlfix demo` re-executes this binary as its child process.
	scenario.MaybeRunChild()
	quirks.MaybeRunProbeChild() // `ovlfix check` and the resolver's probe
	// From here on SIGINT and SIGTERM are main's (interrupt.go).
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	cmd := newRootCmd()
	asHook := isHookProgram(os.Args[0])
	if asHook { // CRIU's action-script: `ovlfix-hook`, no arguments
		cmd.SetArgs(append([]string{"hook"}, os.Args[1:]...))
	}
	asHook = asHook || len(os.Args) > 1 && os.Args[1] == "hook"
	if isCheckpointctlPlugin(os.Args[0]) { // `checkpointctl ovlfix ARGS`: inspect ARGS
		args, ok := pluginArgs(os.Args[1:])
		if !ok {
			fmt.Println(pluginDescription)
			os.Exit(pluginDescriptionExitCode)
		}
		cmd.SetArgs(args)
	}
	os.Exit(execute(cmd, newStopState(asHook), sigs, interruptGrace, os.Stderr))
}
