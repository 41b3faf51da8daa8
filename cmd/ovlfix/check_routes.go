package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/ovlfix/ovlfix/criuproxy"
	"github.com/ovlfix/ovlfix/hookroute"
	"github.com/ovlfix/ovlfix/internal/quote"
)

// hookRoutes is the "hook routes" section of `ovlfix check`: the real
// CRIU found (as the proxy would find it), its version, the runtimes
// installed, and what each route does for each runtime with that CRIU.
type hookRoutes struct {
	CRIU     string          `json:"criu,omitempty"`
	Version  string          `json:"criu_version,omitempty"`
	Error    string          `json:"error,omitempty"` // no CRIU, or no version
	Runtimes []runtimeRoutes `json:"runtimes,omitempty"`
}

type runtimeRoutes struct {
	Runtime hookroute.Runtime `json:"runtime"`
	// Path is where the runtime's program was found in PATH ("" if not).
	Path   string                 `json:"path,omitempty"`
	Routes []hookroute.Assessment `json:"routes"`
}

// runtimePrograms are the programs whose presence check reports.
var runtimePrograms = map[hookroute.Runtime]string{hookroute.Runc: "runc", hookroute.Podman: "podman", hookroute.Containerd: "containerd", hookroute.CRIU: "criu"}

func findHookRoutes(ctx context.Context) hookRoutes {
	var h hookRoutes
	real, err := criuproxy.FindReal("", os.LookupEnv, "/proc/self/exe")
	if err != nil {
		h.Error = err.Error()
		return h
	}
	h.CRIU = real
	v, err := hookroute.ReadVersion(ctx, real)
	if err != nil {
		h.Error = err.Error()
		return h
	}
	h.Version = v.String()
	for _, rt := range hookroute.Runtimes {
		r := runtimeRoutes{Runtime: rt, Routes: hookroute.AssessAll(v, rt)}
		if rt == hookroute.CRIU {
			r.Path = real
		} else if p, err := exec.LookPath(runtimePrograms[rt]); err == nil {
			r.Path = p
		}
		h.Runtimes = append(h.Runtimes, r)
	}
	return h
}

// writeHookRoutesText prints the section; paths and errors are quoted.
func writeHookRoutesText(b *strings.Builder, h hookRoutes) {
	b.WriteString("\nhook routes (docs/hook.md):\n")
	if h.Error != "" {
		fmt.Fprintf(b, "  CRIU: %s\n", quote.String(h.Error))
		return
	}
	fmt.Fprintf(b, "  CRIU %s at %s\n", h.Version, quote.String(h.CRIU))
	for _, r := range h.Runtimes {
		where := "not found in PATH"
		if r.Path != "" {
			where = quote.String(r.Path)
		}
		var safe []string
		for _, a := range r.Routes {
			if a.Status.Safe() {
				safe = append(safe, fmt.Sprintf("%s (%s)", a.Route, a.Status))
			}
		}
		fmt.Fprintf(b, "  %-10s %s: safe routes: %s\n", r.Runtime, where, strings.Join(safe, ", "))
		for _, a := range r.Routes {
			if a.Status == hookroute.Breaks {
				fmt.Fprintf(b, "  %-10s   %s breaks: %s\n", "", a.Route, a.Reason)
			}
		}
	}
}
