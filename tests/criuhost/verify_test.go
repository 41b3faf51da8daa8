package criuhost

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/internal/testenv"
)

// verifyReport is the part of `ovlfix verify -o json` the test reads.
type verifyReport struct {
	Restorable bool `json:"restorable"`
	Checked    int  `json:"checked"`
	Problems   []struct {
		Check  string `json:"check"`
		Name   string `json:"name"`
		CRIU   string `json:"criu"`
		Holder []struct {
			PID  int    `json:"pid"`
			Kind string `json:"kind"`
			FD   int    `json:"fd"`
		} `json:"holders"`
	} `json:"problems"`
}

// runVerify runs `ovlfix verify images --root root -o json` in the
// namespace and returns its report and exit status.
func runVerify(t *testing.T, ns *mountNS, tl tools, images, root string) (verifyReport, int) {
	t.Helper()
	cmd := ns.command(tl.ovlfix, "verify", images, "--root", root, "-o", "json")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("ovlfix verify: %v", err)
	}
	var rep verifyReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("ovlfix verify -o json (exit %d): %v\n%s\nstderr: %s", code, err, out, stderr.String())
	}
	t.Logf("ovlfix verify: exit %d, %s", code, strings.TrimSpace(string(out)))
	return rep, code
}

// TestVerifyPredictsCRIURestore dumps a container holding a lower-layer
// file, an upper-only file, a mapped lower file and an unlinked file (a
// ghost), an unlinked hard-linked file (a link remap) and an ELF file (its build-ID recorded) with CRIU 4.2, and checks `ovlfix verify` against the real
// restore: the untouched root verifies (exit 0) and restores; then for
// each change of the root (a held file grown, chmod'ed, removed, replaced
// by a directory, its build-ID changed; the ghost image or the link remap
// removed) verify exits 11 naming that
// file and the fd that holds it, and `criu restore` fails with exactly the
// message verify predicted in its restore.log.
func TestVerifyPredictsCRIURestore(t *testing.T) {
	tl := setupTools(t)
	becomeSubreaper(t)
	base := t.TempDir()
	l := newLayout(base, true)
	ns := newMountNS(t, tl.holder, base)
	defer ns.close()
	for _, d := range []string{l.lower, l.upper, l.work, l.merged} {
		ns.write(d+"/", "", 0)
	}
	ns.write(l.lower+"/lowerfile", lowerData+"\n", 0o644)
	ns.write(l.lower+"/mapped", "mapped data\n", 0o644)
	ns.write(l.lower+"/doomed", "doomed data\n", 0o644)
	ns.write(l.upper+"/upperfile", "upper data\n", 0o644)
	ns.write(l.upper+"/hard1", "hard-linked data\n", 0o644)
	prog, err := os.ReadFile(tl.holder)
	if err != nil {
		t.Fatal(err)
	}
	ns.write(l.lower+"/bin/holder", string(prog), 0o755)
	ns.write(l.lower+"/elf", string(prog), 0o644) // an ELF file with a GNU build-ID, held by an fd
	noteOff, noteLen := buildIDNote(t, tl.holder)
	args := []string{"unshare-mnt", "overlay", l.merged, l.lower, l.upper, l.work, "-", "pivot", l.merged, "exec", "/bin/holder",
		"open", "/lowerfile", "open", "/upperfile", "mmap", "/mapped", "open", "/doomed", "unlink", "/doomed", "open", "/elf",
		"link", "/hard1", "/hard2", "open", "/hard1", "unlink", "/hard1"} // nlink 1, name gone: a link remap
	cmd := ns.command(tl.holder, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	h := startHolder(t, "holder", cmd)
	images := t.TempDir()
	if err := criuDump(ns, tl, h.pid, images, false); err != nil {
		h.kill()
		t.Fatalf("criu dump: %v", err)
	}
	if err := h.reap(); err != nil {
		t.Fatal(err)
	}
	ns.do("overlay", l.merged, l.lower, l.upper, l.work, "-")
	merged := ns.path(l.merged)
	remaps, _ := filepath.Glob(merged + "/link_remap.*")
	if len(remaps) != 1 {
		t.Fatalf("the dump left link remaps %q in the root, want one", remaps)
	}
	linkRemap, err := os.ReadFile(remaps[0])
	if err != nil {
		t.Fatal(err)
	}
	putLinkRemap := func() error { return writeMode(remaps[0], string(linkRemap), 0o644) }

	// inspect lists every held file, the ghost with its image.
	insp, err := ns.command(tl.ovlfix, "inspect", images).CombinedOutput()
	if err != nil {
		t.Fatalf("ovlfix inspect: %v\n%s", err, insp)
	}
	t.Logf("ovlfix inspect:\n%s", insp)
	for _, want := range []string{`"/elf"`, `"/hard1"`, "linked:", "link-remap-of:", `"/lowerfile"`, `"/upperfile"`, `"/mapped"`, `"/doomed"`, `"/bin/holder"`, ":exe", ":present"} {
		if !strings.Contains(string(insp), want) {
			t.Errorf("ovlfix inspect does not list %s", want)
		}
	}

	// The root as dumped: verify passes and so does the restore.
	rep, code := runVerify(t, ns, tl, images, l.merged)
	if code != 0 || !rep.Restorable || len(rep.Problems) != 0 || rep.Checked < 5 {
		t.Fatalf("verify of the untouched root: exit %d, %+v; want exit 0, restorable, >= 5 files checked", code, rep)
	}
	pid, err := criuRestore(ns, tl, images, l.merged)
	if err != nil {
		t.Fatalf("verify said restorable, criu restore failed: %v", err)
	}
	killRestored(pid)
	if _, err := os.Stat(remaps[0]); err != nil { // a restore removes the link remaps it used
		if err := putLinkRemap(); err != nil {
			t.Fatal(err)
		}
	}

	cases := []struct {
		name, file, check string
		fd                int
		mutate, undo      func() error
		images            func(dir string) string
	}{{
		name: "grown", file: "/lowerfile", check: "size", fd: 3,
		mutate: func() error { return os.WriteFile(merged+"/lowerfile", []byte(lowerData+" and more\n"), 0o644) },
		undo:   func() error { return os.WriteFile(merged+"/lowerfile", []byte(lowerData+"\n"), 0o644) },
	}, {
		name: "truncated", file: "/upperfile", check: "size", fd: 4,
		mutate: func() error { return os.Truncate(merged+"/upperfile", 3) },
		undo:   func() error { return os.WriteFile(merged+"/upperfile", []byte("upper data\n"), 0o644) },
	}, {
		name: "chmod", file: "/upperfile", check: "mode", fd: 4,
		mutate: func() error { return os.Chmod(merged+"/upperfile", 0o600) },
		undo:   func() error { return os.Chmod(merged+"/upperfile", 0o644) },
	}, {
		name: "removed", file: "/upperfile", check: "open", fd: 4,
		mutate: func() error { return os.Remove(merged + "/upperfile") },
		undo:   func() error { return writeMode(merged+"/upperfile", "upper data\n", 0o644) },
	}, {
		name: "replaced-by-dir", file: "/lowerfile", check: "size", fd: 3,
		mutate: func() error {
			if err := os.Remove(merged + "/lowerfile"); err != nil {
				return err
			}
			return os.Mkdir(merged+"/lowerfile", 0o755)
		},
		undo: func() error {
			if err := os.Remove(merged + "/lowerfile"); err != nil {
				return err
			}
			return writeMode(merged+"/lowerfile", lowerData+"\n", 0o644)
		},
	}, {
		name: "other-build-id", file: "/elf", check: "build-id", fd: 6,
		mutate: func() error {
			b := bytes.Clone(prog)
			b[noteOff+noteLen-1] ^= 0xff // same size and mode, another build-ID
			return os.WriteFile(merged+"/elf", b, 0o644)
		},
		undo: func() error { return os.WriteFile(merged+"/elf", prog, 0o644) },
	}, {
		name: "link-remap-missing", file: "/hard1", check: "link-remap", fd: 7,
		mutate: func() error { return os.Remove(remaps[0]) },
		undo:   putLinkRemap,
	}, {
		name: "ghost-image-missing", file: "/doomed", check: "ghost", fd: 5, // the mmap closed its fd
		images: func(dir string) string {
			ghosts, _ := filepath.Glob(filepath.Join(dir, "ghost-file-*.img"))
			if len(ghosts) != 1 {
				t.Fatalf("the dump has ghost images %q, want one", ghosts)
			}
			if err := os.Remove(ghosts[0]); err != nil {
				t.Fatal(err)
			}
			return dir
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := images
			if c.images != nil {
				dir = c.images(testenv.CopyFiles(t, images))
			}
			if c.mutate != nil {
				if err := c.mutate(); err != nil {
					t.Fatal(err)
				}
				defer func() {
					if err := c.undo(); err != nil {
						t.Fatalf("undo %s: %v", c.name, err)
					}
				}()
			}
			rep, code := runVerify(t, ns, tl, dir, l.merged)
			if code != 11 || rep.Restorable || len(rep.Problems) != 1 {
				t.Fatalf("verify: exit %d, %d problems; want exit 11 and one problem", code, len(rep.Problems))
			}
			p := rep.Problems[0]
			if p.Name != c.file || p.Check != c.check || p.CRIU == "" {
				t.Fatalf("verify names %q (check %s, criu %q); want %q, check %s, a CRIU message", p.Name, p.Check, p.CRIU, c.file, c.check)
			}
			if len(p.Holder) == 0 || p.Holder[0].Kind != "fd" || p.Holder[0].FD != c.fd {
				t.Errorf("verify's holders of %s: %+v; want fd %d", c.file, p.Holder, c.fd)
			}
			pid, err := criuRestore(ns, tl, dir, l.merged)
			reapPid(h.pid) // the failed restore's task, orphaned to this subreaper, holds the pid the next restore needs
			if err == nil {
				killRestored(pid)
				t.Fatalf("verify predicted %q, but criu restore succeeded", p.CRIU)
			}
			log := readFile(filepath.Join(dir, "restore.log"))
			if !strings.Contains(log, p.CRIU) {
				t.Fatalf("criu restore failed (%v) without verify's predicted line %q in restore.log", err, p.CRIU)
			}
			t.Logf("predicted and confirmed by criu restore: %q", p.CRIU)
		})
	}
}

// buildIDNote is where the GNU build-ID bytes of the ELF file at p are:
// the offset and length of the note's descriptor (debug/elf).
func buildIDNote(t *testing.T, p string) (off, n int) {
	t.Helper()
	f, err := elf.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := f.Section(".note.gnu.build-id")
	if s == nil {
		testenv.Unavailable(t, p+" has no GNU build-ID (gcc without --build-id)")
	}
	b, err := s.Data()
	if err != nil || len(b) < 16 {
		t.Fatalf("%s: build-ID note: %v", p, err)
	}
	namesz, descsz := int(binary.LittleEndian.Uint32(b)), int(binary.LittleEndian.Uint32(b[4:]))
	return int(s.Offset) + 12 + (namesz+3)&^3, descsz
}

// reapPid reaps pid once it is a zombie child of this process; it gives
// up when pid is not a child (ECHILD) or after a few seconds.
func reapPid(pid int) {
	for range 500 {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if got == pid || errors.Is(err, syscall.ECHILD) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// writeMode creates p with content and exactly mode (no umask).
func writeMode(p, content string, mode os.FileMode) error {
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		return err
	}
	return os.Chmod(p, mode)
}
