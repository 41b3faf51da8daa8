package resolve

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/mountns"
	"golang.org/x/sys/unix"
)

// hostOpens records HostView.Opened.
type hostOpens struct {
	mu    sync.Mutex
	paths []string
}

func (h *hostOpens) add(p string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.paths = append(h.paths, p)
}

func (h *hostOpens) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.paths...)
}

// dirOpens watches directory dir with inotify for opens and reads of it
// and of its entries: the kernel's own record, independent of ovlfix, of
// whether anything opened it for reading (O_PATH opens are not reported).
// The returned func drains and returns the events seen so far.
func dirOpens(t testing.TB, dir string) func() []string {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_OPEN|unix.IN_ACCESS|unix.IN_ONLYDIR); err != nil {
		t.Fatalf("watch %s: %v", dir, err)
	}
	return func() []string {
		var events []string
		buf := make([]byte, 64<<10)
		for {
			n, err := unix.Read(fd, buf)
			if errors.Is(err, unix.EAGAIN) || n <= 0 {
				return events
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				mask := binary.LittleEndian.Uint32(buf[off+4:])
				nameLen := int(binary.LittleEndian.Uint32(buf[off+12:]))
				name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+nameLen]), "\x00")
				what := "open"
				if mask&unix.IN_ACCESS != 0 {
					what = "read"
				}
				events = append(events, what+" "+filepath.Join(dir, name))
				off += unix.SizeofInotifyEvent + nameLen
			}
		}
	}
}

// TestLayersOfRuntimeOverlayIgnoreDecoy: the runtime (this process, in a
// namespace of its own) mounts an overlay; the target inherits it and
// shadows the lower layer's path inside its namespace with a decoy
// directory holding a file of the same name. The layers are the
// runtime's: the layer walk must find the watch in the real lower layer
// (through ovlfix's root), and the decoy must never be opened.
func TestLayersOfRuntimeOverlayIgnoreDecoy(t *testing.T) {
	asRuntime(t, func(t *testing.T) {
		ro := mountRuntimeOverlay(t, func(lower string) {
			writeFiles(t, lower, map[string]string{"app.txt": "real", "sub/deep.txt": "real"})
		})
		c := scenariotest.StartT(t, "", func(base string) scenario.Spec {
			lower := stepPath(t, base, ro.Path("lower"))
			return scenario.Spec{Base: base, HostLayers: true, Steps: []scenario.Step{
				{Do: "tmpfs", Path: lower}, // the decoy, in the target's namespace only
				{Do: "write", Path: append(lower, "/app.txt"...), Content: "decoy"},
				{Do: "write", Path: append(lower, "/sub/deep.txt"...), Content: "decoy"},
				{Do: "watch", Path: stepPath(t, base, ro.Path("merged/app.txt")), Label: "app"},
				{Do: "watch", Path: stepPath(t, base, ro.Path("merged/sub/deep.txt")), Label: "deep"},
			}}
		})
		decoy := filepath.Join("/proc", strconv.Itoa(c.PID), "root", ro.Path("lower"))
		var dst, rst unix.Stat_t
		if err := unix.Stat(decoy, &dst); err != nil {
			t.Fatal(err)
		}
		if err := unix.Stat(ro.Path("lower"), &rst); err != nil {
			t.Fatal(err)
		}
		if dst.Dev == rst.Dev && dst.Ino == rst.Ino {
			t.Fatal("the target sees the real lower layer: no decoy")
		}
		opens := dirOpens(t, decoy)
		var rec hostOpens
		s, err := NewSession(SessionOptions{HostOpened: rec.add})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var sc fdinfo.Scanner
		proc, err := sc.Scan(c.PID)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Resolve(context.Background(), c.PID, proc.Objects)
		if err != nil {
			t.Fatal(err)
		}
		for _, label := range []string{"app", "deep"} {
			h := held(t, c.Held, label)
			r := watchResult(t, got.Results, h)
			if r.Verdict != OK || !bytes.Equal(r.Path, h.Path) || r.Ino != h.Ino || r.Route != RouteLayers {
				t.Errorf("%s: %s %q ino %d route %q (%s), want ok %q ino %d by the layer walk\n  evidence %q",
					label, r.Verdict, r.Path, r.Ino, r.Route, r.Reason, h.Path, h.Ino, r.Evidence)
			}
			if !hasNote(r.Evidence, "from the host's view") || !hasNote(r.Evidence, ro.Path("lower")) {
				t.Errorf("%s: evidence does not say the real lower layer was walked from the host's view: %q", label, r.Evidence)
			}
		}
		if !slices.Contains(rec.list(), ro.Path("lower")) {
			t.Errorf("the real lower layer %s was not opened through ovlfix's root: %q", ro.Path("lower"), rec.list())
		}
		if ev := opens(); len(ev) != 0 {
			t.Errorf("the target's decoy was opened: %q", ev)
		}
	})
}

func held(t testing.TB, hs []scenario.Held, label string) scenario.Held {
	t.Helper()
	for _, h := range hs {
		if h.Label == label {
			return h
		}
	}
	t.Fatalf("no held object labelled %q", label)
	return scenario.Held{}
}

func watchResult(t testing.TB, rs []Result, h scenario.Held) *Result {
	t.Helper()
	for i := range rs {
		o := rs[i].Object
		if o.Kind == fdinfo.KindWatch && o.FD == h.FD && int(o.Watch.WD) == h.WD {
			return &rs[i]
		}
	}
	t.Fatalf("watch %q not among the results", h.Label)
	return nil
}

func hasNote(evidence []string, sub string) bool {
	for _, e := range evidence {
		if strings.Contains(e, sub) {
			return true
		}
	}
	return false
}

// TestLayersStaleHostTableNotTrusted: ovlfix's mount table is read once
// per session, and a superblock's major:minor is reused once it is
// unmounted, so the table may list an overlay with the target's
// major:minor that our namespace no longer has. Played here by a host
// view whose table is the target's own (real kernel text naming the
// target's overlay, which our root does not show at that mountpoint):
// the mountpoint's fstat in our root does not confirm the superblock, so
// no layer is opened from either view, and only the mountpoint was
// looked at through our root.
func TestLayersStaleHostTableNotTrusted(t *testing.T) {
	lp := startLive(t, func(base string) scenario.Spec {
		return scenario.Spec{Base: base, Steps: watchFiles(".", "")}
	})
	var rec hostOpens
	own := ownView(t, rec.add)
	stale := &HostView{Root: own.Root, Table: lp.r.Table, Opened: rec.add}
	layers := NewLayers(lp.r.Root.(*mountns.Root), stale)
	defer layers.Close()
	m := lp.r.Table.ByID(lp.mountID(t, "main"))
	h := lp.held(t, "lower-only")
	_, ok, notes := layers.Find(m, "/lower-only.txt", h.Dev, h.Ino)
	if ok || len(notes) != 1 || !strings.Contains(notes[0], "not looked up") || !strings.Contains(notes[0], "no longer shows it") {
		t.Errorf("Find: ok %v, notes %q; want nothing looked up, the superblock not confirmed", ok, notes)
	}
	if got := rec.list(); len(got) != 1 || got[0] != m.Mountpoint {
		t.Errorf("opened through our root: %q, want only the mountpoint %q", got, m.Mountpoint)
	}
}
