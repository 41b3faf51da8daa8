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
	err := cmd.Execute()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ovlfix: %v\n", err)
	}
	os.Exit(exitCode(err))
}
