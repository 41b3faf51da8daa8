package inspect

import (
	"fmt"

	"github.com/ovlfix/ovlfix/checkpoint"
	"github.com/ovlfix/ovlfix/manifest"
	"github.com/ovlfix/ovlfix/proto"
)

// Load lists the files a restore of c will reopen. files.img and
// pstree.img must be there and well-formed; any other image that is
// missing is a Note (a zombie has no task images; a dump without a mount
// namespace has no mountpoints images), one that is malformed is an error
// naming it. The manifest never makes Load fail (Listing.Manifest).
func Load(c *checkpoint.Checkpoint) (*Listing, error) {
	if c == nil || c.Images == nil {
		return nil, fmt.Errorf("inspect: no checkpoint images")
	}
	l := &Listing{Path: c.Path, Format: string(c.Format)}
	byID, err := l.readFiles(c.Images)
	if err != nil {
		return nil, err
	}
	if err := l.readHolders(c.Images, byID); err != nil {
		return nil, err
	}
	if err := l.readMounts(c.Images); err != nil {
		return nil, err
	}
	if err := l.readRemaps(c.Images, byID); err != nil {
		return nil, err
	}
	l.readManifest(c.Images, byID)
	return l, nil
}

// readFiles fills Files from files.img and returns them by id. A
// duplicate id is an error: CRIU would restore one of them and the
// listing could not say which.
func (l *Listing) readFiles(imgs checkpoint.Images) (map[uint32]*File, error) {
	entries, ok, err := readImage(imgs, proto.FilesImg, proto.ReadFiles)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: not in the checkpoint", proto.FilesImg)
	}
	byID := make(map[uint32]*File, len(entries))
	for i, fe := range entries {
		if fe.GetType() != proto.FdReg {
			continue
		}
		reg := fe.GetReg()
		if reg == nil {
			return nil, fmt.Errorf("%s: entry %d (id %d): type REG without a reg field", proto.FilesImg, i, fe.GetId())
		}
		if _, dup := byID[fe.GetId()]; dup {
			return nil, fmt.Errorf("%s: entry %d: file id %d used twice", proto.FilesImg, i, fe.GetId())
		}
		f := &File{
			ID: fe.GetId(), Name: reg.GetName(), Flags: reg.GetFlags(), MntID: int(reg.GetMntId()),
			Size: reg.GetSize(), HasSize: reg.Size != nil, Mode: reg.GetMode(), HasMode: reg.Mode != nil,
			BuildID: buildIDBytes(reg.GetBuildId()), Ext: reg.GetExt(), Holders: []manifest.Holder{},
		}
		byID[f.ID] = f
		l.Files = append(l.Files, f)
	}
	return byID, nil
}

// buildIDBytes is reg.build_id's words as the bytes CRIU memcpy'd into
// them (little-endian: CRIU and its images are x86-64/arm64 here).
func buildIDBytes(words []uint32) []byte {
	if len(words) == 0 {
		return nil
	}
	b := make([]byte, 0, 4*len(words))
	for _, w := range words {
		b = append(b, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
	}
	return b
}

func (l *Listing) note(format string, args ...any) {
	l.Notes = append(l.Notes, fmt.Sprintf(format, args...))
}
