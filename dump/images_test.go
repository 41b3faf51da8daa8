package dump

import (
	"bytes"
	"os"
	"testing"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/proto"
	"github.com/ovlfix/ovlfix/resolve"
)

// criuFstypeNames is CRIU's table of fs names and their mnt.proto enum
// names (criu/filesystems.c fstypes, CRIU 3.17–4.2), without simfs and
// aufs, which ovlfix records as AUTO.
var criuFstypeNames = map[string]string{
	"proc": "PROC", "sysfs": "SYSFS", "devtmpfs": "DEVTMPFS", "binfmt_misc": "BINFMT_MISC",
	"tmpfs": "TMPFS", "devpts": "DEVPTS", "pstore": "PSTORE", "securityfs": "SECURITYFS",
	"fusectl": "FUSECTL", "debugfs": "DEBUGFS", "cgroup": "CGROUP", "mqueue": "MQUEUE",
	"fuse": "FUSE", "overlay": "OVERLAYFS", "autofs": "AUTOFS", "tracefs": "TRACEFS",
	"cgroup2": "CGROUP2",
}

// criuFstype gives each fs name of CRIU's table the enum value go-criu's
// mnt.proto descriptor names as CRIU does, and nothing else.
func TestCriuFstypeMatchesCRIUTable(t *testing.T) {
	for name, want := range criuFstypeNames {
		got, ok := criuFstype(name)
		if !ok || got.String() != want {
			t.Errorf("criuFstype(%q) = %v (%d), %v; want %s", name, got, got, ok, want)
		}
	}
	for _, name := range []string{"ext4", "xfs", "simfs", "aufs", "overlayfs", ""} {
		if got, ok := criuFstype(name); ok {
			t.Errorf("criuFstype(%q) = %v, want none (AUTO)", name, got)
		}
	}
}

// mntEntry records every mount of this process's own table (real kernel
// text) with CRIU's fstype, or as AUTO with its fs name.
func TestMntEntryFstypeOfLiveMounts(t *testing.T) {
	for _, m := range selfTable(t).Mounts() {
		e := mntEntry(m)
		got := proto.Fstype(e.GetFstype())
		if want, known := criuFstypeNames[m.FSType]; known {
			if got.String() != want || e.Fsname != nil {
				t.Errorf("mount %d (%s): fstype %v, fsname %q; want %s, no fsname", m.ID, m.FSType, got, e.GetFsname(), want)
			}
		} else if got != proto.FstypeAuto || e.GetFsname() != m.FSType {
			t.Errorf("mount %d (%s): fstype %v, fsname %q; want AUTO, fsname %q", m.ID, m.FSType, got, e.GetFsname(), m.FSType)
		}
	}
}

// The exe and the mappings of one file share one files.img entry, as in
// CRIU; an fd of that file gets its own, and every other entry has a
// distinct id, numbered from 1. The dumped process is this test.
func TestImagesShareEntryOfExeAndMappings(t *testing.T) {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := Run(os.Getpid(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	imgs, ids, err := d.buildImages()
	if err != nil {
		t.Fatal(err)
	}
	var exe *resolve.Result
	for i := range d.Processes[0].Results {
		if r := &d.Processes[0].Results[i]; r.Object.Kind == fdinfo.KindExe {
			exe = r
		}
	}
	if exe == nil || ids[exe] == 0 {
		t.Fatalf("no files.img entry for the exe (%+v)", exe)
	}
	exeName, exeMnt := pathOf(exe), mntIDFor(exe, d.Processes[0].Namespace.Table)
	maps, fds := 0, 0
	owner := map[uint32]*resolve.Result{}
	for i := range d.Processes[0].Results {
		r := &d.Processes[0].Results[i]
		id, ok := ids[r]
		if !ok {
			continue
		}
		sameFile := bytes.Equal(pathOf(r), exeName) && mntIDFor(r, d.Processes[0].Namespace.Table) == exeMnt
		switch {
		case r.Object.Kind == fdinfo.KindMap && sameFile:
			maps++
			if id != ids[exe] {
				t.Errorf("mapping %x of the exe: id %d, the exe's is %d", r.Object.Map.Start, id, ids[exe])
			}
			continue
		case r.Object.Kind == fdinfo.KindFD && sameFile:
			fds++
			if id == ids[exe] {
				t.Errorf("fd %d of the exe shares the exe's entry %d", r.Object.FD, id)
			}
		}
		if r == exe {
			continue
		}
		if o := owner[id]; o != nil && o.Object.Kind != fdinfo.KindMap && o.Object.Kind != fdinfo.KindExe {
			t.Errorf("%s and %s share id %d", o.Object.Name(), r.Object.Name(), id)
		}
		owner[id] = r
	}
	if maps == 0 || fds == 0 {
		t.Fatalf("%d mappings and %d fds of the exe in the dump of pid %d, want some of each", maps, fds, os.Getpid())
	}
	files := imgs[len(d.Processes)] // fdinfo images, then files.img
	if files.Name != proto.FilesImg {
		t.Fatalf("image %d is %s, want %s", len(d.Processes), files.Name, proto.FilesImg)
	}
	distinct := map[uint32]bool{}
	for _, id := range ids {
		distinct[id] = true
	}
	if len(files.Entries) != len(distinct) {
		t.Errorf("files.img has %d entries, the results %d distinct ids", len(files.Entries), len(distinct))
	}
	for id := uint32(1); id <= uint32(len(distinct)); id++ {
		if !distinct[id] {
			t.Errorf("id %d unused: ids are not numbered 1..%d", id, len(distinct))
		}
	}
	t.Logf("%d results, %d entries; the exe's entry %d shared by %d mappings, %d fd(s) apart", len(ids), len(files.Entries), ids[exe], maps, fds)
}
