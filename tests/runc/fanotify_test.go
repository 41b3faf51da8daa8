package runc

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRuncFanotifyThroughProxy, with CRIU 4.2 and 4.1.1: a fanotify inode
// mark (FAN_MODIFY) on a lower-layer file of the container's overlay
// rootfs, held by `watcher fanotify` with CAP_SYS_ADMIN added to the
// container. runc with CRIU alone cannot checkpoint it (CRIU dumps an
// inode mark through the same file-handle path as an inotify watch,
// criu/fsnotify.c); through `ovlfix criu` it can, and the restored
// process's mark is in its fdinfo and fires (doc.go).
func TestRuncFanotifyThroughProxy(t *testing.T) {
	tl := setupTools(t)
	becomeSubreaper(t)
	for _, criu := range tl.criu {
		t.Run("criu-"+criu.version, func(t *testing.T) { fanotifyThroughProxy(t, tl, criu) })
	}
}

func fanotifyThroughProxy(t *testing.T, tl tools, criu criuBinary) {
	c := newContainer(t, tl, "fan"+strings.ReplaceAll(criu.version, ".", ""), bundle{
		args: []string{"/bin/watcher", "fanotify", "/lowerfile", "/tmp/events"},
		caps: []string{"CAP_SYS_ADMIN"},
	})
	if out, err := c.runc("", nil, "run", "-d", "--bundle", c.path("bundle"), c.id); err != nil {
		t.Fatalf("runc run -d: %v\n%s", err, out)
	}
	if !c.waitEvents("ready", 1) {
		t.Fatalf("the fanotify watcher did not get ready (CAP_SYS_ADMIN for fanotify_init?): events %q", c.events())
	}
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
	plain := c.path("img-plain")
	out, err := c.runc(criu.path, nil, "checkpoint", "--leave-running", "--image-path", plain, c.id)
	dumpLog := readLog(t, filepath.Join(plain, "dump.log"))
	if err == nil {
		t.Fatalf("runc checkpoint with CRIU alone succeeded; the test's premise (CRIU cannot open the overlay handle) is gone:\n%s", dumpLog)
	}
	if !strings.Contains(dumpLog, "Can't dump that handle") {
		t.Fatalf("runc checkpoint with CRIU alone failed, but not on the mark: %v\n%s\n%s", err, out, lines(dumpLog, "Error"))
	}
	t.Logf("without the proxy: runc: %s; dump.log: %s", strings.TrimSpace(out), strings.Join(lines(dumpLog, "fsnotify", "Dumping FAILED"), " | "))
	if st, _ := c.state(); st != "running" {
		t.Fatalf("after the failed checkpoint the container is %q, want running", st)
	}

	// 2. Through the proxy.
	env := []string{"OVLFIX_REAL_CRIU=" + criu.path}
	img := c.path("img-proxy")
	out, err = c.runc(tl.proxy, env, "checkpoint", "--image-path", img, c.id)
	dumpLog = readLog(t, filepath.Join(img, "dump.log"))
	if err != nil {
		t.Fatalf("runc checkpoint through ovlfix-criu: %v\n%s\n%s", err, out, dumpLog)
	}
	for _, want := range []string{`ovlfix-hook: pre-dump: irmap `, `-> "/lowerfile": added`, "Found /lowerfile in cache", "ovlfix-hook: post-dump: "} {
		if !strings.Contains(dumpLog, want) {
			t.Errorf("dump.log through the proxy lacks %q:\n%s", want, strings.Join(lines(dumpLog, "ovlfix-hook", "fanotify", "irmap"), "\n"))
		}
	}
	t.Logf("through the proxy: %s", strings.Join(lines(dumpLog, "ovlfix-hook: pre-dump", "Found /lowerfile", "fanotify"), " | "))

	// 3. Restore; the restored mark is in fdinfo and fires.
	out, err = c.runc(tl.proxy, env, "restore", "-d", "--bundle", c.path("bundle"), "--image-path", img, c.id)
	if err != nil {
		t.Fatalf("runc restore through ovlfix-criu: %v\n%s\n%s", err, out, lines(readLog(t, filepath.Join(img, "restore.log")), "Error"))
	}
	st, rpid := c.state()
	if st != "running" || rpid <= 0 {
		t.Fatalf("after the restore the container is %q (pid %d), want running", st, rpid)
	}
	restored := fdinfoLines(rpid, "fanotify ino:")
	if len(restored) != 1 || !strings.Contains(restored[0], "ino:"+strconv.FormatUint(lowerIno, 16)+" ") || !strings.Contains(restored[0], "mask:2 ") {
		t.Fatalf("the restored process %d's fanotify marks are %q, want one FAN_MODIFY (mask:2) mark on inode %x", rpid, restored, lowerIno)
	}
	before := strings.Count(c.events(), "event ")
	if out, err := c.nsenter("sh", "-c", "echo more >> "+c.path("bundle/rootfs/lowerfile")).CombinedOutput(); err != nil {
		t.Fatalf("write to the marked file: %v\n%s", err, out)
	}
	if !c.waitEvents("event", before+1) {
		t.Fatalf("the restored fanotify mark did not fire: events %q", c.events())
	}
	t.Logf("restored pid %d (was %d), mark %s; events: %q", rpid, pid, restored[0], c.events())
}

// fdinfoLines are the lines starting with prefix in the fdinfo of pid's fds.
func fdinfoLines(pid int, prefix string) []string {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fdinfo")
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, prefix) {
				out = append(out, l)
			}
		}
	}
	return out
}

func inodeOf(t *testing.T, p string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}
