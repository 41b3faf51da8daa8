// Command ovlfix inspects processes whose files live on overlayfs and
// writes the CRIU images that describe them correctly. See README.md for
// the commands and docs/cli.md for exit codes.
package main

import (
	"fmt"
	"os"

	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/quirks"
)

func main() {
	// `ovlfix demo` re-executes this binary as its child process.
	scenario.MaybeRunChild()
	quirks.MaybeRunProbeChild() // `ovlfix check` and the resolver's probe
	cmd := newRootCmd()
	if isHookProgram(os.Args[0]) { // CRIU's action-script: `ovlfix-hook`, no arguments
		cmd.SetArgs(append([]string{"hook"}, os.Args[1:]...))
	}
	err := cmd.Execute()
	if err != nil && !isLogged(err) {
		fmt.Fprintf(os.Stderr, "ovlfix: %v\n", err)
	}
	os.Exit(exitCode(err))
}
