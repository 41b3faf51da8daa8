package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ovlfix/ovlfix/criuproxy"
	"github.com/ovlfix/ovlfix/hookroute"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/spf13/cobra"
)

// hookInstallFlags are the options of `ovlfix hook install|uninstall`.
type hookInstallFlags struct {
	runtime   string
	route     string
	criu      string
	prefix    string
	configDir string
	dryRun    bool
}

func addHookInstallFlags(cmd *cobra.Command, f *hookInstallFlags) {
	cmd.Flags().StringVar(&f.runtime, "runtime", "runc", "what starts CRIU: runc, podman, containerd or criu (the command line)")
	cmd.Flags().StringVar(&f.route, "route", "auto", "auto, proxy (ovlfix-criu as the runtime's CRIU), config (an action-script line) or cli (--action-script)")
	cmd.Flags().StringVar(&f.criu, "criu", "", "the real CRIU (default: $OVLFIX_REAL_CRIU, else the first criu in PATH that is not ovlfix)")
	cmd.Flags().StringVar(&f.prefix, "prefix", "/usr/local/bin", "directory of the symlinks ovlfix-hook and ovlfix-criu")
	cmd.Flags().StringVar(&f.configDir, "config-dir", "/etc/criu", "CRIU's config directory (runc.conf, default.conf)")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "print what would change; change nothing")
}

func newHookInstallCmd() *cobra.Command {
	var f hookInstallFlags
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Set up the hook for a runtime by the route that works with this CRIU",
		Long: `install reads the real CRIU's --version and picks the route for the runtime: the proxy
(ovlfix-criu run as CRIU: once per action on every CRIU version, no config file) for runc,
Podman and containerd; the command line (--action-script) for plain criu. --route config
adds one marked line "action-script PREFIX/ovlfix-hook  # added by ovlfix hook install" to
CONFIG-DIR/runc.conf (default.conf for --runtime criu), only on CRIU >= 3.19: older CRIU
aborts every runc/Podman checkpoint when an action script comes from a config file, and
install refuses. It creates the symlink the route needs in --prefix, prints each change,
and prints what you must set in the runtime (runc --criu, containerd's CriuPath, Podman's
PATH): it never edits runtime configs. Details: docs/hook.md.`,
		Args: argsRule("no arguments", cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runHookInstall(cmd, f, true) },
	}
	addHookInstallFlags(cmd, &f)
	return cmd
}

func newHookUninstallCmd() *cobra.Command {
	var f hookInstallFlags
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove the symlinks and config lines of hook install",
		Long: `uninstall removes the symlinks ovlfix-hook and ovlfix-criu from --prefix when they point to
this ovlfix, and the lines marked "# added by ovlfix hook install" from CONFIG-DIR/runc.conf
and default.conf; every other line stays byte for byte. Runtime settings (runc --criu,
CriuPath, PATH) are yours to take back.`,
		Args: argsRule("no arguments", cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runHookInstall(cmd, f, false) },
	}
	addHookInstallFlags(cmd, &f)
	return cmd
}

func runHookInstall(cmd *cobra.Command, f hookInstallFlags, install bool) error {
	rt, err := hookroute.ParseRuntime(f.runtime)
	if err != nil {
		return usageError{err}
	}
	route, err := hookroute.ParseRoute(f.route)
	if err != nil {
		return usageError{err}
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("the path of this ovlfix: %w", err)
	}
	if self, err = filepath.EvalSymlinks(self); err != nil {
		return fmt.Errorf("the path of this ovlfix: %w", err)
	}
	o := hookroute.Options{Runtime: rt, Route: route, Prefix: f.prefix, ConfigDir: f.configDir, Binary: self, DryRun: f.dryRun}
	out := cmd.OutOrStdout()
	stopStateOf(cmd.Context()).leave("each file is the old one or the complete new one (replaced by rename); the lines printed above are done")
	if !install {
		res, err := hookroute.Uninstall(o)
		printHookResult(out, res, f.dryRun)
		return err
	}
	o.CRIU, err = criuproxy.FindReal(f.criu, os.LookupEnv, "/proc/self/exe")
	if err != nil {
		return err
	}
	if abs, err := filepath.Abs(o.CRIU); err == nil {
		o.CRIU = abs
	}
	if o.Version, err = hookroute.ReadVersion(cmd.Context(), o.CRIU); err != nil {
		return err
	}
	res, err := hookroute.Install(o)
	fmt.Fprintf(out, "CRIU %s (%s), runtime %s: route %s (%s)\n  %s\n", o.Version, quote.String(o.CRIU), rt, res.Chosen.Route, res.Chosen.Status, res.Chosen.Reason)
	for _, a := range hookroute.AssessAll(o.Version, rt) {
		if a.Route != res.Chosen.Route {
			fmt.Fprintf(out, "  other route %s: %s: %s\n", a.Route, a.Status, a.Reason)
		}
	}
	if err != nil {
		return err
	}
	printHookResult(out, res, f.dryRun)
	return nil
}

func printHookResult(out io.Writer, res hookroute.Result, dryRun bool) {
	var b strings.Builder
	changed := 0
	for _, e := range res.Edits {
		if e.Changed {
			changed++
		}
		fmt.Fprintf(&b, "%s\n", e.What)
	}
	switch {
	case dryRun:
		fmt.Fprintf(&b, "dry run: nothing written (%d change(s) would be made)\n", changed)
	default:
		fmt.Fprintf(&b, "%d change(s) made\n", changed)
	}
	for _, s := range res.Instructions {
		fmt.Fprintf(&b, "you must: %s\n", s)
	}
	io.WriteString(out, b.String())
}
