package hookroute

import "fmt"

// Runtime is what starts CRIU: a container runtime that talks to it over
// RPC (`criu swrk`: runc, Podman through runc, containerd through its runc
// shim) or the plain `criu` command line.
type Runtime string

const (
	Runc       Runtime = "runc"
	Podman     Runtime = "podman"
	Containerd Runtime = "containerd"
	CRIU       Runtime = "criu"
)

// Runtimes lists every runtime, in the order docs/hook.md's matrix uses.
var Runtimes = []Runtime{Runc, Podman, Containerd, CRIU}

// ParseRuntime accepts the names of Runtimes.
func ParseRuntime(s string) (Runtime, error) {
	for _, r := range Runtimes {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown runtime %q (runc, podman, containerd or criu)", s)
}

// rpc reports whether the runtime runs `criu swrk` (RPC) rather than a
// CRIU command line.
func (r Runtime) rpc() bool { return r != CRIU }

// Route is how the hook's work reaches a dump.
type Route string

const (
	// Proxy: the runtime runs `ovlfix-criu` as CRIU (docs/hook.md, "The
	// proxy route"); RPC notifications, no config file.
	Proxy Route = "proxy"
	// Config: an `action-script` line in a CRIU config file (runc.conf for
	// the container runtimes, default.conf for the criu command line).
	Config Route = "config"
	// CLI: `criu dump --action-script ovlfix-hook` on CRIU's command line.
	CLI Route = "cli"
)

// Routes lists every route, in the order check prints them.
var Routes = []Route{Proxy, Config, CLI}

// ParseRoute accepts "auto" (returned as "") and the names of Routes.
func ParseRoute(s string) (Route, error) {
	if s == "auto" || s == "" {
		return "", nil
	}
	for _, r := range Routes {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown route %q (auto, proxy, config or cli)", s)
}

// Status is what a route does to the dumps of a runtime with a CRIU.
type Status string

const (
	Works         Status = "works"
	RunsTwice     Status = "runs twice"
	Breaks        Status = "breaks"
	NotApplicable Status = "not applicable"
)

// Safe reports whether install may set the route up: it works, or runs
// the hook twice, which the hook tolerates (its second run of an action
// is a no-op, docs/hook.md "Run twice").
func (s Status) Safe() bool { return s == Works || s == RunsTwice }

// Assessment is one route for one CRIU version and runtime.
type Assessment struct {
	Route  Route  `json:"route"`
	Status Status `json:"status"`
	Reason string `json:"reason"`
}

// Assess says what route r does for runtime rt with CRIU v. The version
// boundaries: CRIU 3.19 (commit 28d005638, "action-scripts: allow shell
// scripts in rpc mode") lifted the BUG_ON of add_rpc_notify that aborts
// an RPC dump meeting an action script from a config file; 4.2 stopped
// registering the script of the RPC config file twice (criu#2727).
func Assess(v Version, rt Runtime, r Route) Assessment {
	a := Assessment{Route: r}
	switch {
	case r == Proxy && rt.rpc():
		a.Status, a.Reason = Works, fmt.Sprintf("%s runs ovlfix-criu as CRIU; the hook's work runs at CRIU's RPC notifications, once per action, with no config file (any CRIU version)", rt)
	case r == Proxy:
		a.Status, a.Reason = NotApplicable, "the proxy serves `criu swrk` (RPC); a `criu dump` command line is passed to the real CRIU without the hook: use the cli route"
	case r == CLI && rt.rpc():
		a.Status, a.Reason = NotApplicable, fmt.Sprintf("%s runs `criu swrk` and passes CRIU no command line", rt)
	case r == CLI:
		a.Status, a.Reason = Works, "`criu dump --action-script ovlfix-hook` runs the hook once per action (any CRIU version)"
	case rt.rpc() && v.Less(3, 19):
		a.Status, a.Reason = Breaks, fmt.Sprintf("CRIU %s aborts every %s checkpoint when an action script comes from a config file (BUG at criu/action-scripts.c:172, add_rpc_notify; lifted in 3.19)", v, rt)
	case rt.rpc() && v.Less(4, 2):
		a.Status, a.Reason = RunsTwice, fmt.Sprintf("CRIU %s registers an action script from %s's config file twice: the hook runs twice per action inside the freeze (criu#2727, fixed in 4.2); the second run is a no-op", v, rt)
	case rt.rpc():
		a.Status, a.Reason = Works, fmt.Sprintf("CRIU %s runs an action script from %s's config file once per action", v, rt)
	case v.Less(3, 19):
		a.Status, a.Reason = Breaks, fmt.Sprintf("CRIU %s reads default.conf in RPC mode too: the line would abort every runc and Podman checkpoint on this machine (BUG at criu/action-scripts.c:172, add_rpc_notify; lifted in 3.19)", v)
	default:
		a.Status, a.Reason = Works, fmt.Sprintf("CRIU %s runs the script once per `criu dump`; runc and Podman checkpoints on this machine read default.conf too (do not combine with the proxy: the work would run twice)", v)
	}
	return a
}

// AssessAll is Assess for every route.
func AssessAll(v Version, rt Runtime) []Assessment {
	out := make([]Assessment, 0, len(Routes))
	for _, r := range Routes {
		out = append(out, Assess(v, rt, r))
	}
	return out
}

// DefaultRoute is the route install picks when none is asked for: the
// proxy for the container runtimes on every CRIU version (once per action
// everywhere, no shared config file, nothing that another CRIU user on the
// machine meets), the command line for plain criu (a config line would
// reach every runtime's RPC dumps too).
func DefaultRoute(rt Runtime) Route {
	if rt.rpc() {
		return Proxy
	}
	return CLI
}

// RefusedError is a route install will not set up, with the reason and
// the route to use instead.
type RefusedError struct {
	Assessment
	Instead Route
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the %s route %s: %s; use the %s route (--route %s)", e.Route, e.Status, e.Reason, e.Instead, e.Instead)
}

// Choose returns the route to install for CRIU v and runtime rt: the
// requested one ("" for DefaultRoute) if it is safe, else a *RefusedError.
func Choose(v Version, rt Runtime, requested Route) (Assessment, error) {
	if requested == "" {
		requested = DefaultRoute(rt)
	}
	a := Assess(v, rt, requested)
	if !a.Status.Safe() {
		return a, &RefusedError{Assessment: a, Instead: DefaultRoute(rt)}
	}
	return a, nil
}
