// Package fixuptest lays out a CRIU images directory for a live scenario
// child as CRIU 3.17 would write it, with CRIU's real mistakes on purpose,
// for the tests of package fixup and of `ovlfix fixup`. CRIU 3.17.1 cannot
// run on the development host's 6.18 kernel, so the images are written
// here from what CRIU itself reads (/proc/<pid>/maps, exe link and its
// fdinfo mnt_id, stat), never from ovlfix's resolver.
// It imports testing and is imported by tests only.
package fixuptest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/proto"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/encoding/protowire"
	gproto "google.golang.org/protobuf/proto"
)

// NestedSpec is the container-like layout of docs/kernel-quirks.md §13: an
// overlay A (standing in for the container's root overlay) with layers on
// tmpfs t0, and inside it, at a/data, an overlay B whose lower is on
// tmpfs t1 and whose upper is on tmpfs t2 (layers on different
// filesystems: xino off, pseudo st_dev). The child holds files on both;
// a grandchild runs a program copied onto A, with its cwd on B.
func NestedSpec(base string) scenario.Spec {
	return scenario.Spec{Base: base, Steps: []scenario.Step{
		{Do: "tmpfs", Path: []byte("t0")},
		{Do: "write", Path: []byte("t0/lower/etc/app.conf"), Content: "setting=1\n"},
		{Do: "mkdir", Path: []byte("t0/upper")},
		{Do: "mkdir", Path: []byte("t0/work")},
		{Do: "overlay", Path: []byte("a"), Lower: []string{"t0/lower"}, Upper: "t0/upper", Work: "t0/work", Label: "A"},
		{Do: "mkdir", Path: []byte("a/data")},
		{Do: "mkdir", Path: []byte("a/usr/bin")},
		{Do: "tmpfs", Path: []byte("t1")},
		{Do: "write", Path: []byte("t1/lower/lowerfile"), Content: "only in the lower layer\n"},
		{Do: "write", Path: []byte("t1/lower/mapped.bin"), Content: strings.Repeat("m", 5000)},
		{Do: "tmpfs", Path: []byte("t2")},
		{Do: "write", Path: []byte("t2/upper/upperfile"), Content: "only in the upper layer\n"},
		{Do: "mkdir", Path: []byte("t2/work")},
		{Do: "overlay", Path: []byte("a/data"), Lower: []string{"t1/lower"}, Upper: "t2/upper", Work: "t2/work", Label: "B"},
		{Do: "chdir", Path: []byte("a/data"), Label: "cwd"},
		{Do: "exec", Path: []byte("a/usr/bin/sleeper"), Src: []byte("/bin/sleep"), Label: "sleeper"},
		{Do: "open", Path: []byte("a/data/lowerfile"), Label: "lower"},
		{Do: "open-rw", Path: []byte("a/data/upperfile"), Label: "upper"},
		{Do: "open", Path: []byte("a/etc/app.conf"), Label: "good"},
		{Do: "mmap", Path: []byte("a/data/mapped.bin"), Label: "map"},
	}}
}

// Fixture is a CRIU images directory laid out for a live scenario, and
// what the test knows to be true about it (from the scenario's manifest
// and stat(2), never from ovlfix).
type Fixture struct {
	Dir      string
	Child    *scenario.Child
	RootPID  int
	GCPID    int // the grandchild running the sleeper
	Original []byte
	// IDs are the ids of the files.img entries by role.
	IDs map[string]uint32
	// Truth is the right (name, mnt_id) of every REG entry by id.
	Truth map[uint32]NameMnt
	// Wrong holds the ids CRIU got wrong on purpose.
	Wrong map[uint32]bool
}

// NameMnt is the (name, mnt_id) a files.img entry should hold.
type NameMnt struct {
	Name string
	Mnt  int32
}

// UnknownField is reg_file_entry field 1000 (no CRIU version has it),
// length-delimited: a newer CRIU's field, which must survive.
func UnknownField() []byte {
	b := protowire.AppendTag(nil, 1000, protowire.BytesType)
	return protowire.AppendBytes(b, []byte("from a newer CRIU"))
}

