package fixup

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/fixuptest"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/mountns"
	"github.com/ovlfix/ovlfix/proto"
	"github.com/ovlfix/ovlfix/resolve"
	"golang.org/x/sys/unix"
	gproto "google.golang.org/protobuf/proto"
)

// nestedWithBind is the §13 layout plus a bind mount of overlay B: a
// second mount of B's superblock.
func nestedWithBind(base string) scenario.Spec {
	s := fixuptest.NestedSpec(base)
	s.Steps = append(s.Steps,
		scenario.Step{Do: "mkdir", Path: []byte("bdata")},
		scenario.Step{Do: "bind", Path: []byte("bdata"), Src: []byte("a/data"), Label: "Bbind"})
	return s
}

// liveProofEnv is a live nested scenario seen as fixup sees it: the
// child's mount table and root, and the stat of what it holds.
type liveProofEnv struct {
	c     *scenario.Child
	table *mountns.Table
	root  *mountns.Root
	held  map[string]scenario.Held
	mA    int32
	mB    int32
	mBind int32
}

func startProofEnv(t *testing.T) *liveProofEnv {
	t.Helper()
	c := scenariotest.StartT(t, "", nestedWithBind)
	table, err := mountns.ReadTable(c.PID)
	if err != nil {
		t.Fatal(err)
	}
	root, err := mountns.OpenRoot(c.PID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	e := &liveProofEnv{c: c, table: table, root: root, held: map[string]scenario.Held{},
		mA: int32(c.Mounts["A"].ID), mB: int32(c.Mounts["B"].ID), mBind: int32(c.Mounts["Bbind"].ID)}
	for _, h := range c.Held {
		e.held[h.Label] = h
	}
	return e
}

// stat is what the child's kernel says of a path it holds (stat(2)
// through /proc/<pid>/root, as fixuptest does), as the scanner records it.
func (e *liveProofEnv) stat(t *testing.T, path []byte) *fdinfo.Stat {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/root%s", e.c.PID, path), &st); err != nil {
		t.Fatal(err)
	}
	return &fdinfo.Stat{Dev: st.Dev, Ino: st.Ino, Mode: st.Mode, Size: st.Size, Nlink: uint64(st.Nlink)}
}

func regEntry(name string, mnt *int32) *proto.RegFileEntry {
	r := &proto.RegFileEntry{Name: gproto.String(name)}
	if mnt != nil {
		r.MntId = gproto.Int32(*mnt)
	}
	return r
}

