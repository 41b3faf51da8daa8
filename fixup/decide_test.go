package fixup

import (
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/proto"
	"github.com/ovlfix/ovlfix/resolve"
	gproto "google.golang.org/protobuf/proto"
)

// synthetic builds a one-entry files.img (id 7, name, mnt_id) for the
// decision rules, which do not depend on where observations came from.
func synthetic(t *testing.T, name string, mnt int32) *dumpImages {
	t.Helper()
	fe := &proto.FileEntry{Type: proto.FdReg.Enum(), Id: gproto.Uint32(7), Reg: &proto.RegFileEntry{
		Id: gproto.Uint32(7), Flags: gproto.Uint32(0), Pos: gproto.Uint64(0), Name: gproto.String(name), MntId: gproto.Int32(mnt),
		Fown: &proto.FownEntry{Uid: gproto.Uint32(0), Euid: gproto.Uint32(0), Signum: gproto.Uint32(0), PidType: gproto.Uint32(0), Pid: gproto.Uint32(0)}}}
	img, err := proto.FilesImage([]*proto.FileEntry{fe})
	if err != nil {
		t.Fatal(err)
	}
	return &dumpImages{Files: img, Entries: []*proto.FileEntry{fe}, ByID: map[uint32]int{7: 0}}
}

func obsOf(kind fdinfo.Kind, fd int, res resolve.Result, pr proof) *observation {
	return &observation{task: &task{VPID: 1}, host: 100, ref: ref{Kind: kind, FD: fd, FileID: 7}, res: res, proof: pr}
}

// Proofs as proveEntry makes them: CRIU's value shown wrong (fatal: restore
// would fail), and the resolver's value confirmed by a stat in the root.
func proven(why string, fatal bool) proof { return proof{wrong: why, fatal: fatal} }

func (p proof) confirming(res resolve.Result) proof {
	p.confirmed, p.confirmedName, p.confirmedMnt = "stat inside the root is the live file", res.Path, res.MntID
	return p
}

func (p proof) unconfirmedBecause(why string) proof {
	p.unconfirmed = why
	return p
}

