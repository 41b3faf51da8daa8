package fdinfo_test

import (
	"bytes"
	"testing"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/scenario"
)

// TestScanTreeThreadTable: a thread that unshared its file table is
// scanned as a table of its own, with its own files_id and its fd.
func TestScanTreeThreadTable(t *testing.T) {
	c := scenario.StartT(t, "", func(base string) scenario.Spec {
		return scenario.Spec{
			Base:  base,
			Files: []scenario.File{{Name: []byte("private.txt"), Layer: "lower", Content: "p"}},
			Ops:   []scenario.Op{{Kind: "thread-open", Path: []byte("private.txt")}},
		}
	})
	h := c.Held[0]
	if h.TID == 0 || h.TID == c.PID {
		t.Fatalf("thread-open reported tid %d (pid %d)", h.TID, c.PID)
	}
	var s fdinfo.Scanner
	procs, err := s.ScanTree(c.PID)
	if err != nil {
		t.Fatal(err)
	}
	var main, thread *fdinfo.Process
	for _, p := range procs {
		switch p.PID {
		case c.PID:
			main = p
		case h.TID:
			thread = p
		}
	}
	if main == nil || thread == nil {
		t.Fatalf("tree has %d tables; want the process and thread %d", len(procs), h.TID)
	}
	if thread.TGID != c.PID || thread.FilesID == main.FilesID {
		t.Errorf("thread table: tgid %d files_id %d (main %d)", thread.TGID, thread.FilesID, main.FilesID)
	}
	found := false
	for _, o := range thread.Objects {
		found = found || (o.Kind == fdinfo.KindFD && o.FD == h.FD && bytes.Equal(o.Link, h.Path))
	}
	if !found {
		t.Errorf("fd %d on %q not in the thread's table", h.FD, h.Path)
	}
	// Other threads share the main table and must not be listed again.
	if len(procs) != 2 {
		t.Errorf("%d tables listed, want 2", len(procs))
	}
}
