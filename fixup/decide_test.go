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

func obsOf(kind fdinfo.Kind, fd int, res resolve.Result, proof string) *observation {
	return &observation{task: &task{VPID: 1}, host: 100, ref: ref{Kind: kind, FD: fd, FileID: 7}, res: res, criuWrong: proof}
}

func TestDecideRules(t *testing.T) {
	ok := func(path string, mnt int) resolve.Result {
		return resolve.Result{Verdict: resolve.OK, Path: []byte(path), MntID: mnt}
	}
	unresolved := resolve.Result{Verdict: resolve.Unresolved, Reason: "no overlay shows it", MntID: -1}
	for _, tc := range []struct {
		name         string
		obs          []*observation
		wantChange   bool
		wantProblems int
		unrepairable bool
		wantNotes    int
	}{
		{"ok and equal: nothing", []*observation{obsOf(fdinfo.KindFD, 3, ok("/a/f", 23), "")}, false, 0, false, 0},
		{"wrong mount: changed", []*observation{obsOf(fdinfo.KindFD, 3, ok("/a/f", 31), "")}, true, 0, false, 0},
		{"unresolved, no proof: problem only", []*observation{obsOf(fdinfo.KindFD, 3, unresolved, "")}, false, 1, false, 0},
		{"unresolved and proven wrong: unrepairable", []*observation{obsOf(fdinfo.KindFD, 3, unresolved, "CRIU's mnt_id 23 is in no mountinfo")}, false, 1, true, 0},
		{"objects disagree: problem, no change", []*observation{
			obsOf(fdinfo.KindFD, 3, ok("/a/f", 31), ""), obsOf(fdinfo.KindMap, 0, ok("/b/f", 32), "")}, false, 1, false, 0},
		{"one unresolved, one confirmed: changed", []*observation{
			obsOf(fdinfo.KindFD, 3, unresolved, ""), obsOf(fdinfo.KindMap, 0, ok("/a/f", 31), "")}, true, 1, false, 0},
		{"ambiguous, CRIU among candidates: left, noted", []*observation{obsOf(fdinfo.KindFD, 3, resolve.Result{Verdict: resolve.Ambiguous, Path: []byte("/b/f"), MntID: 40,
			Candidates: []resolve.Candidate{{Path: []byte("/a/f"), MntID: 23, Matched: true}, {Path: []byte("/b/f"), MntID: 40, Matched: true}}}, "")}, false, 0, false, 1},
		{"ambiguous, CRIU not among candidates: changed", []*observation{obsOf(fdinfo.KindFD, 3, resolve.Result{Verdict: resolve.Ambiguous, Path: []byte("/b/f"), MntID: 40,
			Candidates: []resolve.Candidate{{Path: []byte("/a/f"), MntID: 23, Matched: false}, {Path: []byte("/b/f"), MntID: 40, Matched: true}}}, "")}, true, 0, false, 0},
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
