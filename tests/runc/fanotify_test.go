package runc

import (
	"strconv"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/internal/testenv"
	"golang.org/x/sys/unix"
)

// TestRuncFanotifyThroughProxy, with CRIU 4.2 and 4.1.1: a fanotify inode
// mark (FAN_MODIFY) on a lower-layer file of the container's overlay
// rootfs, held by `watcher fanotify` with CAP_SYS_ADMIN added to the
// container. runc with CRIU alone cannot checkpoint it (CRIU dumps an
// inode mark through the same file-handle path as an inotify watch,
// criu/fsnotify.c); through `ovlfix criu` it can, and the restored
// process's mark is in its fdinfo and fires (doc.go).
func TestRuncFanotifyThroughProxy(t *testing.T) { forEachCRIU(t, fanotifyThroughProxy) }

func fanotifyThroughProxy(t *testing.T, tl tools, criu criuBinary) {
	c := newContainer(t, tl, "fan"+strings.ReplaceAll(criu.version, ".", ""), bundle{
		args: []string{"/bin/watcher", "fanotify", "/lowerfile", "/tmp/events"},
		caps: []string{"CAP_SYS_ADMIN"},
	})
	c.runDetached("ready", "the fanotify watcher (CAP_SYS_ADMIN for fanotify_init?)")
	_, pid := c.state()
	marks := fdinfoLines(pid, "fanotify ino:")
	if len(marks) != 1 {
		t.Fatalf("the watcher %d shows %d fanotify inode marks, want 1: %q", pid, len(marks), marks)
	}
	lowerIno := inodeOf(t, c.path("lower/lowerfile"))
	if !strings.Contains(marks[0], "ino:"+strconv.FormatUint(lowerIno, 16)+" ") {
		t.Fatalf("the mark %q is not on the lower file (inode %x)", marks[0], lowerIno)
	}

	// 1. CRIU alone.
	c.checkpointFailsAlone(criu, "on the mark", "fsnotify", "Dumping FAILED")

	// 2. Through the proxy.
	img := c.path("img-proxy")
	dumpLog := c.proxyCheckpoint(tl, criu, img)
	for _, want := range []string{`ovlfix-hook: pre-dump: irmap `, `-> "/lowerfile": added`, "Found /lowerfile in cache", "ovlfix-hook: post-dump: "} {
		if !strings.Contains(dumpLog, want) {
			t.Errorf("dump.log through the proxy lacks %q:\n%s", want, strings.Join(testenv.LinesWith(dumpLog, "ovlfix-hook", "fanotify", "irmap"), "\n"))
		}
	}
	t.Logf("through the proxy: %s", strings.Join(testenv.LinesWith(dumpLog, "ovlfix-hook: pre-dump", "Found /lowerfile", "fanotify"), " | "))

	// 3. Restore; the restored mark is in fdinfo and fires.
	st, rpid := c.restoreDetached(tl.proxy, proxyEnv(criu), img, "through ovlfix-criu")
	if st != "running" || rpid <= 0 {
		t.Fatalf("after the restore the container is %q (pid %d), want running", st, rpid)
	}
	restored := fdinfoLines(rpid, "fanotify ino:")
	if len(restored) != 1 || !strings.Contains(restored[0], "ino:"+strconv.FormatUint(lowerIno, 16)+" ") || !strings.Contains(restored[0], "mask:2 ") {
		t.Fatalf("the restored process %d's fanotify marks are %q, want one FAN_MODIFY (mask:2) mark on inode %x", rpid, restored, lowerIno)
	}
	if !c.appendAndWait("more") {
		t.Fatalf("the restored fanotify mark did not fire: events %q", c.events())
	}
	t.Logf("restored pid %d (was %d), mark %s; events: %q", rpid, pid, restored[0], c.events())
}

func inodeOf(t *testing.T, p string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}
