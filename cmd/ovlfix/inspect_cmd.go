package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"

	"github.com/ovlfix/ovlfix/checkpoint"
	"github.com/ovlfix/ovlfix/inspect"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/spf13/cobra"
)

// inspectFlags are the options of `ovlfix inspect`.
type inspectFlags struct {
	output outputFormat
}

func newInspectCmd() *cobra.Command {
	var f inspectFlags
	cmd := &cobra.Command{
		Use:   "inspect ARCHIVE|DIR",
		Short: "List every file a restore of a checkpoint will reopen, with its holders, mount, size, mode and provenance",
		Long: `inspect reads a checkpoint (a CRIU images directory, or a Podman / CRI-O / kubelet
checkpoint archive) and lists every regular file the restore will reopen: CRIU's
recorded name, the tasks and fds (cwd, root, exe, mappings) that hold it, its mount
(mountpoints image), the size, mode and build-ID CRIU will check, how an unlinked
file comes back (ghost image, link remap) and, when the dump has
ovlfix-manifest.json, where it came from (overlay layer, filesystem). It reads
the images only; nothing is opened on this host. Details: docs/inspect.md.`,
		Args: argsRule("exactly one checkpoint (ARCHIVE or DIR)", cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.Context(), cmd.OutOrStdout(), args[0], f)
		},
	}
	addOutputFlag(cmd, &f.output, "output: text (a table) or json (docs/inspect.md)")
	return cmd
}

func runInspect(ctx context.Context, out io.Writer, p string, f inspectFlags) error {
	stopStateOf(ctx).leave("nothing was written")
	c, err := openCheckpoint(ctx, p)
	if err != nil {
		return err
	}
	l, err := inspect.Load(c)
	if err != nil {
		return err
	}
	if f.output == outputJSON {
		return inspect.WriteJSON(out, l)
	}
	return inspect.WriteText(out, l)
}

// openCheckpoint opens ARCHIVE|DIR (checkpoint.Open: a directory as a
// CRIU images directory, a file as a checkpoint archive, read by content).
func openCheckpoint(ctx context.Context, p string) (*checkpoint.Checkpoint, error) {
	c, err := checkpoint.Open(ctx, p, checkpoint.Options{})
	return c, quotePathIn(p, err)
}

// pathError is an error whose message shows a command-line path quoted.
type pathError struct {
	msg string
	err error
}

func (e *pathError) Error() string { return e.msg }
func (e *pathError) Unwrap() error { return e.err }

// quotePathIn shows p, wherever err's message has it, as quote.String
// does, when p needs quoting (a newline, a control byte: a path can hold
// any byte but NUL): the error stays one line on stderr that no name can
// forge another line of. The chain is kept (exit codes).
func quotePathIn(p string, err error) error {
	if err == nil || quote.String(p) == `"`+p+`"` || !strings.Contains(err.Error(), p) {
		return err
	}
	return &pathError{msg: strings.ReplaceAll(err.Error(), p, quote.String(p)), err: err}
}

// checkpointctlPlugin is the name under which checkpointctl (1.6 and
// later) runs ovlfix as its `ovlfix` subcommand: it looks up
// checkpointctl-<name> on PATH and execs it with argv[0] the plugin's
// absolute path and the arguments after the subcommand, unparsed
// (checkpointctl cmd/plugin.go). At discovery it runs the plugin with
// --plugin-description alone and takes the first line of stdout as the
// description if the exit status is 42, waiting at most 500 ms.
const (
	checkpointctlPlugin       = "checkpointctl-ovlfix"
	pluginDescriptionFlag     = "--plugin-description"
	pluginDescriptionExitCode = 42
	pluginDescription         = "List every file a restore of the checkpoint reopens, with holders, mounts and provenance (ovlfix inspect)"
)

// isCheckpointctlPlugin reports whether argv0 names the plugin symlink.
func isCheckpointctlPlugin(argv0 string) bool { return filepath.Base(argv0) == checkpointctlPlugin }

// pluginArgs is the command line the plugin runs: `inspect` and the
// arguments checkpointctl passed; ok is false for the description query,
// which main answers itself.
func pluginArgs(args []string) (cmdline []string, ok bool) {
	if len(args) == 1 && args[0] == pluginDescriptionFlag {
		return nil, false
	}
	return append([]string{"inspect"}, args...), true
}
