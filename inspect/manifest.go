package inspect

import (
	"errors"
	"io/fs"

	"github.com/ovlfix/ovlfix/checkpoint"
	"github.com/ovlfix/ovlfix/manifest"
)

// readManifest attaches ovlfix-manifest.json's record of each file by id.
// A manifest of another schema version, one that does not parse, or a
// record whose name is not the files.img entry's (files.img changed after
// the manifest was written) is reported in Manifest.Problem or a Note and
// not used: the listing is then what the images alone say.
func (l *Listing) readManifest(imgs checkpoint.Images, byID map[uint32]*File) {
	b, err := imgs.ReadFile(manifest.FileName)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	l.Manifest.Present = true
	if err != nil {
		l.Manifest.Problem = err.Error()
		return
	}
	m, err := manifest.ReadFile(b)
	if err != nil {
		l.Manifest.Problem = err.Error()
		return
	}
	l.Manifest.Writer, l.Manifest.Tool = m.Writer, m.Tool
	for i := range m.Files {
		mf := &m.Files[i]
		f := byID[mf.ID]
		switch {
		case f == nil:
			l.note("%s: file id %d is not a regular-file entry of files.img", manifest.FileName, mf.ID)
		case f.Provenance != nil:
			l.note("%s: file id %d is listed twice; the first is used", manifest.FileName, mf.ID)
		case mf.Name != f.Name:
			l.note("%s: file id %d is named %q there and %q in files.img; not used", manifest.FileName, mf.ID, mf.Name, f.Name)
		default:
			f.Provenance = mf
		}
	}
}