// TestDecideRules: an entry changes only with a proof that CRIU's value is
// wrong and the new value confirmed (decide.go, docs/fixup.md § When an
// entry changes).
func TestDecideRules(t *testing.T) {
	ok := func(path string, mnt int) resolve.Result {
		return resolve.Result{Verdict: resolve.OK, Path: []byte(path), MntID: mnt}
	}
	unresolved := resolve.Result{Verdict: resolve.Unresolved, Reason: "no overlay shows it", MntID: -1}
	noMount := proven("CRIU's mnt_id 23 is in no mountinfo of the task", true)
	otherSB := proven("CRIU's mnt_id 23 is a mount of another superblock", false)
	ambiguous := resolve.Result{Verdict: resolve.Ambiguous, Path: []byte("/b/f"), MntID: 40,
		Candidates: []resolve.Candidate{{Path: []byte("/a/f"), MntID: 23, Matched: false}, {Path: []byte("/b/f"), MntID: 40, Matched: true}}}
	deleted := resolve.Result{Verdict: resolve.OK, Path: []byte("/a/f"), MntID: 31, Deleted: true}
	for _, tc := range []struct {
		name         string
		obs          []*observation
		wantChange   bool
		wantProblems int
		unrepairable bool
		wantNotes    int
	}{
		{"ok and equal: nothing", []*observation{obsOf(fdinfo.KindFD, 3, ok("/a/f", 23), proof{})}, false, 0, false, 0},
		{"CRIU right, resolver differs, no proof: left, noted", []*observation{obsOf(fdinfo.KindFD, 3, ok("/a/f", 31), proof{}.confirming(ok("/a/f", 31)))}, false, 0, false, 1},
		{"CRIU right, resolver renames, no proof: left, noted", []*observation{obsOf(fdinfo.KindFD, 3, ok("/b/f", 23), proof{}.confirming(ok("/b/f", 23)))}, false, 0, false, 1},
		{"wrong superblock, new value confirmed: changed", []*observation{obsOf(fdinfo.KindFD, 3, ok("/a/f", 31), otherSB.confirming(ok("/a/f", 31)))}, true, 0, false, 0},
		{"mount gone, new value confirmed: changed", []*observation{obsOf(fdinfo.KindFD, 3, ok("/a/f", 31), noMount.confirming(ok("/a/f", 31)))}, true, 0, false, 0},
		{"proven wrong (restore fails), value not confirmed: unrepairable", []*observation{obsOf(fdinfo.KindFD, 3, ok("/a/f", 31),
			noMount.unconfirmedBecause("\"/a/f\" inside the task's root is 0:5/9, the live file is 0:5/7"))}, false, 1, true, 0},
		{"proven wrong (restorable), value not confirmed: problem, not unrepairable", []*observation{obsOf(fdinfo.KindFD, 3, ok("/a/f", 31),
			otherSB.unconfirmedBecause("reached through mount 24, not 31"))}, false, 1, false, 0},
		{"proven wrong, confirmed value differs from the one to write: problem", []*observation{obsOf(fdinfo.KindFD, 3, ok("/a/f", 31), otherSB.confirming(ok("/a/f", 32)))}, false, 1, false, 0},
		{"unresolved, no proof: problem only", []*observation{obsOf(fdinfo.KindFD, 3, unresolved, proof{})}, false, 1, false, 0},
		{"unresolved and proven wrong: unrepairable", []*observation{obsOf(fdinfo.KindFD, 3, unresolved, noMount)}, false, 1, true, 0},
		{"unresolved and proven wrong but restorable: problem", []*observation{obsOf(fdinfo.KindFD, 3, unresolved, otherSB)}, false, 1, false, 0},
		{"objects disagree: problem, no change", []*observation{
			obsOf(fdinfo.KindFD, 3, ok("/a/f", 31), otherSB.confirming(ok("/a/f", 31))), obsOf(fdinfo.KindMap, 0, ok("/b/f", 32), otherSB.confirming(ok("/b/f", 32)))}, false, 1, false, 0},
		{"one unresolved, one proven and confirmed: changed", []*observation{
			obsOf(fdinfo.KindFD, 3, unresolved, proof{}), obsOf(fdinfo.KindMap, 0, ok("/a/f", 31), otherSB.confirming(ok("/a/f", 31)))}, true, 1, false, 0},
		{"proof from one object, confirmation from another: changed", []*observation{
			obsOf(fdinfo.KindExe, -1, ok("/a/f", 31), proof{}.confirming(ok("/a/f", 31))), obsOf(fdinfo.KindMap, 0, ok("/a/f", 31), otherSB)}, true, 0, false, 0},
		{"ambiguous, CRIU among candidates: left, noted", []*observation{obsOf(fdinfo.KindFD, 3, resolve.Result{Verdict: resolve.Ambiguous, Path: []byte("/b/f"), MntID: 40,
			Candidates: []resolve.Candidate{{Path: []byte("/a/f"), MntID: 23, Matched: true}, {Path: []byte("/b/f"), MntID: 40, Matched: true}}}, otherSB)}, false, 0, false, 1},
		{"ambiguous, CRIU not among candidates, proven and confirmed: changed", []*observation{obsOf(fdinfo.KindFD, 3, ambiguous, otherSB.confirming(ambiguous))}, true, 0, false, 0},
		{"ambiguous, CRIU not among candidates, no proof: left, noted", []*observation{obsOf(fdinfo.KindFD, 3, ambiguous, proof{}.confirming(ambiguous))}, false, 0, false, 1},
		{"deleted, same mount: nothing (the resolver's name is CRIU's stripped one)", []*observation{obsOf(fdinfo.KindFD, 3, resolve.Result{Verdict: resolve.OK, Path: []byte("/a/f"), MntID: 23, Deleted: true}, proof{})}, false, 0, false, 0},
		{"a \" (deleted)\" resolver path, no proof: left, noted", []*observation{obsOf(fdinfo.KindFD, 3, ok("/a/f (deleted)", 23), proof{}.confirming(ok("/a/f (deleted)", 23)))}, false, 0, false, 1},
		{"deleted, other mount, proven wrong: never confirmed, unrepairable, never renamed", []*observation{obsOf(fdinfo.KindFD, 3, deleted,
			noMount.unconfirmedBecause("the file is deleted: its name cannot be statted inside the task's root"))}, false, 1, true, 0},
		{"not found live: problem", []*observation{{task: &task{VPID: 2}, ref: ref{Kind: fdinfo.KindFD, FD: 9, FileID: 7}, why: "task 2 not found"}}, false, 1, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := synthetic(t, "/a/f", 23)
			before := append([]byte(nil), d.Files.Entries[0]...)
			pl, err := decide(d, map[uint32][]*observation{7: tc.obs})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(pl.changes) == 1; got != tc.wantChange {
				t.Errorf("changes %+v", pl.changes)
			}
			if changed := string(before) != string(d.Files.Entries[0]); changed != tc.wantChange {
				t.Errorf("entry bytes changed = %v", changed)
			}
			if len(pl.problems) != tc.wantProblems || len(pl.notes) != tc.wantNotes {
				t.Errorf("problems %+v notes %+v", pl.problems, pl.notes)
			}
			if (len(pl.unrepairable) > 0) != tc.unrepairable {
				t.Errorf("unrepairable %v", pl.unrepairable)
			}
			if pl.checked != 1 {
				t.Errorf("checked %d", pl.checked)
			}
			for _, ch := range pl.changes {
				if len(ch.Evidence) < 2 || !strings.Contains(strings.Join(ch.Evidence, "\n"), "CRIU's value is wrong: ") ||
					!strings.Contains(strings.Join(ch.Evidence, "\n"), "the new value is confirmed: ") {
					t.Errorf("change evidence lacks the proof or the confirmation: %q", ch.Evidence)
				}
			}
			fe := &proto.FileEntry{}
			if err := d.Files.Decode(0, fe); err != nil {
				t.Fatal(err)
			}
			for _, ob := range tc.obs {
				if ob.res.Deleted && fe.GetReg().GetName() != "/a/f" {
					t.Errorf("deleted file renamed to %q", fe.GetReg().GetName())
				}
			}
		})
	}
}

func TestParseNSpid(t *testing.T) {
	// /proc/<pid>/status lines as 6.18 prints them (tab-separated, checked
	// with `grep NSpid /proc/self/status | cat -A` on this host); the
	// two-level line is a task in a child pid namespace (proc(5)), the last
	// status is a kernel before 4.1, which has no NSpid.
	for _, tc := range []struct {
		status string
		want   []uint32
	}{
		{"Name:\tsleep\nTgid:\t4242\nNgid:\t0\nPid:\t4242\nPPid:\t4200\nNSpid:\t4242\t1\nNSpgid:\t4242\t1\n", []uint32{4242, 1}},
		{"Name:\tbash\nPid:\t17\nNSpid:\t17\n", []uint32{17}},
		{"Name:\told\nPid:\t17\n", nil},
	} {
		got, err := parseNSpid(strings.NewReader(tc.status), 1)
		if err != nil || len(got) != len(tc.want) {
			t.Fatalf("%q: %v %v", tc.status, got, err)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%q: %v, want %v", tc.status, got, tc.want)
			}
		}
	}
	if _, err := parseNSpid(strings.NewReader("NSpid:\t12\tx\n"), 1); err == nil {
		t.Error("bad NSpid accepted")
	}
}
