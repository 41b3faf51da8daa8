package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "ovlfix",
		Short: "Correct what /proc says about files on overlayfs, and write CRIU images",
		Long: `ovlfix reads what the kernel reports about a process's files (/proc/<pid>/fd,
fdinfo, maps, map_files, mountinfo), works out the true overlay path and mount of
each one inside the process's own mount namespace, and writes CRIU images.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newDumpCmd(), newDemoCmd(), newCheckCmd())
	root.AddCommand(newFixupCmd())
	root.AddCommand(newHookCmd())
	root.AddCommand(newInspectCmd(), newVerifyCmd())
	root.AddCommand(newCriuCmd())
	return root
}
