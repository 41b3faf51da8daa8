package fixup

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/ovlfix/ovlfix/manifest"
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
	// manifest is the provenance of every REG entry, as decided.
	manifest *manifest.Manifest
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
	criu := criuValueOf(reg)
	wg := pl.weigh(id, obs, reg, criu)
	w, ok := pl.agreed(id, obs[0], wg)
	if !ok {
		return nil
	}
	to := target(w, criu)
	if bytes.Equal(to.name, criu.name) && to.mnt == criu.mnt {
		return nil
	}
	// (a): without a proof CRIU's value stands, whatever the resolver says.
	if wg.wrong == nil {
		pl.note(id, w.ob, "the resolver says %q on mount %d (%s), CRIU recorded %q on mount %d, and nothing proves CRIU's value wrong; left as is",
			to.name, to.mnt, w.ob.res.Verdict, criu.name, criu.mnt)
		return nil
	}
	// (b): the new value must be the one a stat inside the root confirmed.
	conf := confirmedAs(wg.wants, to.name, to.mnt, criu.mnt)
	if conf == nil {
		pl.problem(id, w.ob, "%s, but %q on mount %d is not confirmed by a stat inside the task's root (%s); left as is",
			wg.wrong.wrong, to.name, to.mnt, unconfirmedWhy(wg.wants))
		pl.unrepairableIf(wg.fatal, id, obs[0], "no live object confirmed a replacement by a stat inside the task's root")
		return nil
	}
	if err := d.patchReg(idx, to); err != nil {
		return err
	}
	pl.changes = append(pl.changes, Change{
		FileID: id, VPID: w.ob.task.VPID, HostPID: w.ob.host, Object: w.ob.ref.label(),
		OldName: criu.name, NewName: bytes.Clone(to.name), OldMntID: int32(criu.mnt), NewMntID: int32(to.mnt),
		Verdict: string(w.ob.res.Verdict), Reason: changeReason(w, criu.name, criu.mnt),
		Evidence: evidence(w, wg.wants, wg.wrong.wrong, conf.confirmed),
	})
	return nil
}

// value is an entry's (reg.name, reg.mnt_id); mnt is -1 when the entry
// records no mount id.
type value struct {
	name []byte
	mnt  int
}

// criuValueOf is the value CRIU wrote into reg.
func criuValueOf(reg *proto.RegFileEntry) value {
	v := value{name: []byte(reg.GetName()), mnt: -1}
	if reg.MntId != nil {
		v.mnt = int(reg.GetMntId())
	}
	return v
}

// weighed is what the observations of one entry say together.
type weighed struct {
	wants []want // what each checked object says the entry should hold
	wrong *proof // the first proof that CRIU's value is wrong
	fatal string // the first proof that restore would fail
}

// weigh collects each observation's proof and wanted value, recording
// the objects that could not be checked and any size or mode mismatch
// as problems, and ambiguous objects that leave CRIU's value as notes.
func (pl *plan) weigh(id uint32, obs []*observation, reg *proto.RegFileEntry, criu value) weighed {
	var wg weighed
	for _, ob := range obs {
		if ob.proof.wrong != "" {
			if wg.wrong == nil {
				wg.wrong = &ob.proof
			}
			if ob.proof.fatal && wg.fatal == "" {
				wg.fatal = ob.proof.wrong
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
			wg.wants = append(wg.wants, want{name: res.Path, mnt: res.MntID, ob: ob})
		case resolve.Ambiguous:
			if criuAmong(res.Candidates, criu.name, criu.mnt) {
				pl.note(id, ob, "ambiguous (%s); CRIU's value is one of the confirmed candidates, left as is", res.Reason)
				wg.wants = append(wg.wants, want{name: criu.name, mnt: criu.mnt, ob: ob})
			} else {
				wg.wants = append(wg.wants, want{name: res.Path, mnt: res.MntID, ob: ob})
			}
		case resolve.Unresolved:
			pl.problem(id, ob, "could not check: unresolved: %s", res.Reason)
		default:
			pl.problem(id, ob, "could not check: the live object is %s: %s", res.Verdict, res.Reason)
		}
	}
	return wg
}

// agreed is the one value all checked objects want, false when none was
// checked or they disagree (a problem; the dump is unrepairable when a
// proof says restore would fail). first names the entry's first object.
func (pl *plan) agreed(id uint32, first *observation, wg weighed) (want, bool) {
	if len(wg.wants) == 0 {
		pl.unrepairableIf(wg.fatal, id, first, "no live object confirmed a replacement")
		return want{}, false
	}
	w0 := wg.wants[0]
	for _, w := range wg.wants[1:] {
		if !bytes.Equal(w.name, w0.name) || w.mnt != w0.mnt {
			pl.problem(id, w.ob, "objects of one entry disagree: %s says %q on mount %d, %s says %q on mount %d; left as is",
				w0.ob.label(), w0.name, w0.mnt, w.ob.label(), w.name, w.mnt)
			pl.unrepairableIf(wg.fatal, id, first, "the live objects disagree")
			return want{}, false
		}
	}
	return w0, true
}

// target is the value to write for w: a deleted file keeps CRIU's name
// (CRIU's remap images are keyed by this entry: never renamed), and a dump
// without mount ids (mount namespace not dumped) gets none added.
func target(w want, criu value) value {
	to := value{name: w.name, mnt: w.mnt}
	if w.ob.res.Deleted {
		to.name = criu.name
	}
	if criu.mnt < 0 || to.mnt < 0 {
		to.mnt = criu.mnt
	}
	return to
}

// unrepairableIf records the entry as unrepairable when a proof says
// restore would fail (fatal), with why no repair was made.
func (pl *plan) unrepairableIf(fatal string, id uint32, first *observation, why string) {
	if fatal != "" {
		pl.unrepairable = append(pl.unrepairable, fmt.Sprintf("files.img id %d (%s): %s; %s", id, first.label(), fatal, why))
	}
}

// patchReg writes v into the REG entry at idx (reg.name, and reg.mnt_id
// when the entry has one) and re-encodes that entry only.
func (d *dumpImages) patchReg(idx int, v value) error {
	fe := d.Entries[idx]
	reg := fe.GetReg()
	reg.Name = gproto.String(string(v.name))
	if reg.MntId != nil {
		reg.MntId = gproto.Int32(int32(v.mnt))
	}
	return d.Files.SetEntry(idx, fe)
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
