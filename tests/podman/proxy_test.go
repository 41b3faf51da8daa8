package podman

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/internal/testenv"
)

// TestCheckpointThroughProxy: the holder's container with no CRIU config
// file at all (org.criu.config=""). Podman runs runc, runc runs `criu`
// from PATH: with CRIU 4.2 there the checkpoint fails on the inotify
// watch; with the proxy first in PATH (`criu -> ovlfix`,
// OVLFIX_REAL_CRIU naming CRIU 4.2) the same container is exported, the
// hook's work ran once per action, and `restore --import` into a new
// container gives the same files and a watch that fires.
func TestCheckpointThroughProxy(t *testing.T) {
	start := time.Now()
	w := newWorld(t)
	image := w.image()
	ct := w.startHolder(image, "", nil, "hold")
	before := w.report(ct)
	checkHolding(t, "before the checkpoint", before, false)
	layers := w.layersOnDisk(ct)

	// 1. CRIU 4.2 alone.
	w.checkpointFails(ct, "Can't dump that handle")
	checkHolding(t, "after the failed checkpoint", w.report(ct), false)

	// 2. Through the proxy.
	w.proxy = true
	archive := filepath.Join(w.dir, "proxy.tar.zst")
	w.must("container", "checkpoint", "--keep", "--export", archive, ct)
	dumpLog := readLog(t, filepath.Join(w.staticDir(ct), "dump.log"))
	checkProxyLog(t, "dump.log", dumpLog)
	for _, want := range []string{"ovlfix-hook: pre-dump: irmap ", `-> "/data/watched.txt": added`,
		"Found /data/watched.txt in cache", "ovlfix-hook: post-dump: "} {
		if !strings.Contains(dumpLog, want) {
			t.Errorf("dump.log through the proxy lacks %q:\n%s", want, strings.Join(testenv.LinesWith(dumpLog, "ovlfix-hook"), "\n"))
		}
	}
	// Once per action: there is no config file, so nothing registers the
	// hook a second time.
	for _, once := range []string{"ovlfix-hook: pre-dump: wrote irmap-cache", "ovlfix-hook: post-dump: <images dir> is fd "} {
		if n := strings.Count(dumpLog, once); n != 1 {
			t.Errorf("dump.log has %q %d times, want once:\n%s", once, n, strings.Join(testenv.LinesWith(dumpLog, "ovlfix-hook"), "\n"))
		}
	}
	t.Logf("through the proxy: %s", strings.Join(testenv.LinesWith(dumpLog, "ovlfix-hook: pre-dump", "Found /data/watched.txt", "ovlfix-hook: post-dump"), "\n"))
	checkArchive(t, w, image, archive, layers)

	// 3. Import into a new container, through the proxy.
	w.rm(ct)
	restored := w.name("restored")
	w.must("container", "restore", "--keep", "--import", archive, "--name", restored)
	restoreLog := readLog(t, filepath.Join(w.staticDir(restored), "restore.log"))
	checkProxyLog(t, "restore.log", restoreLog)
	w.checkConmonPath(restored)
	after := w.checkRestoredHolder(restored)
	t.Logf("restored %s: watch %s fired; %v in all", restored, after.FDs["7"], time.Since(start).Round(time.Millisecond))
}

var criuLogVersion = regexp.MustCompile(`(?m)^\([0-9. ]+\) Version: (\S+)`)

// checkProxyLog: the log is CRIU 4.2's (the proxy found the real CRIU
// from OVLFIX_REAL_CRIU, not Debian's 3.17.1 in /usr/sbin).
func checkProxyLog(t *testing.T, what, log string) {
	t.Helper()
	m := criuLogVersion.FindStringSubmatch(log)
	if m == nil || m[1] != "4.2" {
		t.Errorf("%s is not CRIU 4.2's (version line %q)", what, m)
		return
	}
	t.Logf("%s: CRIU %s", what, m[1])
}

// checkConmonPath: the restore went through the proxy too. Podman runs
// `runc restore` from conmon, so conmon's PATH is what runc looks `criu` up
// in: it must start with the proxy's directory.
func (w *world) checkConmonPath(name string) {
	w.t.Helper()
	pid := strings.TrimSpace(w.must("inspect", "-f", "{{.State.ConmonPid}}", name))
	raw, err := os.ReadFile(filepath.Join("/proc", pid, "environ"))
	if err != nil {
		w.t.Fatalf("conmon of %s: %v", name, err)
	}
	for _, kv := range strings.Split(string(raw), "\x00") {
		if path, ok := strings.CutPrefix(kv, "PATH="); ok {
			if first, _, _ := strings.Cut(path, ":"); first != filepath.Dir(built.criu) {
				w.t.Errorf("conmon (pid %s) of %s has PATH=%s: runc did not find the proxy first", pid, name, path)
			} else {
				w.t.Logf("conmon (pid %s) of %s: PATH starts with the proxy's directory %s", pid, name, first)
			}
			return
		}
	}
	w.t.Errorf("conmon (pid %s) of %s has no PATH", pid, name)
}
