package podman

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/internal/testenv"
)

// wantHolding is what the holder holds after `holder hold` (appended: with
// "append"), as `holder report` prints it; fd 7's watch is checked against
// the inode of /data/watched.txt the same report gives.
func wantHolding(appended bool) map[string]string {
	copied := `copied data\n`
	if appended {
		copied += `appended\n`
	}
	return map[string]string{
		"0": `"/dev/null" content=""`,
		"3": `"/data/lower.txt" content="lower data\n"`,
		"4": `"/data/copied.txt" content="` + copied + `"`,
		"5": `"/data/upper.txt" content="upper data\n"`,
		"6": `"/data/unlinked.txt (deleted)" content="unlinked data\n"`,
	}
}

// checkHolding fails the test unless h is what the holder holds: the
// files of wantHolding, pipes on 1 and 2, the watch on watched.txt's
// inode, the mapping of mapped.txt.
func checkHolding(t *testing.T, what string, h holding, appended bool) {
	t.Helper()
	want := wantHolding(appended)
	want["7"] = `"anon_inode:inotify" watch=ino:` + h.Inode
	for fd, line := range h.FDs {
		if fd == "1" || fd == "2" {
			if !strings.HasPrefix(line, `"pipe:[`) {
				t.Errorf("%s: fd %s is %s, want a pipe (conmon's)", what, fd, line)
			}
			continue
		}
		if want[fd] != line {
			t.Errorf("%s: fd %s is %s, want %s", what, fd, line, want[fd])
		}
	}
	for fd, line := range want {
		if _, ok := h.FDs[fd]; !ok {
			t.Errorf("%s: no fd %s, want %s", what, fd, line)
		}
	}
	if !slices.Equal(h.Maps, []string{"/data/mapped.txt"}) {
		t.Errorf("%s: maps files %q under /data, want only /data/mapped.txt", what, h.Maps)
	}
	if t.Failed() {
		t.Logf("%s: holder report:\n%s", what, h)
	}
}

// TestCheckpointRestoreWithHook exports the holder's container with the
// hook enabled in each of Podman's archive formats, restores it from the
// archive, and checks that the restored holder holds the same files with
// the same content and that its watch fires.
func TestCheckpointRestoreWithHook(t *testing.T) {
	for _, c := range []struct {
		name     string
		compress []string
		format   string
	}{
		{"zstd-default", nil, "zstd"},
		{"gzip", []string{"--compress", "gzip"}, "gzip"},
		{"none", []string{"--compress", "none"}, "tar"},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			w := newWorld(t)
			image := w.image()
			ct := w.startHolder(image, viaAnnotation, nil, "hold")
			before := w.report(ct)
			checkHolding(t, "before the checkpoint", before, false)
			layers := w.layersOnDisk(ct)

			archive := filepath.Join(w.dir, "export."+c.name)
			w.must(append(append([]string{"container", "checkpoint", "--export", archive}, c.compress...), ct)...)
			if got, err := archiveFormat(archive); err != nil || got != c.format {
				t.Fatalf("the archive is %q (%v), want %s", got, err, c.format)
			}
			st, err := os.Stat(archive)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("exported %s (%s, %d bytes)", archive, c.format, st.Size())
			checkArchive(t, w, image, archive, layers)

			w.rm(ct)
			restored := w.name("restored")
			w.must("container", "restore", "--import", archive, "--name", restored)
			after := w.checkRestoredHolder(restored)
			if after.Inode != before.Inode {
				t.Logf("watched.txt's inode changed over the restore: %s -> %s", before.Inode, after.Inode)
			}
			t.Logf("run, checkpoint, restore, watch: %v", time.Since(start).Round(time.Millisecond))
		})
	}
}

// checkArchive checks an exported archive that must restore: the hook
// ran in its dump (checkHookRan), its manifest (checkManifest), `ovlfix
// inspect` and `ovlfix verify` of it (checkInspect, checkVerify).
func checkArchive(t *testing.T, w *world, image, archive string, layers map[string]layer) {
	t.Helper()
	checkHookRan(t, archive)
	checkManifest(t, archive, layers)
	checkInspect(t, archive, layers)
	checkVerify(t, w, image, archive, "", "")
}

