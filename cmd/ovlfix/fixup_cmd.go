package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/fixup"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/proto"
	"github.com/ovlfix/ovlfix/quirks"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// fixupFlags are the options of `ovlfix fixup`.
type fixupFlags struct {
	dir     string
	pid     int
	dryRun  bool
	output  outputFormat
	verbose bool
}

func newFixupCmd() *cobra.Command {
	var f fixupFlags
	cmd := &cobra.Command{
		Use:   "fixup -D DIR --pid PID",
		Short: "Check a CRIU dump's files.img against the live tasks and repair wrong overlay paths and mounts",
		Long: `fixup reads the CRIU images in DIR (pstree, ids, fdinfo, fs, mm, files), finds
each dumped task under PID (the host pid of the dump's root task; the tasks must
still exist, as they do, frozen, during CRIU's post-dump action), resolves every
fd, cwd, root, exe and file mapping the images name, and rewrites reg.name and
reg.mnt_id of the files.img entries CRIU got wrong. The original is kept as
files.img.ovlfix-orig; the report goes to ovlfix-fixup.json. See docs/fixup.md.`,
		Args: argsRule("no arguments (the pid goes in --pid)", cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.dir == "" {
				return usageError{errors.New("fixup needs the images directory: -D DIR")}
			}
			if f.pid <= 0 {
				return usageError{errors.New("fixup needs the host pid of the dump's root task: --pid PID")}
			}
			return runFixup(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), f)
		},
	}
	cmd.Flags().StringVarP(&f.dir, "images-dir", "D", "", "the CRIU images directory to check and repair")
	cmd.Flags().IntVar(&f.pid, "pid", 0, "host pid of the dump's root task (CRIU's CRTOOLS_INIT_PID)")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "print what would change; write nothing")
	addOutputFlag(cmd, &f.output, "output: text (a diff) or json (the report)")
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "progress lines on stderr")
	return cmd
}

func runFixup(ctx context.Context, out, errw io.Writer, f fixupFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if st, err := os.Stat(f.dir); err != nil {
		return fmt.Errorf("images directory: %w", err)
	} else if !st.IsDir() {
		return fmt.Errorf("images directory %s is not a directory", f.dir)
	}
	if !f.dryRun {
		if err := unix.Access(f.dir, unix.W_OK|unix.X_OK); err != nil {
			return withCode(exitOutput, fmt.Errorf("images directory %s cannot be written: %w", f.dir, err))
		}
	}
	q, err := quirks.Load(ctx, quirks.DefaultCacheDir)
	if err != nil {
		return err
	}
	if f.dryRun {
		stopStateOf(ctx).leave("nothing was written (dry run)")
	} else {
		stopStateOf(ctx).leave("%s in %s is as it was or the complete repair, never a partial file (the repair replaces it by one rename, after the original is kept as %s); %s may be missing or older", proto.FilesImg, quote.String(f.dir), fixup.BackupFile, fixup.ReportFile)
	}
	opts := fixup.Options{RootPID: f.pid, DryRun: f.dryRun, Quirks: q}
	if f.verbose {
		opts.Log = errw
	}
	rep, runErr := fixup.Run(ctx, f.dir, opts)
	if rep != nil {
		var werr error
		if f.output == outputJSON {
			werr = rep.WriteJSON(out)
		} else {
			werr = rep.WriteDiff(out)
		}
		if werr != nil && runErr == nil {
			return werr
		}
	}
	return fixupError(runErr)
}

// fixupError gives fixup's errors their exit codes: 9 for a dump that is
// wrong and cannot be repaired, 6 when the directory could not be written,
// and the usual ones (3 no such pid, 4 permission) otherwise.
func fixupError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fixup.ErrUnrepairable):
		return withCode(exitUnrepairable, err)
	case errors.Is(err, proto.ErrBadImageFile):
		return err // exit 10 (exitCode), before the write errors below
	case errors.Is(err, fdinfo.ErrNoProcess), errors.Is(err, fdinfo.ErrPermission), errors.Is(err, fdinfo.ErrExited):
		return err
	case errors.Is(err, unix.EROFS), errors.Is(err, unix.ENOSPC), errors.Is(err, unix.EDQUOT), errors.Is(err, os.ErrPermission):
		return withCode(exitOutput, err)
	}
	return err
}
