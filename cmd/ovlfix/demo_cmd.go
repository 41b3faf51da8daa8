package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/ovlfix/ovlfix/dump"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/quirks"
	"github.com/spf13/cobra"
)

type demoFlags struct {
	dir    string
	output outputFormat
}

func newDemoCmd() *cobra.Command {
	var f demoFlags
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Build an overlay, start a process holding files on it, dump it and show the result",
		Long: `demo builds a small overlay (lower and upper layers, files copied up, a file only
in lower, one only in upper, one with a newline and invalid UTF-8 in its name) in a
private mount namespace, starts a child that opens, mmaps and inotify-watches files
there and sits in a directory of it, runs dump on the child, prints the report and
the decoded images, checks every object against what the child itself saw, and
removes everything (also on Ctrl-C). As root it uses a private mount namespace; as
a normal user it adds a user namespace (unprivileged overlay, Linux >= 5.11).`,
		Args: argsRule("no arguments", cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Interrupted (main cancels the context), runDemo returns
			// once its defers have removed everything; main then says so.
			// What failed because the child was killed is no news then.
			err := runDemo(cmd.Context(), cmd.OutOrStdout(), f)
			if cerr := cmd.Context().Err(); err != nil && cerr != nil {
				return cerr
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&f.dir, "images-dir", "D", "", "keep the images in this directory (default: a temporary one, removed)")
	addOutputFlag(cmd, &f.output, "report format")
	return cmd
}

// runDemo cleans up after itself on every return, also when ctx is
// cancelled; for a forced exit (a call that does not return after an
// interrupt) it registers the same cleanup with main: kill the child (its
// mounts vanish with its namespace) and remove the directories it made.
func runDemo(ctx context.Context, out io.Writer, f demoFlags) error {
	st := stopStateOf(ctx)
	st.leave("everything the demo made was removed")
	if f.dir != "" {
		st.leave("everything the demo made was removed, but the images in %s may be incomplete", quote.String(f.dir))
	}
	if err := requireOverlay(); err != nil {
		return err
	}
	base, err := os.MkdirTemp("", "ovlfix-demo-")
	if err != nil {
		return err
	}
	defer os.Remove(base) // Stop removes it too; this covers a failed Start
	unregister := st.atForcedExit(func() { os.Remove(base) })
	defer unregister()
	spec := scenario.Demo(base)
	spec.UserNS = os.Geteuid() != 0
	child, err := scenario.Start(ctx, spec)
	if err != nil {
		if spec.UserNS {
			return fmt.Errorf("%w\n%s", err, userNSHint())
		}
		return err
	}
	defer child.Stop()
	unregisterChild := st.atForcedExit(func() {
		syscall.Kill(child.PID, syscall.SIGKILL)
		os.Remove(base) // empty here: the child's tmpfs is in its own namespace
	})
	defer unregisterChild()
	fmt.Fprintf(out, "demo: child pid %d holds files on the overlay at %s (mount %d, kernel %s)\n\n",
		child.PID, quote.String(child.Merged), child.MntID, quote.String(child.Kernel))

	dir := f.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "ovlfix-demo-images-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		tmp := dir
		defer st.atForcedExit(func() { os.RemoveAll(tmp) })()
	} else if err := checkWritableDir(dir); err != nil {
		return withCode(exitOutput, err)
	}
	q, err := quirks.Load(ctx, quirks.DefaultCacheDir)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "kernel behaviour (ovlfix check): probed=%v fd_path_ok=%v maps_dev_is_sbdev=%v maps_ino_ok=%v\n\n",
		q.Probed, q.FdPathOK, q.MapsDevIsSbDev, q.MapsInoOK)
	d, err := dump.Run(child.PID, dump.Options{Quirks: q})
	if err != nil {
		return err
	}
	rep, err := d.WriteDir(dir)
	if err != nil {
		return withCode(exitOutput, err)
	}
	if f.output == outputJSON {
		return rep.WriteJSON(out)
	}
	fmt.Fprintln(out, "== ovlfix report")
	if err := rep.WriteText(out); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n== images in %s\n", quote.String(dir))
	if err := printImages(out, dir); err != nil {
		return err
	}
	fmt.Fprintln(out, "\n== check against what the child saw")
	return checkAgainstManifest(out, rep, child.Manifest)
}

// checkAgainstManifest proves the report right: every object the child
// holds must appear with the path and mount id the child itself read.
func checkAgainstManifest(out io.Writer, rep *dump.Report, m *scenario.Manifest) error {
	bad := 0
	for _, h := range m.Held {
		found := false
		for _, o := range rep.Processes[0].Objects {
			if matches(o, h) {
				found = o.MntID == m.MntID && o.PathB64 == quote.Base64(h.Path)
				break
			}
		}
		status := "ok"
		if !found {
			status = "MISSING OR WRONG"
			bad++
		}
		fmt.Fprintf(out, "  %-5s %-40s mount %d: %s\n", h.Kind, quote.Bytes(h.Path), m.MntID, status)
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d held objects were not reported with their overlay path and mount id", bad, len(m.Held))
	}
	fmt.Fprintf(out, "all %d held objects reported with their overlay path and mount id %d\n", len(m.Held), m.MntID)
	return nil
}

func matches(o dump.ObjectReport, h scenario.Held) bool {
	switch h.Kind {
	case "fd":
		return o.Kind == "fd" && o.FD == h.FD
	case "watch":
		return o.Kind == "watch" && o.FD == h.FD && o.WD != nil && int(*o.WD) == h.WD
	case "map":
		return o.Kind == "map" && bytes.HasPrefix([]byte(o.Range), []byte(fmt.Sprintf("%x-", h.Addr)))
	case "cwd":
		return o.Kind == "cwd"
	}
	return false
}

// userNSHint explains why a rootless demo may fail.
func userNSHint() string {
	msg := "as a normal user the demo needs a user namespace in which overlay can be mounted: Linux >= 5.11 (userxattr)"
	for _, f := range []struct{ path, bad string }{
		{"/proc/sys/user/max_user_namespaces", "0"},
		{"/proc/sys/kernel/unprivileged_userns_clone", "0"},
		{"/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1"},
	} {
		if b, err := os.ReadFile(f.path); err == nil && string(bytes.TrimSpace(b)) == f.bad {
			msg += fmt.Sprintf("; %s is %s, which forbids it", f.path, f.bad)
		}
	}
	return msg + ". Or run it as root."
}
