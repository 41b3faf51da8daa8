package podman

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// route is how a test's container reaches ovlfix: through the proxy first
// in PATH, or the hook named in its org.criu.config file. The zero route
// is CRIU 4.2 alone, and so is viaProxy until the test sets w.proxy.
type route string

const (
	viaProxy      route = "proxy"
	viaAnnotation route = "annotation"
)

// startHolder runs `/holder ARGS...` (testdata/holder.c) from image in a
// new container with the extra podman run options opts, and waits for its
// READY line. With viaAnnotation the container's CRIU config file
// (org.criu.config) makes ovlfix-hook CRIU's action script; otherwise the
// annotation is "" (no config file at all: runc would read
// /etc/criu/runc.conf otherwise).
func (w *world) startHolder(image string, r route, opts []string, args ...string) string {
	w.t.Helper()
	config := ""
	if r == viaAnnotation {
		config = filepath.Join(w.dir, "criu.conf")
		if err := os.WriteFile(config, []byte("action-script "+built.hook+"\n"), 0o644); err != nil {
			w.t.Fatal(err)
		}
	}
	name := w.name("ct")
	run := []string{"run", "-d", "--name", name, "--network", "none",
		"--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
		"--annotation", "org.criu.config=" + config}
	run = append(append(run, opts...), image, "/holder")
	w.must(append(run, args...)...)
	w.waitLogs(name, "READY\n")
	return name
}

// waitLogs polls the container's output until it has want, failing the
// test when the container stops first or after 30 s.
func (w *world) waitLogs(name, want string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := poll(ctx, func() (bool, error) {
		out, err := w.podman("logs", name)
		if err != nil || strings.Contains(out, want) {
			return err == nil, err
		}
		state, err := w.podman("inspect", "-f", "{{.State.Status}}", name)
		if err == nil && strings.TrimSpace(state) != "running" {
			return false, fmt.Errorf("container %s is %s before printing %q; its output: %q", name, strings.TrimSpace(state), want, out)
		}
		return false, err
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

// poll calls f with a growing pause (10 ms to 200 ms) until it says done,
// fails, or ctx ends.
func poll(ctx context.Context, f func() (bool, error)) error {
	pause := 10 * time.Millisecond
	for {
		done, err := f()
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up waiting: %w", ctx.Err())
		case <-time.After(pause):
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

// watchedFile is the file of the image `holder hold` watches (inotify).
const watchedFile = "/data/watched.txt"

// holding is what `holder report` says the container's pid 1 holds.
type holding struct {
	FDs    map[string]string // fd number: the rest of its line (link, content, watches or marks)
	Maps   []string          // mapped files under /data
	Inode  string            // the reported file's inode number now, hex
	Events int
	raw    string
}

func (h holding) String() string { return h.raw }

// report runs `holder report` in the container: the inode it gives is
// watchedFile's.
func (w *world) report(name string) holding {
	w.t.Helper()
	return w.reportOn(name, watchedFile)
}

// reportOn runs `holder report PATH` in the container: the inode it gives
// is PATH's.
func (w *world) reportOn(name, path string) holding {
	w.t.Helper()
	out := w.must("exec", name, "/holder", "report", path)
	h := holding{FDs: map[string]string{}, raw: out}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		word, rest, _ := strings.Cut(line, " ")
		switch word {
		case "fd":
			fd, what, _ := strings.Cut(rest, " ")
			h.FDs[fd] = what
		case "map":
			if !slices.Contains(h.Maps, rest) {
				h.Maps = append(h.Maps, rest)
			}
		case "ino":
			_, h.Inode, _ = strings.Cut(rest, " ")
		case "events":
			if _, err := fmt.Sscanf(rest, "%d", &h.Events); err != nil {
				w.t.Fatalf("holder report: bad line %q", line)
			}
		default:
			w.t.Fatalf("holder report: bad line %q in\n%s", line, out)
		}
	}
	return h
}

// waitEvent appends to path through the container and waits until the
// holder has read one more event than before (its inotify watch or
// fanotify mark on path fired).
func (w *world) waitEvent(name, path string) error {
	w.t.Helper()
	before := w.reportOn(name, path).Events
	w.must("exec", name, "/bin/sh", "-c", "echo more >> "+path)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return poll(ctx, func() (bool, error) {
		return w.reportOn(name, path).Events > before, nil
	})
}

// staticDir is the container's userdata directory, where Podman keeps
// CRIU's dump.log and restore.log.
func (w *world) staticDir(name string) string {
	w.t.Helper()
	return strings.TrimSpace(w.must("inspect", "-f", "{{.StaticDir}}", name))
}

// criuErrors returns the lines of a CRIU log with "Error (" but the
// rlimit one CRIU prints on every run here (it cannot raise its own
// RLIMIT_NOFILE, and goes on).
func criuErrors(log string) []string {
	var errs []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "Error (") && !strings.Contains(l, "rlimit:") {
			errs = append(errs, strings.TrimSpace(l))
		}
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
