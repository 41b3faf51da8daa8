package podman

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// route is how a test's container reaches ovlfix: through the proxy first
// in PATH, or the hook named in its org.criu.config file.
type route string

const (
	viaProxy      route = "proxy"
	viaAnnotation route = "annotation"
)

// startMarker runs `/marker ARGS...` (testdata/marker.c) in a new
// container with the extra podman run options opts, and waits for its
// READY line. With viaAnnotation the container's CRIU config file names
// the hook; otherwise org.criu.config is "" (no config file at all).
func (w *world) startMarker(r route, opts []string, args ...string) string {
	w.t.Helper()
	config := ""
	if r == viaAnnotation {
		config = filepath.Join(w.dir, "criu.conf")
		if err := os.WriteFile(config, []byte("action-script "+built.hook+"\n"), 0o644); err != nil {
			w.t.Fatal(err)
		}
	}
	name := w.name("mk")
	run := []string{"run", "-d", "--name", name, "--network", "none",
		"--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
		"--annotation", "org.criu.config=" + config}
	run = append(append(run, opts...), w.image(), "/marker")
	w.must(append(run, args...)...)
	w.waitLogs(name, "READY\n")
	return name
}

// marked is what `marker report PATH` says pid 1 holds.
type marked struct {
	FDs    map[string]string // fd number: the rest of its line
	Inode  string            // PATH's inode number now, hex
	Events int
	raw    string
}

func (m marked) String() string { return m.raw }

// markerReport runs `marker report PATH` in the container.
func (w *world) markerReport(name, path string) marked {
	w.t.Helper()
	out := w.must("exec", name, "/marker", "report", path)
	m := marked{FDs: map[string]string{}, raw: out}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		word, rest, _ := strings.Cut(line, " ")
		switch word {
		case "fd":
			fd, what, _ := strings.Cut(rest, " ")
			m.FDs[fd] = what
		case "ino":
			_, m.Inode, _ = strings.Cut(rest, " ")
		case "events":
			if _, err := fmt.Sscanf(rest, "%d", &m.Events); err != nil {
				w.t.Fatalf("marker report: bad line %q", line)
			}
		default:
			w.t.Fatalf("marker report: bad line %q in\n%s", line, out)
		}
	}
	return m
}

// waitMarkerEvent appends to path through the container and waits until
// the marker has read one more event than before.
func (w *world) waitMarkerEvent(name, path string) error {
	before := w.markerReport(name, path).Events
	w.must("exec", name, "/bin/sh", "-c", "echo more >> "+path)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return poll(ctx, func() (bool, error) {
		return w.markerReport(name, path).Events > before, nil
	})
}
