package main

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/ovlfix/ovlfix/internal/testenv"
	"github.com/ovlfix/ovlfix/manifest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/ovlfix/ovlfix/fixup"
	"github.com/ovlfix/ovlfix/internal/fixuptest"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/proto"
	"golang.org/x/sys/unix"
)

// TestHookPostDumpHasNoSideEffects runs a real post-dump repair with no
// probe cache (/run is an empty tmpfs in the hook's private mount
// namespace) and TMPDIR on a directory watched with inotify. During the
// freeze the hook must not probe: no ovlfix-probe-* directory is created
// (the probe's first act), nothing appears under /run (the cache), the
// hook's mount table is unchanged, and the images directory gets only the
// repair. It says once that every object is confirmed by stat.
func TestHookPostDumpHasNoSideEffects(t *testing.T) {
	c := scenariotest.StartT(t, binary, fixuptest.NestedSpec)
	f := fixuptest.Build(t, c)
	criu := startCRIUStandIn(t, t.TempDir(), f.Dir)
	before := testenv.DirFiles(t, f.Dir)

	tmp := t.TempDir()
	ifd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ifd)
	if _, err := unix.InotifyAddWatch(ifd, tmp, unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		t.Fatal(err)
	}

	out := t.TempDir()
	link := filepath.Join(t.TempDir(), hookProgram)
	if err := os.Symlink(binary, link); err != nil {
		t.Fatal(err)
	}
	script := `mount -t tmpfs ovlfix-test-run /run || exit 99
cat /proc/self/mountinfo > "$1/before"
"$0" <&-
rc=$?
cat /proc/self/mountinfo > "$1/after"
ls -A /run > "$1/run"
exit $rc`
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script, link, out)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CRTOOLS_") && !strings.HasPrefix(kv, "TMPDIR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "TMPDIR="+tmp, "CRTOOLS_SCRIPT_ACTION=post-dump",
		"CRTOOLS_INIT_PID="+fmt.Sprint(f.RootPID), "CRTOOLS_IMAGE_DIR="+criu.imageDir)
	cmd.Dir = criu.workDir
	r := run(t, cmd)
	t.Logf("hook log:\n%s", r.stderr)
	expect(t, r, exitOK, "repaired in files.img")

	var events []string
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(ifd, buf)
		if errors.Is(err, unix.EAGAIN) || n <= 0 {
			break
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := bytes.TrimRight(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)], "\x00")
			events = append(events, string(name))
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
	}
	if len(events) > 0 {
		t.Errorf("the hook created %q in TMPDIR during the freeze (the probe's directory)", events)
	}
	if run, _ := os.ReadFile(filepath.Join(out, "run")); len(bytes.TrimSpace(run)) > 0 {
		t.Errorf("the hook wrote under /run during the freeze: %q", run)
	}
	mb, _ := os.ReadFile(filepath.Join(out, "before"))
	ma, _ := os.ReadFile(filepath.Join(out, "after"))
	if len(mb) == 0 || !bytes.Equal(mb, ma) {
		t.Errorf("the hook's mount table changed:\nbefore:\n%s\nafter:\n%s", mb, ma)
	}
	if n := strings.Count(r.stderr, "every object is confirmed by stat"); n != 1 {
		t.Errorf("the log says %d times that there is no probe result, want once", n)
	}
	after := testenv.DirFiles(t, f.Dir)
	for name := range after {
		if _, had := before[name]; !had && name != fixup.BackupFile && name != fixup.ReportFile && name != manifest.FileName {
			t.Errorf("the hook wrote %s into the images directory", name)
		}
	}
	if bytes.Equal(after[proto.FilesImg], f.Original) {
		t.Error("files.img was not repaired")
	}
}