// checkRestoredHolder checks that the restored container's holder holds
// what `holder hold` held (checkHolding) and that its watch on
// watchedFile fires; it returns the holder's report.
func (w *world) checkRestoredHolder(name string) holding {
	w.t.Helper()
	after := w.report(name)
	checkHolding(w.t, "after the restore", after, false)
	if err := w.waitEvent(name, watchedFile); err != nil {
		w.t.Errorf("the restored holder's watch on %s did not fire: %v\n%s", watchedFile, err, w.report(name))
	}
	return after
}

// checkHookRan: the hook's post-dump wrote ovlfix-fixup.json into CRIU's
// images, so the archive carries it: proof that org.criu.config reached
// CRIU through Podman and runc.
func checkHookRan(t *testing.T, archive string) {
	t.Helper()
	files, _, err := members(archive)
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := files["checkpoint/ovlfix-fixup.json"]
	if !ok {
		t.Fatalf("%s has no checkpoint/ovlfix-fixup.json: the hook's post-dump did not run", archive)
	}
	var report struct {
		Checked  int   `json:"checked"`
		Problems []any `json:"problems"`
	}
	if err := json.Unmarshal(raw, &report); err != nil {
		t.Fatalf("ovlfix-fixup.json: %v\n%s", err, raw)
	}
	if report.Checked == 0 || len(report.Problems) != 0 {
		t.Errorf("the hook's post-dump checked %d files with problems %v, want some and none:\n%s",
			report.Checked, report.Problems, raw)
	}
}

// TestCheckpointFailsWithoutHook: the same container without the hook
// (org.criu.config="") cannot be checkpointed: CRIU cannot open the
// overlay file handle of the watch on a lower file.
func TestCheckpointFailsWithoutHook(t *testing.T) {
	w := newWorld(t)
	ct := w.startHolder(w.image(), "", nil, "hold")
	w.checkpointFails(ct, "Can't dump that handle")
	// the container goes on: CRIU resumed it
	checkHolding(t, "after the failed checkpoint", w.report(ct), false)
}

