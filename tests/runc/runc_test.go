package runc

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/internal/testenv"
	"github.com/ovlfix/ovlfix/manifest"
)

// TestRuncCheckpointThroughProxy, with CRIU 4.2 and 4.1.1: an inotify watch on a lower-layer file
// of the container's overlay rootfs. runc with CRIU 4.2 alone cannot
// checkpoint it; through `ovlfix criu` it can, and the restored container's
// watch fires (doc.go).
func TestRuncCheckpointThroughProxy(t *testing.T) { forEachCRIU(t, checkpointThroughProxy) }

func checkpointThroughProxy(t *testing.T, tl tools, criu criuBinary) {
	c := newContainer(t, tl, strings.ReplaceAll(criu.version, ".", ""), bundle{})
	start := time.Now()
	c.runDetached("ready", "the watcher")

	// 1. CRIU alone.
	c.checkpointFailsAlone(criu, "on the watch", "fsnotify")

	// 2. Through the proxy.
	img := c.path("img-proxy")
	dumpLog := c.proxyCheckpoint(tl, criu, img)
	for _, want := range []string{`ovlfix-hook: pre-dump: irmap `, `-> "/lowerfile": added`, "Found /lowerfile in cache", "ovlfix-hook: post-dump: "} {
		if !strings.Contains(dumpLog, want) {
			t.Errorf("dump.log through the proxy lacks %q:\n%s", want, strings.Join(testenv.LinesWith(dumpLog, "ovlfix-hook"), "\n"))
		}
	}
	// Once per action: no config file, so no double registration (3.19-4.1).
	for _, once := range []string{"ovlfix-hook: pre-dump: wrote irmap-cache", "ovlfix-hook: post-dump: <images dir> is fd "} {
		if n := strings.Count(dumpLog, once); n != 1 {
			t.Errorf("dump.log has %q %d times, want once", once, n)
		}
	}
	t.Logf("through the proxy: %s", strings.Join(testenv.LinesWith(dumpLog, "ovlfix-hook: pre-dump", "Found /lowerfile"), " | "))
	// The manifest, written after the freeze (hook.Options.DeferManifest)
	// but before runc had CRIU's answer, is in the images directory.
	if b, err := os.ReadFile(filepath.Join(img, manifest.FileName)); err != nil {
		t.Errorf("after runc checkpoint through the proxy: %v", err)
	} else if m, err := manifest.ReadFile(b); err != nil {
		t.Errorf("the manifest runc's checkpoint holds: %v", err)
	} else if len(m.Files) == 0 || m.FilesImgSHA256 == "" {
		t.Errorf("the manifest runc's checkpoint holds %d files, files.img digest %q: want this dump's", len(m.Files), m.FilesImgSHA256)
	}
	if !strings.Contains(dumpLog, "written to "+manifest.FileName) {
		t.Errorf("dump.log does not say the manifest was written:\n%s", strings.Join(testenv.LinesWith(dumpLog, "ovlfix-hook: post-dump"), "\n"))
	}
	if st, _ := c.state(); st != "" && st != "stopped" {
		t.Fatalf("after the checkpoint the container is %q, want gone", st)
	}

	// 3. Restore through the proxy; the restored watch fires.
	env := proxyEnv(criu)
	st, pid := c.restoreDetached(tl.proxy, env, img, "through ovlfix-criu")
	if st != "running" || pid <= 0 {
		t.Fatalf("after the restore the container is %q (pid %d), want running", st, pid)
	}
	fdinfo := fdinfoLines(pid, "inotify wd:")
	if len(fdinfo) == 0 {
		t.Errorf("the restored process %d holds no inotify watch", pid)
	}
	if !c.appendAndWait("more") {
		t.Fatalf("the restored watch did not fire: events %q", c.events())
	}
	t.Logf("restored (-d) pid %d, watch %s; events: %q", pid, strings.Join(fdinfo, " "), c.events())

	// 4. Again, restored in the foreground: runc waits for the container
	// although CRIU (a child of the proxy) made it the proxy's child, and
	// gets its exit status.
	img2 := c.path("img-proxy-2")
	c.proxyCheckpoint(tl, criu, img2)
	fg, err := c.startRunc(tl.proxy, env, "restore", "--bundle", c.path("bundle"), "--image-path", img2, c.id)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(opTimeout)
	for st, _ = c.state(); st != "running"; st, _ = c.state() {
		if time.Now().After(deadline) {
			out, err := fg.wait(time.Second)
			t.Fatalf("foreground runc restore: not running after %v (state %q): %v\n%s", opTimeout, st, err, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, pid = c.state()
	if !c.appendAndWait("again") {
		t.Fatalf("the watch restored in the foreground did not fire: events %q", c.events())
	}
	if out, err := c.runc("", nil, "kill", c.id, "KILL"); err != nil {
		t.Fatalf("runc kill: %v\n%s", err, out)
	}
	out, err := fg.wait(opTimeout)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 128+9 {
		t.Fatalf("foreground runc restore ended with %v, want exit 137 (the container's SIGKILL)\n%s", err, out)
	}
	t.Logf("restored (foreground) pid %d, watch fired; runc exited %d when the container was killed; %v in all", pid, ee.ExitCode(), time.Since(start).Round(time.Millisecond))
}

func readLog(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		return "(no " + filepath.Base(p) + ": " + err.Error() + ")"
	}
	return string(b)
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