// Build writes pstree.img, ids-, fs-, mm-<vpid>.img, fdinfo-N.img
// and files.img for the nested scenario as CRIU 3.17 would, except for
// the deliberate mistakes CRIU really makes:
//
//   - fd on B's lower-only file and the shared mapping on B: mnt_id of A
//     (the §13 mistake: CRIU's pre-4.2 workaround matched the outer overlay);
//   - fd on B's upper-only file: the layer-relative name "/upperfile"
//     (what 3.18–4.1 kernels print), on the right mount.
//
// Entries fixup must not touch: a UNIXSK entry with arbitrary content on
// fd 0, and the right entry of /etc/app.conf with an unknown field 1000.
func Build(t testing.TB, c *scenario.Child) *Fixture {
	t.Helper()
	f := &Fixture{Dir: t.TempDir(), Child: c, RootPID: c.PID, IDs: map[string]uint32{}, Truth: map[uint32]NameMnt{}, Wrong: map[uint32]bool{}}
	held := map[string]scenario.Held{}
	for _, h := range c.Held {
		held[h.Label] = h
	}
	f.GCPID = held["sleeper"].PID
	mA, mB := int32(c.Mounts["A"].ID), int32(c.Mounts["B"].ID)
	rootMnt := rootMountID(t, c.PID)

	var files []*proto.FileEntry
	var raw [][]byte // entries added as raw bytes (index into files.img)
	nextID := uint32(1)
	reg := func(role string, name []byte, mnt int32, flags uint32, st unix.Stat_t, extra []byte) uint32 {
		id := nextID
		nextID++
		r := &proto.RegFileEntry{Id: gproto.Uint32(id), Flags: gproto.Uint32(flags), Pos: gproto.Uint64(0),
			Fown: &proto.FownEntry{Uid: gproto.Uint32(0), Euid: gproto.Uint32(0), Signum: gproto.Uint32(0), PidType: gproto.Uint32(0), Pid: gproto.Uint32(0)},
			Name: gproto.String(string(name)), MntId: gproto.Int32(mnt), Mode: gproto.Uint32(st.Mode)}
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			r.Size = gproto.Uint64(uint64(st.Size))
		}
		if extra != nil {
			r.ProtoReflect().SetUnknown(extra)
		}
		files = append(files, &proto.FileEntry{Type: proto.FdReg.Enum(), Id: gproto.Uint32(id), Reg: r})
		raw = append(raw, nil)
		f.IDs[role] = id
		return id
	}
	stat := func(pid int, path []byte) unix.Stat_t {
		var st unix.Stat_t
		if err := unix.Stat(fmt.Sprintf("/proc/%d/root%s", pid, path), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	truth := func(id uint32, name []byte, mnt int32) { f.Truth[id] = NameMnt{Name: string(name), Mnt: mnt} }

	// The child: exe (the test binary, on the host's root), fds, mapping, cwd, root.
	exeName, exeMnt := procExe(t, c.PID)
	exeID := reg("exe", exeName, exeMnt, 0, stat(c.PID, exeName), nil)
	truth(exeID, exeName, exeMnt)

	// fd 0: a socket as CRIU records one; fixup must leave it alone.
	sockID := nextID
	nextID++
	sock, err := proto.Marshal(&proto.FileEntry{Type: proto.FdUnixSk.Enum(), Id: gproto.Uint32(sockID)})
	if err != nil {
		t.Fatal(err)
	}
	sock = protowire.AppendTag(sock, 999, protowire.BytesType)
	sock = protowire.AppendBytes(sock, []byte{0, 1, 2, 0xff, 'x'})
	files = append(files, nil)
	raw = append(raw, sock)
	f.IDs["socket"] = sockID

	lower, upper, good, mapped := held["lower"], held["upper"], held["good"], held["map"]
	lowerID := reg("lower", lower.Path, mA, unix.O_LARGEFILE, stat(c.PID, lower.Path), nil)
	truth(lowerID, lower.Path, mB)
	f.Wrong[lowerID] = true
	upperID := reg("upper", []byte("/upperfile"), mB, unix.O_LARGEFILE|unix.O_RDWR, stat(c.PID, upper.Path), nil)
	truth(upperID, upper.Path, mB)
	f.Wrong[upperID] = true
	goodID := reg("good", good.Path, mA, unix.O_LARGEFILE, stat(c.PID, good.Path), UnknownField())
	truth(goodID, good.Path, mA)
	mapID := reg("map", mapped.Path, mA, 0, stat(c.PID, mapped.Path), UnknownField())
	truth(mapID, mapped.Path, mB)
	f.Wrong[mapID] = true
	cwd := held["cwd"].Path
	cwdID := reg("cwd", cwd, mB, 0, stat(c.PID, cwd), nil)
	truth(cwdID, cwd, mB)
	rootID := reg("root", []byte("/"), rootMnt, 0, stat(c.PID, []byte("/")), nil)
	truth(rootID, []byte("/"), rootMnt)

	// The grandchild: exe on A (and its first mapping, sharing the id), cwd on B, root.
	sleeper := held["sleeper"].Path
	gcExeID := reg("gc-exe", sleeper, mA, 0, stat(f.GCPID, sleeper), nil)
	truth(gcExeID, sleeper, mA)
	gcCwdID := reg("gc-cwd", cwd, mB, 0, stat(f.GCPID, cwd), nil)
	truth(gcCwdID, cwd, mB)
	gcRootID := reg("gc-root", []byte("/"), rootMnt, 0, stat(f.GCPID, []byte("/")), nil)
	truth(gcRootID, []byte("/"), rootMnt)

	img, err := proto.NewImage(proto.FilesImg, proto.KindFiles)
	if err != nil {
		t.Fatal(err)
	}
	for i, fe := range files {
		if fe == nil {
			img.Entries = append(img.Entries, raw[i])
			continue
		}
		if err := img.Append(fe); err != nil {
			t.Fatal(err)
		}
	}
	f.write(t, img)

	// fdinfo: the child's table is files_id 1, the grandchild's 2 (no fds kept).
	fd := func(n int, id uint32, typ proto.FdTypes) *proto.FdinfoEntry {
		return &proto.FdinfoEntry{Id: gproto.Uint32(id), Flags: gproto.Uint32(0), Type: typ.Enum(), Fd: gproto.Uint32(uint32(n))}
	}
	f.writeB(t)(proto.FdinfoImage(1, []*proto.FdinfoEntry{
		fd(0, sockID, proto.FdUnixSk), fd(lower.FD, lowerID, proto.FdReg), fd(upper.FD, upperID, proto.FdReg), fd(good.FD, goodID, proto.FdReg)}))
	f.writeB(t)(proto.FdinfoImage(2, nil))

	pst := []*proto.PstreeEntry{
		{Pid: gproto.Uint32(uint32(c.PID)), Ppid: gproto.Uint32(0), Pgid: gproto.Uint32(uint32(c.PID)), Sid: gproto.Uint32(uint32(c.PID)), Threads: threads(t, c.PID)},
		{Pid: gproto.Uint32(uint32(f.GCPID)), Ppid: gproto.Uint32(uint32(c.PID)), Pgid: gproto.Uint32(uint32(c.PID)), Sid: gproto.Uint32(uint32(c.PID)), Threads: threads(t, f.GCPID)},
	}
	f.writeB(t)(proto.PstreeImage(pst))
	for i, p := range []struct {
		pid         int
		files       uint32
		cwd, root   uint32
		exe         uint32
		vmaPath     []byte
		vmaID       uint32
		vmaSharedRW bool
	}{
		{c.PID, 1, cwdID, rootID, exeID, mapped.Path, mapID, true},
		{f.GCPID, 2, gcCwdID, gcRootID, gcExeID, sleeper, gcExeID, false},
	} {
		vpid := uint32(p.pid)
		f.writeB(t)(proto.IdsImage(vpid, &proto.TaskKobjIdsEntry{VmId: gproto.Uint32(uint32(i + 1)), FilesId: gproto.Uint32(p.files),
			FsId: gproto.Uint32(uint32(i + 1)), SighandId: gproto.Uint32(uint32(i + 1)), MntNsId: gproto.Uint32(9)}))
		f.writeB(t)(proto.FsImage(vpid, &proto.FsEntry{CwdId: gproto.Uint32(p.cwd), RootId: gproto.Uint32(p.root), Umask: gproto.Uint32(0o22)}))
		start, end := firstMapping(t, p.pid, p.vmaPath)
		status := uint32(1 | proto.VMAFilePrivate)
		if p.vmaSharedRW {
			status = 1 | proto.VMAFileShared
		}
		z := gproto.Uint64(0)
		f.writeB(t)(proto.MmImage(vpid, &proto.MmEntry{MmStartCode: z, MmEndCode: z, MmStartData: z, MmEndData: z, MmStartStack: z,
			MmStartBrk: z, MmBrk: z, MmArgStart: z, MmArgEnd: z, MmEnvStart: z, MmEnvEnd: z, ExeFileId: gproto.Uint32(p.exe),
			Vmas: []*proto.VmaEntry{
				{Start: gproto.Uint64(0x1000), End: gproto.Uint64(0x2000), Pgoff: z, Shmid: z, Prot: gproto.Uint32(3), Flags: gproto.Uint32(0x22), Status: gproto.Uint32(1 | 1<<9), Fd: gproto.Int64(-1)}, // anonymous: not a file
				{Start: gproto.Uint64(start), End: gproto.Uint64(end), Pgoff: z, Shmid: gproto.Uint64(uint64(p.vmaID)), Prot: gproto.Uint32(1), Flags: gproto.Uint32(1), Status: gproto.Uint32(status), Fd: gproto.Int64(-1)},
			}}))
	}
	var err2 error
	f.Original, err2 = os.ReadFile(filepath.Join(f.Dir, proto.FilesImg))
	if err2 != nil {
		t.Fatal(err2)
	}
	return f
}

func (f *Fixture) write(t testing.TB, img *proto.Image) {
	t.Helper()
	if err := proto.WriteImageAtomic(f.Dir, img.Name, 0o600, img); err != nil {
		t.Fatal(err)
	}
}

func (f *Fixture) writeB(t testing.TB) func(*proto.Image, error) {
	return func(img *proto.Image, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		f.write(t, img)
	}
}

// rootMountID is the id of the mount at "/" in pid's mountinfo (the
// last one listed: later mounts on a path hide earlier ones).
func rootMountID(t testing.TB, pid int) int32 {
	t.Helper()
	fh, err := os.Open(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	ms, err := mountinfo.GetMountsFromReader(fh, mountinfo.SingleEntryFilter("/"))
	if err != nil || len(ms) == 0 {
		t.Fatalf("root mount of pid %d: %v", pid, err)
	}
	return int32(ms[len(ms)-1].ID)
}

// procExe is what CRIU records for a task's exe: the link text and the
// mnt_id in fdinfo of an O_PATH open of /proc/<pid>/exe.
func procExe(t testing.TB, pid int) ([]byte, int32) {
	t.Helper()
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/exe", pid), unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "mnt_id:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return []byte(link), int32(n)
		}
	}
	t.Fatalf("no mnt_id in fdinfo of /proc/%d/exe", pid)
	return nil, 0
}

func threads(t testing.TB, pid int) []uint32 {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out []uint32
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err == nil {
			out = append(out, uint32(n))
		}
	}
	return out
}

// firstMapping returns the range of pid's first maps line naming path, as
// CRIU reads /proc/<pid>/maps.
func firstMapping(t testing.TB, pid int, path []byte) (uint64, uint64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		fs := strings.Fields(line)
		if len(fs) >= 6 && fs[5] == string(path) {
			var s, e uint64
			if _, err := fmt.Sscanf(fs[0], "%x-%x", &s, &e); err != nil {
				t.Fatal(err)
			}
			return s, e
		}
	}
	t.Fatalf("pid %d maps nothing at %s", pid, path)
	return 0, 0
}
