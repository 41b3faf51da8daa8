package checkpoint

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/internal/testenv"
)

// criu42 is the CRIU 4.2 build beside the repository that runs on this
// host's kernel.
const criu42 = "/work/shared/criu/4.2/criu"

// realDump dumps a real sleeping process that holds /etc/hostname on fd 3
// with CRIU 4.2 and returns its images directory.
func realDump(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t)
	if _, err := os.Stat(criu42); err != nil {
		if testenv.InCI() {
			t.Fatalf("CI must run this test: %v", err)
		}
		t.Skipf("CRIU 4.2 not built: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command("/bin/sh", "-c", "exec 3</etc/hostname; exec sleep 300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	// Wait until sh has exec'ed sleep, fd 3 open.
	for i := 0; ; i++ {
		exe, _ := os.Readlink("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/exe")
		if strings.HasSuffix(exe, "/sleep") {
			break
		}
		if i > 200 {
			t.Fatalf("holder never became sleep (exe %q)", exe)
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, criu42, "dump", "-t", strconv.Itoa(cmd.Process.Pid), "-D", dir, "-o", "dump.log", "-v4").CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "dump.log"))
		t.Fatalf("criu dump: %v: %s\n%s", err, out, lastLines(string(log), 10))
	}
	return dir
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// podmanPack packs an images directory the way `podman container
// checkpoint --export` lays an archive out: checkpoint/ with every image,
// the engine's metadata and rootfs-diff.tar beside it.
func podmanPack(t *testing.T, dir string) []byte {
	t.Helper()
	ms := []member{{name: "checkpoint/", typ: tar.TypeDir}}
	for _, n := range testenv.DirNames(t, dir) {
		ms = append(ms, member{name: "checkpoint/" + n, body: testenv.ReadFile(t, filepath.Join(dir, n))})
	}
	ms = append(ms,
		member{name: "config.dump", body: []byte(`{"id":"real"}`)},
		member{name: "spec.dump", body: []byte(`{"ociVersion":"1.0.2"}`)},
		member{name: "rootfs-diff.tar", body: tarBytes(t, member{name: "etc/hostname", body: []byte("real\n")})},
		member{name: "deleted.files", body: []byte(`["/etc/motd"]`)},
	)
	return tarBytes(t, ms...)
}

// TestOpenRealCRIUDump: a real CRIU 4.2 dump packed like Podman's export,
// in each format, reads back byte-identical images (page data listed, not
// kept), and crit decodes the files.img Images returns exactly as it
// decodes CRIU's own.
func TestOpenRealCRIUDump(t *testing.T) {
	crit := testenv.RequireTool(t, "crit", "criu")
	dir := realDump(t)
	want := testenv.DirNames(t, dir)
	if !slices.Contains(want, "files.img") || !slices.ContainsFunc(want, isPagesImage) {
		t.Fatalf("dump holds %q: no files.img or pages", want)
	}
	critOf := func(p string) string {
		out, err := exec.Command(crit, "decode", "-i", p).Output()
		if err != nil {
			t.Fatalf("crit decode %s: %v", p, err)
		}
		return string(out)
	}
	wantFiles := critOf(filepath.Join(dir, "files.img"))
	if !strings.Contains(wantFiles, "/etc/hostname") {
		t.Fatalf("files.img does not hold /etc/hostname:\n%s", wantFiles)
	}
	raw := podmanPack(t, dir)
	for _, c := range compressors {
		t.Run(string(c.format), func(t *testing.T) {
			p := writeArchive(t, c.pack(t, raw))
			cp, err := Open(context.Background(), p, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := cp.Images.Names(); !slices.Equal(got, want) {
				t.Fatalf("Names = %q, want the dump's %q", got, want)
			}
			for _, n := range want {
				b, err := cp.Images.ReadFile(n)
				if isPagesImage(n) {
					if !errors.Is(err, ErrNotKept) {
						t.Errorf("%s: %v, want ErrNotKept", n, err)
					}
					continue
				}
				if err != nil || !bytes.Equal(b, testenv.ReadFile(t, filepath.Join(dir, n))) {
					t.Errorf("%s: not byte-identical to CRIU's (%v)", n, err)
				}
			}
			files, _ := cp.Images.ReadFile("files.img")
			fp := filepath.Join(t.TempDir(), "files.img")
			os.WriteFile(fp, files, 0o600)
			if got := critOf(fp); got != wantFiles {
				t.Errorf("crit decode of the archive's files.img differs from CRIU's")
			}
			if cp.Diff == nil || cp.Diff.Entries["/etc/hostname"].Size != 5 || !slices.Equal(cp.Diff.Deleted, []string{"/etc/motd"}) {
				t.Errorf("Diff = %+v", cp.Diff)
			}
		})
	}
	// GNU tar and the zstd program make the archive too, as a pipeline
	// may; the name says .tar.gz, the content is zstd.
	t.Run("gnu-tar-zstd", func(t *testing.T) {
		stage := t.TempDir()
		if err := os.Symlink(dir, filepath.Join(stage, "checkpoint")); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(stage, "config.dump"), []byte("{}"), 0o600)
		p := filepath.Join(t.TempDir(), "misnamed.tar.gz")
		if out, err := exec.Command("tar", "--zstd", "-chf", p, "-C", stage, "checkpoint", "config.dump").CombinedOutput(); err != nil {
			t.Fatalf("tar: %v: %s", err, out)
		}
		cp, err := Open(context.Background(), p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if cp.Format != FormatTarZstd || !slices.Equal(cp.Images.Names(), want) {
			t.Errorf("GNU tar archive: %s, %q", cp.Format, cp.Images.Names())
		}
	})
}