// TestRestoreFailsOnLowerSizeChange: after the export the held lower file
// /data/lower.txt grows in the image's layer on disk; the restore then
// fails with CRIU's size check.
func TestRestoreFailsOnLowerSizeChange(t *testing.T) {
	w := newWorld(t)
	image := w.image()
	ct := w.startHolder(image, viaAnnotation, nil, "hold")
	archive := filepath.Join(w.dir, "export.tar.zst")
	w.must("container", "checkpoint", "--export", archive, ct)
	w.rm(ct)

	changed := "lower data, longer now\n"
	if err := os.WriteFile(filepath.Join(w.layerDir(image), "data", "lower.txt"), []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("File data/lower.txt has bad size %d (expect %d)", len(changed), len(imageFiles["data/lower.txt"]))
	checkVerify(t, w, image, archive, "/data/lower.txt", want) // verify predicts CRIU's very line
	w.restoreFails(archive, want)
}

// TestRestoreFailsWithoutUpperFileInDiff: data/upper.txt, created in the
// container and held, is removed from the archive's rootfs-diff.tar; the
// restore then fails when CRIU reopens it.
func TestRestoreFailsWithoutUpperFileInDiff(t *testing.T) {
	w := newWorld(t)
	image := w.image()
	ct := w.startHolder(image, viaAnnotation, nil, "hold")
	archive := filepath.Join(w.dir, "export.tar")
	w.must("container", "checkpoint", "--export", archive, "--compress", "none", ct)
	w.rm(ct)
	broken := filepath.Join(w.dir, "no-upper.tar")
	if err := withoutDiffMember(archive, broken, "data/upper.txt"); err != nil {
		t.Fatal(err)
	}
	want := "Can't open file data/upper.txt on restore: No such file or directory"
	checkVerify(t, w, image, broken, "/data/upper.txt", want)
	w.restoreFails(broken, want)
}

// TestRestoreOfAppendedCopiedUpFile: the holder appends to the file it
// copied up (a modified file, not an added one). Podman 4.3.1 (go-criu's
// CRCreateRootFsDiffTar) puts only added files into rootfs-diff.tar, so the
// restore gets the image's shorter copied.txt and fails CRIU's size check;
// a Podman that ships modified files must restore it whole.
func TestRestoreOfAppendedCopiedUpFile(t *testing.T) {
	w := newWorld(t)
	image := w.image()
	ct := w.startHolder(image, viaAnnotation, nil, "hold", "append")
	checkHolding(t, "before the checkpoint", w.report(ct), true)
	archive := filepath.Join(w.dir, "export.tar")
	w.must("container", "checkpoint", "--export", archive, "--compress", "none", ct)
	w.rm(ct)
	names, err := diffNames(archive)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(names, "data/copied.txt") {
		t.Logf("this Podman puts modified files into rootfs-diff.tar (%q): the restore must succeed", names)
		checkVerify(t, w, image, archive, "", "")
		restored := w.name("restored")
		w.must("container", "restore", "--import", archive, "--name", restored)
		checkHolding(t, "after the restore", w.report(restored), true)
		return
	}
	t.Logf("rootfs-diff.tar has %q: no data/copied.txt", names)
	want := fmt.Sprintf("File data/copied.txt has bad size %d (expect %d)",
		len(imageFiles["data/copied.txt"]), len(imageFiles["data/copied.txt"])+len("appended\n"))
	checkVerify(t, w, image, archive, "/data/copied.txt", want)
	w.restoreFails(archive, want)
}

// checkpointFails checkpoints the container with CRIU 4.2 alone (no
// hook, not through the proxy), which must fail with want in one of the
// error lines of CRIU's dump.log; it returns those lines. CRIU resumes
// the container: the caller checks that it goes on.
func (w *world) checkpointFails(ct, want string) []string {
	w.t.Helper()
	if w.proxy {
		w.t.Fatal("checkpointFails: w.proxy is set, want CRIU 4.2 alone")
	}
	out, err := w.podman("container", "checkpoint", "--keep", "--export", filepath.Join(w.dir, "plain.tar"), ct)
	dumpLog := filepath.Join(w.staticDir(ct), "dump.log")
	errs := w.failedWith("checkpoint with CRIU 4.2 alone", out, err, dumpLog, want)
	w.t.Logf("with CRIU 4.2 alone the checkpoint failed: %s", strings.Join(errs, " | "))
	w.t.Logf("its fsnotify lines: %s", strings.Join(testenv.LinesWith(readLog(w.t, dumpLog), "fsnotify:"), " | "))
	return errs
}

// restoreFails restores archive, which must fail with want in one of the
// error lines of CRIU's restore.log.
func (w *world) restoreFails(archive, want string) {
	w.t.Helper()
	name := w.name("restored")
	out, err := w.podman("container", "restore", "--import", archive, "--name", name)
	errs := w.failedWith("the restore", out, err, filepath.Join(w.staticDir(name), "restore.log"), want)
	w.t.Logf("the restore failed as expected; restore.log:\n%s", strings.Join(errs, "\n"))
}

// failedWith fails the test unless the podman command what, which printed
// out, failed (err) with want in one of the error lines of the CRIU log
// at logPath; it returns those lines.
func (w *world) failedWith(what, out string, err error, logPath, want string) []string {
	w.t.Helper()
	if err == nil {
		w.t.Fatalf("%s succeeded, want CRIU's %q\n%s", what, want, out)
	}
	errs := criuErrors(readLog(w.t, logPath))
	if !slices.ContainsFunc(errs, func(l string) bool { return strings.Contains(l, want) }) {
		w.t.Fatalf("%s has no %q; its errors:\n%s\npodman: %s", filepath.Base(logPath), want, strings.Join(errs, "\n"), out)
	}
	return errs
}

func readLog(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("CRIU's log: %v", err)
	}
	return string(raw)
}
