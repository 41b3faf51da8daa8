package runc

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/internal/testenv"
)

// forEachCRIU runs test once per CRIU release of tl.criu (subtests
// criu-VERSION), as root with the tools set up and the test process a
// child subreaper (becomeSubreaper).
func forEachCRIU(t *testing.T, test func(t *testing.T, tl tools, criu criuBinary)) {
	t.Helper()
	tl := setupTools(t)
	becomeSubreaper(t)
	for _, criu := range tl.criu {
		t.Run("criu-"+criu.version, func(t *testing.T) { test(t, tl, criu) })
	}
}

// proxyEnv is the environment runc runs the proxy with: criu as the real
// CRIU.
func proxyEnv(criu criuBinary) []string { return []string{"OVLFIX_REAL_CRIU=" + criu.path} }

// runDetached starts the container (`runc run -d`) and waits for the
// watcher's first log line starting with ready; what names the watcher
// (and what it needs) when it does not get ready.
func (c *container) runDetached(ready, what string) {
	c.t.Helper()
	if out, err := c.runc("", nil, "run", "-d", "--bundle", c.path("bundle"), c.id); err != nil {
		c.t.Fatalf("runc run -d: %v\n%s", err, out)
	}
	if !c.waitEvents(ready, 1) {
		c.t.Fatalf("%s did not get ready: events %q", what, c.events())
	}
}

// checkpointFailsAlone checkpoints the running container with CRIU alone
// (--leave-running, into img-plain), which must fail with CRIU's "Can't
// dump that handle" (what: on the watch, on the mark) and leave the
// container running. It logs dump.log's lines with any of words.
func (c *container) checkpointFailsAlone(criu criuBinary, what string, words ...string) {
	t := c.t
	t.Helper()
	plain := c.path("img-plain")
	out, err := c.runc(criu.path, nil, "checkpoint", "--leave-running", "--image-path", plain, c.id)
	dumpLog := readLog(t, filepath.Join(plain, "dump.log"))
	if err == nil {
		t.Fatalf("runc checkpoint with CRIU alone succeeded; the test's premise (CRIU cannot open the overlay handle) is gone:\n%s", dumpLog)
	}
	if !strings.Contains(dumpLog, "Can't dump that handle") {
		t.Fatalf("runc checkpoint with CRIU alone failed, but not %s: %v\n%s\n%s", what, err, out, testenv.LinesWith(dumpLog, "Error"))
	}
	t.Logf("without the proxy: runc: %s; dump.log: %s", strings.TrimSpace(out), strings.Join(testenv.LinesWith(dumpLog, words...), " | "))
	if st, _ := c.state(); st != "running" {
		t.Fatalf("after the failed checkpoint the container is %q, want running", st)
	}
}

// proxyCheckpoint checkpoints the container through `ovlfix criu` with
// criu as the real CRIU into img, which must succeed; it returns
// dump.log.
func (c *container) proxyCheckpoint(tl tools, criu criuBinary, img string) string {
	c.t.Helper()
	out, err := c.runc(tl.proxy, proxyEnv(criu), "checkpoint", "--image-path", img, c.id)
	dumpLog := readLog(c.t, filepath.Join(img, "dump.log"))
	if err != nil {
		c.t.Fatalf("runc checkpoint through ovlfix-criu: %v\n%s\n%s", err, out, dumpLog)
	}
	return dumpLog
}

// restoreDetached restores the container from img (`runc restore -d`,
// runc's --criu criuPath, env added), which must succeed; how names the
// route in the failure. It returns `runc state`'s status and pid.
func (c *container) restoreDetached(criuPath string, env []string, img, how string) (status string, pid int) {
	c.t.Helper()
	if out, err := c.runc(criuPath, env, "restore", "-d", "--bundle", c.path("bundle"), "--image-path", img, c.id); err != nil {
		c.t.Fatalf("runc restore %s: %v\n%s\n%s", how, err, out, testenv.LinesWith(readLog(c.t, filepath.Join(img, "restore.log")), "Error"))
	}
	return c.state()
}

// appendAndWait appends a line with word to the container's /lowerfile
// (the bundle's rootfs, in the anchor's namespace) and reports whether
// the watcher then logged one more event.
func (c *container) appendAndWait(word string) bool {
	c.t.Helper()
	before := strings.Count(c.events(), "event ")
	if out, err := c.nsenter("sh", "-c", "echo "+word+" >> "+c.path("bundle/rootfs/lowerfile")).CombinedOutput(); err != nil {
		c.t.Fatalf("write to /lowerfile: %v\n%s", err, out)
	}
	return c.waitEvents("event", before+1)
}
