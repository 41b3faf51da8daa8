package runc

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/internal/testenv"
	"github.com/ovlfix/ovlfix/proto"
	"golang.org/x/sys/unix"
)

const (
	nestedData = "nested lower data"
	decoyData  = "root overlay decoy"
)

// nestedBundle: the watcher holds /data/lowerfile open, /data being a
// bundle mount of type overlay whose lower layer is a tmpfs (mounted in
// the test's namespace) and whose upper and work dirs are on the
// filesystem of the test's temporary directory; xino=off. The root
// overlay has a decoy /data/lowerfile under the mount point.
func nestedBundle() bundle {
	return bundle{
		args: []string{"/bin/watcher", "open", "/data/lowerfile", "/tmp/events"},
		mounts: func(c *container) []map[string]any {
			return []map[string]any{{
				"destination": "/data", "type": "overlay", "source": "overlay",
				"options": []string{"lowerdir=" + c.path("nested-lower"), "upperdir=" + c.path("nested-up/upper"),
					"workdir=" + c.path("nested-up/work"), "xino=off"},
			}}
		},
		prepare: func(c *container) {
			t := c.t
			for _, d := range []string{"nested-lower", "nested-up/upper", "nested-up/work", "lower/data"} {
				if err := os.MkdirAll(c.path(d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if out, err := c.nsenter("mount", "-t", "tmpfs", "tmpfs", c.path("nested-lower")).CombinedOutput(); err != nil {
				t.Fatalf("mount the nested overlay's lower tmpfs: %v\n%s", err, out)
			}
			// Through the anchor's root: the tmpfs is in its namespace only.
			if err := os.WriteFile(c.inNS(c.path("nested-lower/lowerfile")), []byte(nestedData+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(c.path("lower/data/lowerfile"), []byte(decoyData+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// inNS is path p as the anchor's mount namespace sees it.
func (c *container) inNS(p string) string {
	return fmt.Sprintf("/proc/%d/root%s", c.anchor.Process.Pid, p)
}

// TestRuncNestedOverlayThroughProxy, with CRIU 4.2 and 4.1.1: a file on a
// nested overlay whose layers are on two filesystems (doc.go).
func TestRuncNestedOverlayThroughProxy(t *testing.T) { forEachCRIU(t, nestedThroughProxy) }

func nestedThroughProxy(t *testing.T, tl tools, criu criuBinary) {
	c := newContainer(t, tl, "nest"+strings.ReplaceAll(criu.version, ".", ""), nestedBundle())
	c.runDetached("fd", "the holder")
	fd := c.heldFD()
	_, pid := c.state()
	running := c.checkHeld(pid, fd, "running")
	t.Logf("running: pid %d, %s", pid, running)

	// 1. CRIU alone: it writes the root overlay's mnt_id (criu/files.c
	// fixup_overlayfs: the pseudo st_dev of a non-samefs overlay is in no
	// mountinfo, and the root mount's fstatat of ./data/lowerfile
	// matches through /data); restore opens the path from the
	// namespace's root, so the restored fd is right all the same.
	plain := c.path("img-plain")
	if out, err := c.runc(criu.path, nil, "checkpoint", "--image-path", plain, c.id); err != nil {
		t.Fatalf("runc checkpoint with CRIU alone: %v\n%s\n%s", err, out, testenv.LinesWith(readLog(t, filepath.Join(plain, "dump.log")), "Error"))
	}
	alone := regMntID(t, filepath.Join(plain, "files.img"), "/data/lowerfile")
	if alone != running.rootMnt {
		t.Fatalf("CRIU %s alone wrote mnt_id %d for /data/lowerfile, not the root overlay's %d (/data is %d): the test's premise (CRIU writes the root overlay's mnt_id) is gone; "+
			"if it is /data's, make this test assert the hook keeps it", criu.version, alone, running.rootMnt, running.mnt)
	}
	t.Logf("without the proxy: files.img: /data/lowerfile mnt_id %d (the root overlay's; fdinfo said %d, /data)", alone, running.mnt)
	_, pid = c.restoreDetached(criu.path, nil, plain, "with CRIU alone")
	restoredAlone := c.checkHeld(pid, fd, "restored by CRIU alone")
	t.Logf("without the proxy: restored pid %d, %s; restore.log: %s", pid, restoredAlone,
		strings.Join(testenv.LinesWith(readLog(t, filepath.Join(plain, "restore.log")), "data/lowerfile"), " | "))

	// 2. Through the proxy: post-dump repairs files.img to /data's mount.
	img := c.path("img-proxy")
	dumpLog := c.proxyCheckpoint(tl, criu, img)
	repaired := testenv.LinesWith(dumpLog, "repaired in files.img")
	if len(repaired) != 1 || !strings.Contains(repaired[0], " 1 repaired in files.img") {
		t.Errorf("dump.log through the proxy does not say one entry was repaired:\n%s", strings.Join(testenv.LinesWith(dumpLog, "ovlfix-hook: post-dump"), "\n"))
	}
	if orig := regMntID(t, filepath.Join(img, "files.img.ovlfix-orig"), "/data/lowerfile"); orig != restoredAlone.rootMnt {
		t.Errorf("CRIU's original files.img (kept by the hook) has mnt_id %d for /data/lowerfile, want the root overlay's %d", orig, restoredAlone.rootMnt)
	}
	if got := regMntID(t, filepath.Join(img, "files.img"), "/data/lowerfile"); got != restoredAlone.mnt {
		t.Fatalf("files.img through the proxy: /data/lowerfile mnt_id %d, want /data's %d", got, restoredAlone.mnt)
	}
	t.Logf("through the proxy: %s; files.img: /data/lowerfile mnt_id %d (/data)", strings.Join(repaired, " | "), restoredAlone.mnt)

	// 3. Restore through the proxy: the right file on /data's mount.
	_, pid = c.restoreDetached(tl.proxy, proxyEnv(criu), img, "through ovlfix-criu")
	t.Logf("through the proxy: restored pid %d, %s", pid, c.checkHeld(pid, fd, "restored through the proxy"))
}

// held is what the holder's fd is in a running container.
type held struct {
	link         string
	mnt, rootMnt int // the fd's mnt_id (fdinfo); the container's / mount
	content      string
}

func (h held) String() string {
	return fmt.Sprintf("fd -> %q mnt_id %d (/data; / is %d), content %q", h.link, h.mnt, h.rootMnt, h.content)
}

// checkHeld checks that fd of pid is /data/lowerfile of the nested
// overlay: its link, its fdinfo mnt_id is the /data mount of pid's
// mountinfo, it is the inode that pid's /data/lowerfile names, and the
// holder itself reads the nested lower layer's content (SIGUSR1, a
// "content" line). when names the state in errors.
func (c *container) checkHeld(pid, fd int, when string) held {
	t := c.t
	t.Helper()
	if pid <= 0 {
		t.Fatalf("%s: the container has no pid", when)
	}
	fdPath := fmt.Sprintf("/proc/%d/fd/%d", pid, fd)
	var h held
	h.link, _ = os.Readlink(fdPath)
	h.mnt = fdinfoMntID(t, pid, fd)
	h.rootMnt = mountID(t, pid, "/")
	if h.link != "/data/lowerfile" {
		t.Fatalf("%s: fd %d of pid %d is %q, want /data/lowerfile", when, fd, pid, h.link)
	}
	if data := mountID(t, pid, "/data"); h.mnt != data || data == h.rootMnt {
		t.Fatalf("%s: fd %d of pid %d is on mount %d, want /data's %d (/ is %d)", when, fd, pid, h.mnt, data, h.rootMnt)
	}
	var fst, pst unix.Stat_t
	if err := unix.Stat(fdPath, &fst); err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	if err := unix.Stat(fmt.Sprintf("/proc/%d/root/data/lowerfile", pid), &pst); err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	if fst.Dev != pst.Dev || fst.Ino != pst.Ino {
		t.Fatalf("%s: fd %d of pid %d is %x:%d, the container's /data/lowerfile is %x:%d", when, fd, pid, fst.Dev, fst.Ino, pst.Dev, pst.Ino)
	}
	before := strings.Count(c.events(), "content ")
	if err := unix.Kill(pid, unix.SIGUSR1); err != nil {
		t.Fatalf("%s: signal the holder %d: %v", when, pid, err)
	}
	if !c.waitEvents("content", before+1) {
		t.Fatalf("%s: the holder did not read its fd: events %q", when, c.events())
	}
	ls := testenv.LinesWith(c.events(), "content ")
	h.content = strings.SplitN(ls[len(ls)-1], " ", 3)[2]
	if h.content != nestedData {
		t.Fatalf("%s: the holder reads %q from its fd, want the nested lower layer's %q", when, h.content, nestedData)
	}
	return h
}

func fdinfoMntID(t *testing.T, pid, fd int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", pid, fd))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "mnt_id:"); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				return n
			}
		}
	}
	t.Fatalf("fdinfo %d of pid %d has no mnt_id:\n%s", fd, pid, b)
	return -1
}

// mountID is the id of the mount at point in pid's mountinfo (the last,
// the one on top).
func mountID(t *testing.T, pid int, point string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	id := -1
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == point {
			id, _ = strconv.Atoi(f[0])
		}
	}
	if id < 0 {
		t.Fatalf("pid %d has no mount at %s:\n%s", pid, point, b)
	}
	return id
}

// heldFD is the fd number the holder logged.
func (c *container) heldFD() int {
	for _, l := range strings.Split(c.events(), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "fd" {
			n, err := strconv.Atoi(f[2])
			if err == nil {
				return n
			}
		}
	}
	c.t.Fatalf("the holder logged no fd: %q", c.events())
	return -1
}

// regMntID is the mnt_id of the REG entry named name in the files.img at p.
func regMntID(t *testing.T, p, name string) int {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	es, err := proto.ReadFiles(f, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if r := e.GetReg(); r != nil && r.GetName() == name {
			return int(r.GetMntId())
		}
	}
	t.Fatalf("%s has no REG entry %s", p, name)
	return -1
}