// TestProveWrongNested: each proof of proveWrong on a real §13 layout,
// and the cases that must prove nothing.
func TestProveWrongNested(t *testing.T) {
	e := startProofEnv(t)
	lower, upper, good := e.held["lower"].Path, e.held["upper"].Path, e.held["good"].Path
	stLower, stUpper := e.stat(t, lower), e.stat(t, upper)
	deleted := *stUpper
	deleted.Nlink = 0
	gone := int32(1 << 30)
	none := -1
	if e.c.Mounts["B"].Major != e.c.Mounts["Bbind"].Major || e.c.Mounts["B"].Minor != e.c.Mounts["Bbind"].Minor {
		t.Fatalf("the bind mount of B shows another superblock: %+v %+v", e.c.Mounts["B"], e.c.Mounts["Bbind"])
	}
	for _, tc := range []struct {
		name      string
		reg       *proto.RegFileEntry
		kind      fdinfo.Kind
		kernelMnt int
		st        *fdinfo.Stat
		want      string // "" = no proof
		fatal     bool
	}{
		{"§13: CRIU wrote A, the kernel holds the fd on B", regEntry(string(lower), &e.mA), fdinfo.KindFD, int(e.mB), stLower, "superblock", false},
		{"§13 for a mapping (map_files mount id)", regEntry(string(lower), &e.mA), fdinfo.KindMap, int(e.mB), stLower, "mapped file on mount", false},
		{"CRIU right", regEntry(string(lower), &e.mB), fdinfo.KindFD, int(e.mB), stLower, "", false},
		{"bind mount of the same superblock: no proof", regEntry(string(lower), &e.mBind), fdinfo.KindFD, int(e.mB), stLower, "", false},
		{"kernel id in no mountinfo (3.18–4.1 private layer mount): no proof", regEntry(string(lower), &e.mA), fdinfo.KindFD, int(gone), stLower, "", false},
		{"no kernel id (cwd before statx): no proof", regEntry(string(lower), &e.mA), fdinfo.KindCwd, none, stLower, "", false},
		{"CRIU's mount gone", regEntry(string(lower), &gone), fdinfo.KindFD, int(e.mB), stLower, "in no mountinfo", true},
		{"CRIU's layer-relative name does not exist", regEntry("/upperfile", &e.mB), fdinfo.KindFD, int(e.mB), stUpper, "does not exist", true},
		{"…unless the file is deleted", regEntry("/upperfile", &e.mB), fdinfo.KindFD, int(e.mB), &deleted, "", false},
		{"CRIU's name is another file", regEntry(string(good), &e.mB), fdinfo.KindFD, int(e.mB), stLower, "restore would open another file", false},
		{"no live stat: no name proof", regEntry("/upperfile", &e.mB), fdinfo.KindMap, int(e.mB), nil, "", false},
		{"dump without mount ids: no mount proof", regEntry(string(lower), nil), fdinfo.KindFD, int(e.mB), stLower, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			why, fatal := proveWrong(tc.reg, e.table, nil, e.root, tc.kind, tc.kernelMnt, tc.st)
			if tc.want == "" {
				if why != "" {
					t.Errorf("proof %q, want none", why)
				}
				return
			}
			if !strings.Contains(why, tc.want) || fatal != tc.fatal {
				t.Errorf("proof %q fatal %v, want %q fatal %v", why, fatal, tc.want, tc.fatal)
			}
		})
	}
	// CRIU's mount is in no mountinfo of the task but in the dump's
	// mountpoints images: a mount of another namespace of the tree (the
	// task moved after opening), where restore finds it and where CRIU's
	// name is a path, even one this task's root does not show. No proof.
	inDump := func(id int) bool { return id == int(gone) }
	for _, reg := range []*proto.RegFileEntry{regEntry(string(lower), &gone), regEntry("/upperfile", &gone)} {
		if why, fatal := proveWrong(reg, e.table, inDump, e.root, fdinfo.KindFD, int(e.mB), stUpper); why != "" || fatal {
			t.Errorf("%q on a mount of another namespace of the dump: proof %q fatal %v, want none", reg.GetName(), why, fatal)
		}
	}
	// Not in the dump's images either: restore cannot find it.
	if _, fatal := proveWrong(regEntry(string(lower), &gone), e.table, func(int) bool { return false }, e.root, fdinfo.KindFD, int(e.mB), stLower); !fatal {
		t.Errorf("a mount in no mountinfo and not in the dump: not fatal")
	}
}

// TestConfirmValueNested: the new value is confirmed only when the name,
// inside the task's root, is the live file and is reached through the
// new mount.
func TestConfirmValueNested(t *testing.T) {
	e := startProofEnv(t)
	lower, good := e.held["lower"].Path, e.held["good"].Path
	stLower := e.stat(t, lower)
	bindPath := []byte(strings.Replace(string(lower), "/a/data/", "/bdata/", 1))
	for _, tc := range []struct {
		name string
		path []byte
		mnt  int
		st   *fdinfo.Stat
		want string // substring of confirmed, or of the reason it is not
		ok   bool
	}{
		{"the true value", lower, int(e.mB), stLower, "reached through mount", true},
		{"name only (dump without mount ids)", lower, -1, stLower, "is the live file", true},
		{"CRIU's mount A: the path goes through B", lower, int(e.mA), stLower, fmt.Sprintf("reached through mount %d, not %d", e.mB, e.mA), false},
		{"the same file through the bind mount is not mount B", bindPath, int(e.mB), stLower, fmt.Sprintf("reached through mount %d, not %d", e.mBind, e.mB), false},
		{"another file", good, int(e.mA), stLower, "the live file is", false},
		{"missing name", []byte("/upperfile"), int(e.mB), stLower, "no such file", false},
		{"no live stat", lower, int(e.mB), nil, "stat is unknown", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			confirmed, why := confirmValue(e.root, tc.path, tc.mnt, tc.st, mountIDOf)
			got := why
			if tc.ok {
				got = confirmed
			}
			if (confirmed != "") != tc.ok || !strings.Contains(got, tc.want) {
				t.Errorf("confirmed %q, why %q; want ok=%v and %q", confirmed, why, tc.ok, tc.want)
			}
		})
	}
}

