package hookroute

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Names of the symlinks install creates in the prefix (cmd/ovlfix behaves
// as `ovlfix hook` or `ovlfix criu` when run under them).
const (
	HookLink = "ovlfix-hook"
	CRIULink = "ovlfix-criu"
)

// Config file names in the config dir (/etc/criu): runc's default CRIU
// config file, and the file CRIU itself reads in every mode.
const (
	RuncConf    = "runc.conf"
	DefaultConf = "default.conf"
)

// Options are the inputs of Install and Uninstall. Every path is given
// (the command fills in /usr/local/bin and /etc/criu), so tests run in
// temporary directories.
type Options struct {
	CRIU      string  // the real CRIU's path, for the report
	Version   Version // its `--version`
	Runtime   Runtime
	Route     Route  // requested; "" for DefaultRoute
	Prefix    string // directory of the symlinks
	ConfigDir string // CRIU's config directory
	Binary    string // the ovlfix executable the symlinks point to
	DryRun    bool
}

// Result is what Install or Uninstall did (or would do).
type Result struct {
	Chosen       Assessment
	Edits        []Edit
	Instructions []string
}

func (o Options) hookPath() string { return filepath.Join(o.Prefix, HookLink) }
func (o Options) criuPath() string { return filepath.Join(o.Prefix, CRIULink) }
func (o Options) confFiles() []string {
	return []string{filepath.Join(o.ConfigDir, RuncConf), filepath.Join(o.ConfigDir, DefaultConf)}
}

// confFile is the file of the config route for the runtime.
func (o Options) confFile() string {
	if o.Runtime.rpc() {
		return filepath.Join(o.ConfigDir, RuncConf)
	}
	return filepath.Join(o.ConfigDir, DefaultConf)
}

type step func(dryRun bool) (Edit, error)

// runSteps runs every step dry first, so that a refusal (a symlinked
// config file, a foreign file where a link goes) changes nothing; then,
// unless o.DryRun, for real.
func runSteps(o Options, steps []step) ([]Edit, error) {
	edits := make([]Edit, 0, len(steps))
	for _, s := range steps {
		e, err := s(true)
		if err != nil {
			return nil, err
		}
		edits = append(edits, e)
	}
	if o.DryRun {
		return edits, nil
	}
	edits = edits[:0]
	for _, s := range steps {
		e, err := s(false)
		if err != nil {
			return edits, err
		}
		edits = append(edits, e)
	}
	return edits, nil
}

// Install sets up the route Choose picks. The config route adds our line
// to the runtime's config file; the proxy and cli routes remove our line
// from both config files (the routes must not be combined: the work would
// run twice, and on CRIU ≤ 3.18 the line breaks every RPC dump). A
// *RefusedError means nothing was changed.
func Install(o Options) (Result, error) {
	a, err := Choose(o.Version, o.Runtime, o.Route)
	r := Result{Chosen: a}
	if err != nil {
		return r, err
	}
	var steps []step
	link := o.hookPath()
	if a.Route == Proxy {
		link = o.criuPath()
	}
	steps = append(steps, func(d bool) (Edit, error) { return EnsureLink(link, o.Binary, d) })
	if a.Route == Config {
		steps = append(steps, func(d bool) (Edit, error) { return AddLine(o.confFile(), o.hookPath(), d) })
	} else {
		for _, f := range o.confFiles() {
			steps = append(steps, func(d bool) (Edit, error) { return RemoveLine(f, o.hookPath(), d) })
		}
	}
	r.Edits, err = runSteps(o, steps)
	r.Instructions = instructions(o, a.Route)
	for _, e := range r.Edits {
		if len(e.Foreign) == 0 {
			continue
		}
		why := "with the proxy the hook's work would run twice"
		if o.Version.Less(3, 19) {
			why = fmt.Sprintf("on CRIU %s it aborts every runc and Podman checkpoint", o.Version)
		}
		r.Instructions = append(r.Instructions, fmt.Sprintf("remove %s from %s (install did not add it, so it does not touch it): %s", strings.Join(e.Foreign, ", "), e.Path, why))
	}
	return r, err
}

// Uninstall removes what Install may have added: both symlinks (when
// they point to o.Binary) and our line from both config files.
func Uninstall(o Options) (Result, error) {
	var r Result
	steps := []step{
		func(d bool) (Edit, error) { return RemoveLink(o.hookPath(), o.Binary, d) },
		func(d bool) (Edit, error) { return RemoveLink(o.criuPath(), o.Binary, d) },
	}
	for _, f := range o.confFiles() {
		steps = append(steps, func(d bool) (Edit, error) { return RemoveLine(f, o.hookPath(), d) })
	}
	var err error
	r.Edits, err = runSteps(o, steps)
	r.Instructions = []string{fmt.Sprintf("take %s out of the runtime's setup (runc --criu, containerd's CriuPath, a criu symlink in Podman's PATH) and %s out of criu command lines (--action-script) yourself: ovlfix does not edit runtime configs", o.criuPath(), o.hookPath())}
	return r, err
}

// instructions are what the user must do that install does not: runtime
// configs it cannot edit safely (containerd's config.toml, a service's
// environment, command lines).
func instructions(o Options, route Route) []string {
	criu, hook := o.criuPath(), o.hookPath()
	real := fmt.Sprintf("the proxy runs the real CRIU %s only if it is the first `criu` in the runtime's PATH that is not ovlfix; otherwise set OVLFIX_REAL_CRIU=%s in the runtime's environment", o.CRIU, o.CRIU)
	switch {
	case route == Proxy && o.Runtime == Runc:
		return []string{fmt.Sprintf("run runc with --criu %s for checkpoint and restore: runc --criu %s checkpoint ...", criu, criu), real}
	case route == Proxy && o.Runtime == Containerd:
		return []string{fmt.Sprintf("set CriuPath = %q in the runc runtime options of containerd's config.toml ([plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]) and restart containerd", criu), real}
	case route == Proxy && o.Runtime == Podman:
		return []string{fmt.Sprintf("Podman (with --runtime runc) finds CRIU by name: make a directory holding a symlink criu -> %s and put it first in Podman's PATH, e.g. mkdir -p /usr/local/lib/ovlfix/podman && ln -s %s /usr/local/lib/ovlfix/podman/criu && PATH=/usr/local/lib/ovlfix/podman:$PATH podman container checkpoint ...", criu, criu), real}
	case route == CLI:
		return []string{fmt.Sprintf("add --action-script %s to each criu dump command line", hook)}
	case route == Config && o.Runtime == Podman:
		return []string{"Podman reads runc.conf through runc (--runtime runc); with crun a config file reaches CRIU only from CRIU 4.2"}
	}
	return nil
}
