package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/ovlfix/ovlfix/dump"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/quirks"
	"github.com/ovlfix/ovlfix/resolve"
	"github.com/spf13/cobra"
)

// dumpFlags are the options of `ovlfix dump`.
type dumpFlags struct {
	tree   bool
	dir    string
	output outputFormat
	strict bool
	budget resolve.WatchBudget
}

func newDumpCmd() *cobra.Command {
	var f dumpFlags
	cmd := &cobra.Command{
		Use:   "dump PID",
		Short: "Resolve every file of a process (tree) and write CRIU images",
		Long: `dump scans PID's fds, cwd, root, exe, file mappings and inotify/fanotify watches,
resolves each one's true path and mount inside PID's mount namespace, prints a
report, and with -D writes files.img, fdinfo-<files_id>.img and
mountpoints-<n>.img (plus ovlfix-report.json) into that directory.`,
		Args: argsRule("exactly one PID", cobra.ExactArgs(1), pidArg),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, err := parsePID(args[0])
			if err != nil {
				return usageError{err}
			}
			return runDump(cmd.Context(), cmd.OutOrStdout(), pid, f)
		},
	}
	cmd.Flags().BoolVar(&f.tree, "tree", false, "also scan threads with their own file tables and all descendants")
	cmd.Flags().StringVarP(&f.dir, "images-dir", "D", "", "write CRIU images and ovlfix-report.json into this directory")
	addOutputFlag(cmd, &f.output, "report format")
	cmd.Flags().BoolVar(&f.strict, "strict", false, "exit 8 when any object is unresolved or ambiguous")
	addWatchBudgetFlags(cmd, &f.budget)
	return cmd
}

func runDump(ctx context.Context, out io.Writer, pid int, f dumpFlags) error {
	st := stopStateOf(ctx)
	if err := requireOverlay(); err != nil {
		return err
	}
	if f.dir != "" {
		if err := checkWritableDir(f.dir); err != nil {
			return withCode(exitOutput, err)
		}
	}
	q, err := quirks.Load(ctx, quirks.DefaultCacheDir)
	if err != nil {
		return err
	}
	d, err := dump.RunContext(ctx, pid, dump.Options{Tree: f.tree, Quirks: q, WatchBudget: f.budget})
	if err != nil {
		return err
	}
	var rep *dump.Report
	if f.dir != "" {
		// One set, all or nothing: after an error the directory holds what
		// it held before (dump.WriteDir).
		st.leave("the images directory %s holds what it held before: the image set is written all or nothing", quote.String(f.dir))
		if rep, err = d.WriteDir(f.dir); err != nil {
			return withCode(exitOutput, err)
		}
		st.leave("the images and %s in %s are complete; the report on stdout may be cut short", dump.ReportFile, quote.String(f.dir))
	} else {
		rep = d.Report(nil)
		st.leave("nothing was written; the report on stdout may be cut short")
	}
	if f.output == outputJSON {
		err = rep.WriteJSON(out)
	} else {
		err = rep.WriteText(out)
	}
	if err != nil {
		return err
	}
	if f.strict {
		if n := rep.Counts[string(resolve.Unresolved)] + rep.Counts[string(resolve.Ambiguous)]; n > 0 {
			return withCode(exitUnresolved, fmt.Errorf("%d object(s) unresolved or ambiguous", n))
		}
	}
	return nil
}

// checkWritableDir creates dir if needed and proves we can create files in
// it, before any work is done.
func checkWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("images directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".ovlfix-probe-*")
	if err != nil {
		return fmt.Errorf("images directory %s is not writable: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