// TestProveEntryConfirmsOnlyWhenTheResolverDiffers: no stat is spent when
// the resolver agrees with CRIU; a deleted file is never confirmed.
func TestProveEntryConfirmsOnlyWhenTheResolverDiffers(t *testing.T) {
	e := startProofEnv(t)
	lower := e.held["lower"].Path
	stLower := e.stat(t, lower)
	calls := 0
	mntOf := func(f *os.File) (int, error) { calls++; return mountIDOf(f) }
	res := func(mnt int32, deleted bool) *resolve.Result {
		return &resolve.Result{Verdict: resolve.OK, Path: lower, MntID: int(mnt), Deleted: deleted}
	}

	p := proveEntry(regEntry(string(lower), &e.mB), e.table, nil, e.root, fdinfo.KindFD, int(e.mB), res(e.mB, false), stLower, mntOf)
	if p.wrong != "" || p.confirmed != "" || p.unconfirmed != "" || calls != 0 {
		t.Errorf("resolver agrees: %+v, %d mount lookups", p, calls)
	}
	p = proveEntry(regEntry(string(lower), &e.mA), e.table, nil, e.root, fdinfo.KindFD, int(e.mB), res(e.mB, false), stLower, mntOf)
	if p.wrong == "" || p.fatal || p.confirmed == "" || string(p.confirmedName) != string(lower) || p.confirmedMnt != int(e.mB) || calls != 1 {
		t.Errorf("§13 case: %+v, %d mount lookups", p, calls)
	}
	p = proveEntry(regEntry(string(lower), &e.mA), e.table, nil, e.root, fdinfo.KindFD, int(e.mB), res(e.mB, true), stLower, mntOf)
	if p.confirmed != "" || !strings.Contains(p.unconfirmed, "deleted") {
		t.Errorf("deleted: %+v", p)
	}
	unresolved := &resolve.Result{Verdict: resolve.Unresolved, MntID: -1}
	p = proveEntry(regEntry(string(lower), &e.mA), e.table, nil, e.root, fdinfo.KindFD, int(e.mB), unresolved, stLower, mntOf)
	if p.confirmed != "" || p.unconfirmed != "" || p.wrong == "" {
		t.Errorf("unresolved: %+v", p)
	}
}

// TestKernelMntIDOfSpecials: cwd, root and exe get the kernel's own mount
// id through /proc/<pid>, as CRIU reads it.
func TestKernelMntIDOfSpecials(t *testing.T) {
	e := startProofEnv(t)
	if got := kernelMntID(e.c.PID, &fdinfo.Object{Kind: fdinfo.KindCwd}); got != int(e.mB) {
		t.Errorf("cwd (on B): mount id %d, want %d", got, e.mB)
	}
	if got := kernelMntID(e.held["sleeper"].PID, &fdinfo.Object{Kind: fdinfo.KindExe}); got != int(e.mA) {
		t.Errorf("exe (on A): mount id %d, want %d", got, e.mA)
	}
	if got := kernelMntID(1<<22+7, &fdinfo.Object{Kind: fdinfo.KindRoot}); got != -1 {
		t.Errorf("no such pid: %d", got)
	}
}
