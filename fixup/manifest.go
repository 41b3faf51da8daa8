package fixup

import (
	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/manifest"
	"github.com/ovlfix/ovlfix/proto"
	"github.com/ovlfix/ovlfix/resolve"
)

// buildManifest is the provenance of every REG entry of files.img, in
// entry order, from the observations the checks made (no other scan):
// name and mount id as the entry holds them after the decisions (a
// repaired entry its new value), every task object naming it (fds,
// cwd/root from fs-<pid>.img, exe and VMAs from mm-<pid>.img, whose
// shmid is the entry id) as a Holder with its pstree.img pid, and the
// stat and overlay place of the first object that was resolved.
func buildManifest(d *dumpImages, obs map[uint32][]*observation) *manifest.Manifest {
	m := manifest.New(manifest.WriterPostDump)
	for _, fe := range d.Entries {
		reg := fe.GetReg()
		if fe.GetType() != proto.FdReg || reg == nil {
			continue
		}
		f := manifest.File{ID: fe.GetId(), MntID: -1}
		f.SetName([]byte(reg.GetName()))
		if reg.MntId != nil {
			f.MntID = int(reg.GetMntId())
		}
		held := obs[fe.GetId()]
		f.Holders = make([]manifest.Holder, 0, len(held))
		for _, ob := range held {
			f.Holders = append(f.Holders, holderOf(ob))
		}
		describe(&f, best(held))
		m.Files = append(m.Files, f)
	}
	return m
}

// best is the observation that tells most about the file: the first
// resolved one with a stat, else the first with a stat, else the first.
func best(held []*observation) *observation {
	var withStat *observation
	for _, ob := range held {
		if ob.why != "" || ob.stat == nil {
			continue
		}
		if ob.res.Verdict != resolve.Unresolved && ob.res.Verdict != "" {
			return ob
		}
		if withStat == nil {
			withStat = ob
		}
	}
	if withStat != nil {
		return withStat
	}
	if len(held) > 0 {
		return held[0]
	}
	return nil
}

// describe fills f's mount, stat and place from ob.
func describe(f *manifest.File, ob *observation) {
	if ob == nil {
		f.Unresolved = "no task of the dump names this entry"
		return
	}
	if ob.why != "" {
		f.Unresolved = quote.String(ob.why)
		return
	}
	// The entry's mount when it records one, else (CRIU writes none when
	// it does not dump mount namespaces: a task in CRIU's own) the mount
	// the resolution found the file on.
	switch {
	case f.MntID >= 0 && ob.table != nil:
		if mnt := ob.table.ByID(f.MntID); mnt != nil {
			f.Mountpoint, f.FSType, f.Source = mnt.Mountpoint, mnt.FSType, mnt.Source
		}
	case f.MntID < 0 && ob.res.Mount != nil:
		mnt := ob.res.Mount
		f.MntID, f.Mountpoint, f.FSType, f.Source = mnt.ID, mnt.Mountpoint, mnt.FSType, mnt.Source
	}
	if st := ob.stat; st != nil {
		f.Size, f.Mode, f.Dev, f.Ino, f.MtimeNs = st.Size, st.Mode, manifest.DevString(st.Dev), st.Ino, st.MtimeNs
	}
	if ob.res.Dev != 0 || ob.res.Ino != 0 {
		f.Dev, f.Ino = manifest.DevString(ob.res.Dev), ob.res.Ino
	}
	f.Overlay, f.Unresolved = ob.place.Overlay, ob.place.Why
	if f.Overlay == nil && f.Unresolved == "" && ob.res.Verdict == resolve.Unresolved {
		f.Unresolved = "not resolved: " + quote.String(ob.res.Reason)
	}
}

// holderOf is the Holder of one observed object, with the task's pid as
// pstree.img has it.
func holderOf(ob *observation) manifest.Holder {
	h := manifest.Holder{PID: int(ob.task.VPID), Kind: ob.ref.Kind.String()}
	switch ob.ref.Kind {
	case fdinfo.KindFD:
		h.FD = ob.ref.FD
	case fdinfo.KindMap:
		h.Map = manifest.MapRange(ob.ref.Start, ob.ref.End)
	}
	return h
}
