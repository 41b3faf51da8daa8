package podman

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/internal/testenv"
)

// markedFile is the lower-layer file of the image the holder's fanotify
// inode mark is on; no fd holds it.
const markedFile = "/data/lower.txt"

// TestFanotifyMarkOnLowerFile: a fanotify group with an inode mark
// (FAN_MODIFY) on a lower-layer file of the container's rootfs (the
// container has CAP_SYS_ADMIN for fanotify_init). CRIU 4.2 alone cannot
// checkpoint it; through ovlfix, by either route, the export succeeds, and
// after `restore --import` into a new container the restored process has
// the mark on the file's inode (its fdinfo) and gets a new event.
func TestFanotifyMarkOnLowerFile(t *testing.T) {
	for _, r := range []route{viaProxy, viaAnnotation} {
		t.Run(string(r), func(t *testing.T) {
			w := newWorld(t)
			opts := []string{"--cap-add", "SYS_ADMIN"}

			// 1. CRIU 4.2 alone.
			plain := w.startHolder(w.image(), "", opts, "fanotify", markedFile)
			before := w.reportOn(plain, markedFile)
			checkMark(t, "before the checkpoint", before)
			w.checkpointFails(plain, "Can't dump that handle")
			checkMark(t, "after the failed checkpoint", w.reportOn(plain, markedFile))
			w.rm(plain)

			// 2. Through ovlfix.
			ct := w.startHolder(w.image(), r, opts, "fanotify", markedFile)
			w.proxy = r == viaProxy
			archive := filepath.Join(w.dir, "fanotify.tar.zst")
			w.must("container", "checkpoint", "--keep", "--export", archive, ct)
			dumpLog := readLog(t, filepath.Join(w.staticDir(ct), "dump.log"))
			for _, want := range []string{`-> "` + markedFile + `": added`, "Found " + markedFile + " in cache",
				"ovlfix-hook: post-dump: "} {
				if !strings.Contains(dumpLog, want) {
					t.Errorf("dump.log lacks %q:\n%s", want, strings.Join(testenv.LinesWith(dumpLog, "ovlfix-hook", "fanotify", "irmap"), "\n"))
				}
			}
			t.Logf("through the %s: %s", r, strings.Join(testenv.LinesWith(dumpLog, "ovlfix-hook: pre-dump: irmap", "Found "+markedFile, "fanotify: "), "\n"))
			checkHookRan(t, archive)

			// 3. Import into a new container.
			w.rm(ct)
			restored := w.name("restored")
			w.must("container", "restore", "--import", archive, "--name", restored)
			after := w.reportOn(restored, markedFile)
			checkMark(t, "after the restore", after)
			if err := w.waitEvent(restored, markedFile); err != nil {
				t.Errorf("the restored mark on %s got no event: %v\n%s", markedFile, err, w.reportOn(restored, markedFile))
			}
			t.Logf("restored %s: fd 3 %s; an append to %s made an event", restored, after.FDs["3"], markedFile)
		})
	}
}

// checkMark fails the test unless fd 3 is a fanotify group with exactly one
// inode mark, FAN_MODIFY (mask 2) on markedFile's inode now.
func checkMark(t *testing.T, what string, m holding) {
	t.Helper()
	line, ok := m.FDs["3"]
	want := `"anon_inode:[fanotify]" fanotify=ino:` + m.Inode + " sdev:"
	if !ok || !strings.HasPrefix(line, want) || !strings.HasSuffix(line, " mask:2") || strings.Count(line, "fanotify=") != 1 {
		t.Errorf("%s: fd 3 is %q, want %s... mask:2 (one FAN_MODIFY inode mark on %s)\n%s", what, line, want, markedFile, m)
	}
}
