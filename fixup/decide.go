package fixup

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/ovlfix/ovlfix/proto"
	"github.com/ovlfix/ovlfix/resolve"
	"golang.org/x/sys/unix"
	gproto "google.golang.org/protobuf/proto"
)

// want is the (name, mnt_id) one observation says the entry should hold.
type want struct {
	name []byte
	mnt  int
	ob   *observation
}

// plan is what the checks decided.
type plan struct {
	changes      []Change
	problems     []Problem
	notes        []Problem
	checked      int
	unrepairable []string // "files.img id 7 (pid 1 fd 3): why"
}

// decide compares each REG entry referenced by a live object with the
// observations, in file id order, and patches img for each change (only
// reg.name and reg.mnt_id; SetEntry re-encodes that one entry).
func decide(d *dumpImages, obs map[uint32][]*observation) (*plan, error) {
	ids := make([]uint32, 0, len(obs))
	for id := range obs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	pl := &plan{}
	for _, id := range ids {
		if err := pl.entry(d, id, obs[id]); err != nil {
			return nil, err
		}
	}
	return pl, nil
}

func (pl *plan) problem(id uint32, ob *observation, format string, args ...any) {
	pl.problems = append(pl.problems, Problem{FileID: id, Object: ob.label(), What: fmt.Sprintf(format, args...)})
}

func (pl *plan) entry(d *dumpImages, id uint32, obs []*observation) error {
	idx, ok := d.ByID[id]
	if !ok {
		pl.problem(id, obs[0], "named by the task's images but files.img has no entry with this id")
		return nil
	}
	fe := d.Entries[idx]
	if fe.GetType() != proto.FdReg || fe.GetReg() == nil {
		return nil // not a regular file entry: never ours to check or touch
	}
	reg := fe.GetReg()
	pl.checked++
	criuName := []byte(reg.GetName())
	criuMnt := -1
	if reg.MntId != nil {
		criuMnt = int(reg.GetMntId())
	}
	var wants []want
	var proof string
	for _, ob := range obs {
		if proof == "" && ob.criuWrong != "" {
			proof = ob.criuWrong
		}
		if ob.why != "" {
			pl.problem(id, ob, "could not check: %s", ob.why)
			continue
		}
		pl.compareStat(id, ob, reg)
		res := &ob.res
		switch res.Verdict {
		case resolve.OK, resolve.Fixed:
			wants = append(wants, want{name: res.Path, mnt: res.MntID, ob: ob})
		case resolve.Ambiguous:
			if criuAmong(res.Candidates, criuName, criuMnt) {
				pl.notes = append(pl.notes, Problem{FileID: id, Object: ob.label(),
					What: fmt.Sprintf("ambiguous (%s); CRIU's value is one of the confirmed candidates, left as is", res.Reason)})
				wants = append(wants, want{name: criuName, mnt: criuMnt, ob: ob})
			} else {
				wants = append(wants, want{name: res.Path, mnt: res.MntID, ob: ob})
			}
		case resolve.Unresolved:
			pl.problem(id, ob, "could not check: unresolved: %s", res.Reason)
		default:
			pl.problem(id, ob, "could not check: the live object is %s: %s", res.Verdict, res.Reason)
		}
	}
	fail := func(why string) {
		if proof != "" {
			pl.unrepairable = append(pl.unrepairable, fmt.Sprintf("files.img id %d (%s): %s; %s", id, obs[0].label(), proof, why))
		}
	}
	if len(wants) == 0 {
		fail("no live object confirmed a replacement")
		return nil
	}
	for _, w := range wants[1:] {
		if !bytes.Equal(w.name, wants[0].name) || w.mnt != wants[0].mnt {
			pl.problem(id, w.ob, "objects of one entry disagree: %s says %q on mount %d, %s says %q on mount %d; left as is",
				wants[0].ob.label(), wants[0].name, wants[0].mnt, w.ob.label(), w.name, w.mnt)
			fail("the live objects disagree")
			return nil
		}
	}
	w := wants[0]
	newName, newMnt := w.name, w.mnt
	if w.ob.res.Deleted {
		newName = criuName // deleted files go through CRIU's remap images, keyed by this entry: never renamed
	}
	if criuMnt < 0 || newMnt < 0 {
		newMnt = criuMnt // the dump recorded no mount ids (mount namespace not dumped): none is added
	}
	if bytes.Equal(newName, criuName) && newMnt == criuMnt {
		return nil
	}
	reg.Name = gproto.String(string(newName))
	if reg.MntId != nil {
		reg.MntId = gproto.Int32(int32(newMnt))
	}
	if err := d.Files.SetEntry(idx, fe); err != nil {
		return err
	}
	pl.changes = append(pl.changes, Change{
		FileID: id, VPID: w.ob.task.VPID, HostPID: w.ob.host, Object: w.ob.ref.label(),
		OldName: criuName, NewName: bytes.Clone(newName), OldMntID: int32(criuMnt), NewMntID: int32(newMnt),
		Verdict: string(w.ob.res.Verdict), Reason: changeReason(w, criuName, criuMnt), Evidence: evidence(w, wants),
	})
	return nil
}

// compareStat reports a size or mode CRIU recorded that the live file
// does not have (restore checks the size of regular files). Never changed.
func (pl *plan) compareStat(id uint32, ob *observation, reg *proto.RegFileEntry) {
	st := ob.stat
	if st == nil {
		return
	}
	if reg.Mode != nil && reg.GetMode() != st.Mode {
		pl.problem(id, ob, "files.img mode %#o, the live file's is %#o (not changed)", reg.GetMode(), st.Mode)
	}
	if reg.Size != nil && st.Mode&unix.S_IFMT == unix.S_IFREG && reg.GetSize() != uint64(st.Size) {
		pl.problem(id, ob, "files.img size %d, the live file's is %d (not changed)", reg.GetSize(), st.Size)
	}
}

func criuAmong(cands []resolve.Candidate, name []byte, mnt int) bool {
	for _, c := range cands {
		if c.Matched && bytes.Equal(c.Path, name) && (mnt < 0 || c.MntID == mnt) {
			return true
		}
	}
	return false
}

func changeReason(w want, criuName []byte, criuMnt int) string {
	res := &w.ob.res
	var parts []string
	if criuMnt != w.mnt && criuMnt >= 0 {
		where := ""
		if res.Mount != nil {
			where = fmt.Sprintf(" (%s on %q)", res.Mount.FSType, res.Mount.Mountpoint)
		}
		parts = append(parts, fmt.Sprintf("CRIU recorded mnt_id %d, the file is on mount %d%s", criuMnt, w.mnt, where))
	}
	if !bytes.Equal(criuName, w.name) && !res.Deleted {
		parts = append(parts, fmt.Sprintf("CRIU recorded name %q, the file is %q", criuName, w.name))
	}
	s := strings.Join(parts, "; ")
	if res.Reason != "" {
		s += " (resolver: " + res.Reason + ")"
	}
	return s
}

func evidence(w want, all []want) []string {
	ev := append([]string(nil), w.ob.res.Evidence...)
	if len(all) > 1 {
		var others []string
		for _, o := range all[1:] {
			others = append(others, o.ob.label())
		}
		ev = append(ev, "the same entry is also used by "+strings.Join(others, ", ")+", which agree")
	}
	return ev
}
