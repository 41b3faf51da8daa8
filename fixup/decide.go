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

// entry decides one files.img entry. The rule (docs/fixup.md § When an
// entry changes): an entry changes ONLY with positive proof that CRIU's
// value is wrong AND that the new one is right:
//
//	(a) some object's proof.wrong: a check independent of the resolver
//	    shows CRIU's (name, mnt_id) cannot be right (proveWrong);
//	(b) some object's proof.confirmed: fixup's own stat inside the task's
//	    root found the live file under the new name and mount
//	    (confirmValue); the resolver's "no stat was needed" is not enough.
//
// Without (a) CRIU's value stays and a note says what the resolver
// thought; with (a) but not (b) it stays too, as a problem, and when (a)
// shows restore would fail the dump is unrepairable. A deleted file is
// never renamed (CRIU's remap images are keyed by the entry).
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
	var wrong *proof // the first proof that CRIU's value is wrong
	var fatal string // the first proof that restore would fail
	for _, ob := range obs {
		if ob.proof.wrong != "" {
			if wrong == nil {
				wrong = &ob.proof
			}
			if ob.proof.fatal && fatal == "" {
				fatal = ob.proof.wrong
			}
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
				pl.note(id, ob, "ambiguous (%s); CRIU's value is one of the confirmed candidates, left as is", res.Reason)
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
		if fatal != "" {
			pl.unrepairable = append(pl.unrepairable, fmt.Sprintf("files.img id %d (%s): %s; %s", id, obs[0].label(), fatal, why))
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
	// (a): without a proof CRIU's value stands, whatever the resolver says.
	if wrong == nil {
		pl.note(id, w.ob, "the resolver says %q on mount %d (%s), CRIU recorded %q on mount %d, and nothing proves CRIU's value wrong; left as is",
			newName, newMnt, w.ob.res.Verdict, criuName, criuMnt)
		return nil
	}
	// (b): the new value must be the one a stat inside the root confirmed.
	conf := confirmedAs(wants, newName, newMnt, criuMnt)
	if conf == nil {
		pl.problem(id, w.ob, "%s, but %q on mount %d is not confirmed by a stat inside the task's root (%s); left as is",
			wrong.wrong, newName, newMnt, unconfirmedWhy(wants))
		fail("no live object confirmed a replacement by a stat inside the task's root")
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
		Verdict: string(w.ob.res.Verdict), Reason: changeReason(w, criuName, criuMnt),
		Evidence: evidence(w, wants, wrong.wrong, conf.confirmed),
	})
	return nil
}

func (pl *plan) note(id uint32, ob *observation, format string, args ...any) {
	pl.notes = append(pl.notes, Problem{FileID: id, Object: ob.label(), What: fmt.Sprintf(format, args...)})
}

// confirmedAs returns the proof of an object that confirmed exactly the
// value to be written (the mount only when the dump records mount ids).
func confirmedAs(wants []want, name []byte, mnt, criuMnt int) *proof {
	for _, w := range wants {
		p := &w.ob.proof
		if p.confirmed == "" || !bytes.Equal(p.confirmedName, name) {
			continue
		}
		if criuMnt >= 0 && p.confirmedMnt != mnt {
			continue
		}
		return p
	}
	return nil
}

func unconfirmedWhy(wants []want) string {
	var whys []string
	for _, w := range wants {
		if w.ob.proof.unconfirmed != "" {
			whys = append(whys, w.ob.label()+": "+w.ob.proof.unconfirmed)
		}
	}
	if len(whys) == 0 {
		return "no object could be statted"
	}
	return strings.Join(whys, "; ")
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

func evidence(w want, all []want, wrong, confirmed string) []string {
	ev := append([]string(nil), w.ob.res.Evidence...)
	ev = append(ev, "CRIU's value is wrong: "+wrong, "the new value is confirmed: "+confirmed)
	if len(all) > 1 {
		var others []string
		for _, o := range all[1:] {
			others = append(others, o.ob.label())
		}
		ev = append(ev, "the same entry is also used by "+strings.Join(others, ", ")+", which agree")
	}
	return ev
}
