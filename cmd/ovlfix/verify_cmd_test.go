package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/proto"
	gproto "google.golang.org/protobuf/proto"
)

// realImages is a real CRIU dump (testdata/criu/README.md): 33 files.
const realImages = "../../testdata/criu/basic"

// tinyDump writes an images directory of one task (pid 1) holding /app/data
// (10 bytes, 0644) as fd 3 on its namespace's root mount, and returns it.
func tinyDump(t *testing.T) string {
	t.Helper()
	return tinyDumpOf(t, "/app/data")
}

// tinyDumpOf is tinyDump with the held file's recorded name (untrusted:
// any bytes CRIU's image may carry).
func tinyDumpOf(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	write := func(img *proto.Image, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if err := proto.WriteImageAtomic(dir, img.Name, 0o600, img); err != nil {
			t.Fatal(err)
		}
	}
	u := gproto.Uint32
	write(proto.FilesImage([]*proto.FileEntry{{Type: proto.FdReg.Enum(), Id: u(1), Reg: &proto.RegFileEntry{
		Id: u(1), Flags: u(0), Pos: gproto.Uint64(0), Name: gproto.String(name), MntId: gproto.Int32(20),
		Fown: &proto.FownEntry{Uid: u(0), Euid: u(0), Signum: u(0), PidType: u(0), Pid: u(0)},
		Size: gproto.Uint64(10), Mode: u(0o100644)}}}))
	write(proto.PstreeImage([]*proto.PstreeEntry{{Pid: u(1), Ppid: u(0), Pgid: u(1), Sid: u(1)}}))
	write(proto.IdsImage(1, &proto.TaskKobjIdsEntry{VmId: u(1), FilesId: u(2), FsId: u(1), SighandId: u(1), MntNsId: u(9)}))
	write(proto.FdinfoImage(2, []*proto.FdinfoEntry{{Id: u(1), Flags: u(0), Type: proto.FdReg.Enum(), Fd: u(3)}}))
	write(proto.MountpointsImage(9, []*proto.MntEntry{{Fstype: u(uint32(proto.FstypeOverlayfs)), MntId: u(20), RootDev: u(1),
		ParentMntId: u(1), Flags: u(0), Root: gproto.String("/"), Mountpoint: gproto.String("/"), Source: gproto.String("overlay"), Options: gproto.String("")}}))
	return dir
}

func tinyRoot(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, "app", "data")
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestVerifyUsageAndExitCodes(t *testing.T) {
	expect(t, ovlfix(t, "verify"), exitUsage, "exactly one checkpoint")
	expect(t, ovlfix(t, "verify", realImages), exitUsage, "--root DIR")
	expect(t, ovlfix(t, "verify", realImages, "--root", "/", "-o", "xml"), exitUsage, "text or json")
	expect(t, ovlfix(t, "verify", realImages, "--root", "/", "--file-validation", "crc"), exitUsage, "buildid or filesize")
	expect(t, ovlfix(t, "verify", realImages, "--root", "/nonexistent-root"), exitRootUnusable, "--root")
	expect(t, ovlfix(t, "verify", "/etc/hostname", "--root", "/"), exitBadArchive, "not a checkpoint archive")
	expect(t, ovlfix(t, "verify", t.TempDir(), "--root", "/"), exitFailure, "files.img")

	dump := tinyDump(t)
	r := ovlfix(t, "verify", dump, "--root", tinyRoot(t, "0123456789", 0o644))
	expect(t, r, exitOK, "")
	if !strings.Contains(r.stdout, "1 files checked, 0 skipped, 0 problems: restorable") {
		t.Errorf("stdout: %s", r.stdout)
	}
	r = ovlfix(t, "verify", dump, "--root", tinyRoot(t, "01234567890", 0o644))
	expect(t, r, exitNotRestorable, "1 files will not reopen")
	if !strings.Contains(r.stdout, `"File app/data has bad size 11 (expect 10)" (criu/files-reg.c:2175)`) || !strings.Contains(r.stdout, "1:fd3") {
		t.Errorf("stdout does not name the holder and CRIU's message:\n%s", r.stdout)
	}
	root := tinyRoot(t, "0123456789", 0o600)
	expect(t, ovlfix(t, "verify", dump, "--root", root), exitNotRestorable, "")
	expect(t, ovlfix(t, "verify", dump, "--root", root, "--skip-file-rwx-check"), exitOK, "")

	r = ovlfix(t, "verify", dump, "--root", root, "-o", "json")
	expect(t, r, exitNotRestorable, "")
	var rep struct {
		Restorable bool
		Problems   []struct{ Check, CRIU string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Restorable || len(rep.Problems) != 1 ||
		rep.Problems[0].CRIU != "File app/data has bad mode 0100600 (expect 0100644)" {
		t.Fatalf("json: %v %+v\n%s", err, rep, r.stdout)
	}
}

func TestInspectRealImages(t *testing.T) {
	expect(t, ovlfix(t, "inspect"), exitUsage, "exactly one checkpoint")
	expect(t, ovlfix(t, "inspect", "a", "b"), exitUsage, "exactly one checkpoint")
	r := ovlfix(t, "inspect", realImages)
	expect(t, r, exitOK, "")
	if !strings.Contains(r.stdout, "33 files to reopen") || !strings.Contains(r.stdout, `"/tmp/ovl/merged/dir/we ird\nname"`) {
		t.Errorf("text:\n%s", r.stdout)
	}
	r = ovlfix(t, "inspect", realImages, "-o", "json")
	expect(t, r, exitOK, "")
	var l struct {
		Files []struct {
			Name  string
			Mount struct{ FSType string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &l); err != nil || len(l.Files) != 33 {
		t.Fatalf("json: %v, %d files", err, len(l.Files))
	}
	if f := l.Files[27]; f.Name != "/tmp/ovl/merged/lowerfile" || f.Mount.FSType != "overlayfs" {
		t.Errorf("file 28: %+v", f)
	}
}

// TestCheckpointctlPlugin: as checkpointctl-ovlfix, the binary answers
// checkpointctl's --plugin-description query with exit 42 and one line,
// and otherwise runs inspect with the arguments it is given.
func TestCheckpointctlPlugin(t *testing.T) {
	plugin := filepath.Join(t.TempDir(), checkpointctlPlugin)
	if err := os.Symlink(binary, plugin); err != nil {
		t.Fatal(err)
	}
	r := run(t, exec.Command(plugin, pluginDescriptionFlag))
	if r.code != pluginDescriptionExitCode || strings.Count(r.stdout, "\n") != 1 || !strings.Contains(r.stdout, "ovlfix inspect") {
		t.Fatalf("--plugin-description: exit %d, stdout %q", r.code, r.stdout)
	}
	r = run(t, exec.Command(plugin, realImages, "-o", "json"))
	expect(t, r, exitOK, "")
	if !json.Valid([]byte(r.stdout)) || !strings.Contains(r.stdout, `"/tmp/ovl/merged/lowerfile"`) {
		t.Errorf("plugin inspect: %s", r.stdout)
	}
	expect(t, run(t, exec.Command(plugin)), exitUsage, "exactly one checkpoint")
}
