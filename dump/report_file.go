package dump

import (
	"github.com/ovlfix/ovlfix/manifest"
	"github.com/ovlfix/ovlfix/proto"
)

// ReportFile is the name of the JSON report written next to the images.
const ReportFile = "ovlfix-report.json"

// WriteDir writes the dump's CRIU images (WriteImages' set), its report
// (ovlfix-report.json, with Images set to dir) and its provenance
// manifest (ovlfix-manifest.json, Manifest; docs/manifest.md) into dir
// as one set, all or nothing: after an error, a full disk say, dir holds exactly what it held
// before (proto.WriteSetAtomic), never a partial image set. It returns the
// report written.
func (d *Dump) WriteDir(dir string) (*Report, error) {
	imgs, ids, err := d.buildImages()
	if err != nil {
		return nil, err
	}
	rep := d.Report(ids)
	rep.Images = dir
	m, err := d.ManifestOf(ids, imgs)
	if err != nil {
		return nil, err
	}
	files := append(setFiles(imgs), proto.SetFile{Name: ReportFile, Perm: 0o644, Write: rep.WriteJSON},
		proto.SetFile{Name: manifest.FileName, Perm: 0o644, Write: m.Encode})
	if err := proto.WriteSetAtomic(dir, files); err != nil {
		return nil, err
	}
	return rep, nil
}
