package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ovlfix/ovlfix/inspect"
	"github.com/ovlfix/ovlfix/mountns"
	"github.com/ovlfix/ovlfix/verify"
	"github.com/spf13/cobra"
)

// verifyFlags are the options of `ovlfix verify`.
type verifyFlags struct {
	root      string
	output    outputFormat
	skipRWX   bool
	validate  string
	allMounts bool
}

func newVerifyCmd() *cobra.Command {
	var f verifyFlags
	cmd := &cobra.Command{
		Use:   "verify ARCHIVE|DIR --root DIR",
		Short: "Predict whether CRIU will reopen every file of a checkpoint in the root the restore will use",
		Long: `verify checks, without restoring, every file a restore of the checkpoint will
reopen against DIR, the root the restore will use (a container rootfs or merged
directory; with an archive, as Podman leaves it after applying rootfs-diff.tar and
deleted.files, computed in memory). Paths are resolved inside DIR only. For each
file it runs CRIU 4.2's own checks in CRIU's order (open, size, build-ID, mode),
checks ghost images, link remaps and mounts, and names the file, the tasks and fds
that hold it and the error line CRIU will log. Exit status 0: restorable; 11: some
file will not reopen; 12: --root cannot be opened. Details: docs/verify.md.`,
		Args: argsRule("exactly one checkpoint (ARCHIVE or DIR)", cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.validate != "buildid" && f.validate != "filesize" {
				return usageError{fmt.Errorf("--file-validation must be buildid or filesize, got %q", f.validate)}
			}
			if f.root == "" {
				return usageError{errors.New("verify needs the root the restore will use: --root DIR")}
			}
			return runVerify(cmd.Context(), cmd.OutOrStdout(), args[0], f)
		},
	}
	cmd.Flags().StringVar(&f.root, "root", "", "the root directory the restore will use (container rootfs or merged dir)")
	addOutputFlag(cmd, &f.output, "output: text (the problems, each with CRIU's message) or json (docs/verify.md)")
	cmd.Flags().BoolVar(&f.skipRWX, "skip-file-rwx-check", false, "the restore runs with CRIU's --skip-file-rwx-check: ignore r/w/x bits")
	cmd.Flags().StringVar(&f.validate, "file-validation", "buildid", "CRIU's --file-validation of the restore: buildid (CRIU's default: size and build-ID) or filesize")
	cmd.Flags().BoolVar(&f.allMounts, "all-mounts", false, "check files on every mount in DIR, not only those on the namespace's root mount")
	return cmd
}

func runVerify(ctx context.Context, out io.Writer, p string, f verifyFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	stopStateOf(ctx).leave("nothing was written")
	c, err := openCheckpoint(ctx, p)
	if err != nil {
		return err
	}
	l, err := inspect.Load(c)
	if err != nil {
		return err
	}
	root, err := mountns.OpenRootPath(f.root)
	if err != nil {
		return withCode(exitRootUnusable, fmt.Errorf("--root: %w", quotePathIn(f.root, err)))
	}
	defer root.Close()
	res, err := verify.Check(ctx, l, root, f.root, c.Diff, verify.Options{SkipFileRWXCheck: f.skipRWX, SizeOnly: f.validate == "filesize", AllMounts: f.allMounts})
	if err != nil {
		return err
	}
	if f.output == outputJSON {
		err = verify.WriteJSON(out, res)
	} else {
		err = verify.WriteText(out, res)
	}
	if err != nil {
		return err
	}
	if !res.Restorable() {
		return withCode(exitNotRestorable, fmt.Errorf("verify: %d files will not reopen", len(res.Problems)))
	}
	return nil
}
