package inspect

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/ovlfix/ovlfix/checkpoint"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/manifest"
	"github.com/ovlfix/ovlfix/proto"
)

// readManifest attaches ovlfix-manifest.json's record of each file by id.
// A manifest of another schema version, one that does not parse, one
// whose files.img digest is not this files.img's (another dump's), or a
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
	if m.FilesImgSHA256 != "" {
		fi, err := imgs.ReadFile(proto.FilesImg)
		if err != nil {
			l.Manifest.Problem = fmt.Sprintf("%s: not checked against files.img: %v", manifest.FileName, err)
			return
		}
		if got := manifest.Digest(fi); got != m.FilesImgSHA256 {
			l.Manifest.Problem = fmt.Sprintf("%s: written for another files.img (sha256 %s, this one's %s: an earlier dump's, in a reused images directory?); not used",
				manifest.FileName, quote.String(m.FilesImgSHA256), got)
			return
		}
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
