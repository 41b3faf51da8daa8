package dump

import (
	"bytes"
	"fmt"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/manifest"
	"github.com/ovlfix/ovlfix/mountns"
	"github.com/ovlfix/ovlfix/proto"
	"github.com/ovlfix/ovlfix/resolve"
)

// Manifest builds ovlfix-manifest.json for the images of the dump: one
// File per files.img entry (ids, as buildImages gave them), in id order,
// with every object of every process that got that id as a Holder (a
// library mapped a hundred times is one File, a hundred Holders: one
// map lookup per holder). Name and mount are what the entry records;
// the stat is the held inode's (its fd link, or map_files for a
// mapping); the overlay place is the one the resolution told
// (Process.Places).
func (d *Dump) Manifest(ids map[*resolve.Result]uint32) *manifest.Manifest {
	m := manifest.New(manifest.WriterDump)
	at := make(map[uint32]int, len(ids))
	for _, p := range d.Processes {
		var table *mountns.Table
		if p.Namespace != nil {
			table = p.Namespace.Table
		}
		for i := range p.Results {
			r := &p.Results[i]
			id, ok := ids[r]
			if !ok {
				continue
			}
			k, seen := at[id]
			if !seen {
				var pl resolve.Place
				if i < len(p.Places) {
					pl = p.Places[i]
				}
				k = len(m.Files)
				at[id] = k
				m.Files = append(m.Files, manifestFile(id, r, mntIDFor(r, table), table, pl))
			}
			m.Files[k].Holders = append(m.Files[k].Holders, holder(p.PID, r.Object))
		}
	}
	return m
}

// ManifestOf is Manifest with the digest of the files.img among imgs (the
// set WriteDir writes), so that a reader refuses it beside another
// files.img.
func (d *Dump) ManifestOf(ids map[*resolve.Result]uint32, imgs []*proto.Image) (*manifest.Manifest, error) {
	m := d.Manifest(ids)
	for _, img := range imgs {
		if img.Name != proto.FilesImg {
			continue
		}
		var b bytes.Buffer
		if err := img.Encode(&b); err != nil {
			return nil, fmt.Errorf("%s for the manifest's digest: %w", proto.FilesImg, err)
		}
		m.FilesImgSHA256 = manifest.Digest(b.Bytes())
	}
	return m, nil
}

// manifestFile is the File of entry id, first met through result r whose
// entry records mount mnt (-1: none).
func manifestFile(id uint32, r *resolve.Result, mnt int, table *mountns.Table, pl resolve.Place) manifest.File {
	f := manifest.File{ID: id, MntID: mnt, Overlay: pl.Overlay, Unresolved: pl.Why}
	f.SetName(pathOf(r))
	mount := r.Mount
	if mount == nil && mnt >= 0 && table != nil {
		mount = table.ByID(mnt)
	}
	if mount != nil && mount.ID == mnt {
		f.Mountpoint, f.FSType, f.Source = mount.Mountpoint, mount.FSType, mount.Source
	}
	if st := heldStat(r.Object); st != nil {
		f.Size, f.Mode, f.Dev, f.Ino, f.MtimeNs = st.Size, st.Mode, manifest.DevString(st.Dev), st.Ino, st.MtimeNs
	}
	if r.Dev != 0 || r.Ino != 0 {
		f.Dev, f.Ino = manifest.DevString(r.Dev), r.Ino
	}
	if f.Unresolved == "" && f.Overlay == nil {
		switch {
		case r.Verdict == resolve.Unresolved:
			f.Unresolved = "not resolved: " + quote.String(r.Reason)
		case mount != nil && mount.Overlay != nil:
			f.Unresolved = "on an overlay, but its place was not looked up"
		}
	}
	return f
}

// holder is the Holder of object o of the process scanned as pid.
func holder(pid int, o *fdinfo.Object) manifest.Holder {
	h := manifest.Holder{PID: pid, Kind: o.Kind.String()}
	switch o.Kind {
	case fdinfo.KindFD:
		h.FD = o.FD
	case fdinfo.KindMap:
		if o.Map != nil {
			h.Map = manifest.MapRange(o.Map.Start, o.Map.End)
		}
	}
	return h
}

// heldStat is the stat of the held inode: a mapping's through map_files,
// any other object's through its link; nil when none was made.
func heldStat(o *fdinfo.Object) *fdinfo.Stat {
	if o.Kind == fdinfo.KindMap && o.Map != nil && o.Map.MapFiles != nil {
		return o.Map.MapFiles
	}
	return o.Stat
}
