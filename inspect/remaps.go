package inspect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"strconv"

	"github.com/ovlfix/ovlfix/checkpoint"
	"github.com/ovlfix/ovlfix/proto"
	gproto "google.golang.org/protobuf/proto"
)

// RemapFpathImg is the image of CRIU's remaps (criu/image-desc.c
// REMAP_FPATH).
const RemapFpathImg = "remap-fpath.img"

const (
	kindRemapFpath proto.Kind = "REMAP_FPATH"
	kindGhostFile  proto.Kind = "GHOST_FILE"
	// remapGhostBit is REMAP_GHOST of criu/include/image.h: images older
	// than remap_type mark a ghost by this bit of remap_id.
	remapGhostBit = 1 << 31
)

// GhostImage is the name of ghost image id: "ghost-file-%x.img"
// (criu/image-desc.c; the id is in hex).
func GhostImage(id uint32) string { return "ghost-file-" + strconv.FormatUint(uint64(id), 16) + ".img" }

// readRemaps reads remap-fpath.img (missing: no file was unlinked) and
// gives each remapped file its Remap, as criu/files-reg.c
// collect_one_remap reads it.
func (l *Listing) readRemaps(imgs checkpoint.Images, byID map[uint32]*File) error {
	rpes, _, err := decodeImage(imgs, RemapFpathImg, kindRemapFpath, func() *proto.RemapFilePathEntry { return &proto.RemapFilePathEntry{} })
	if err != nil {
		return err
	}
	for i, rpe := range rpes {
		f := byID[rpe.GetOrigId()]
		if f == nil {
			l.note("%s: entry %d remaps file id %d, which files.img has no regular-file entry for", RemapFpathImg, i, rpe.GetOrigId())
			continue
		}
		if f.Remap != nil {
			l.note("%s: entry %d remaps file id %d a second time; the first is used", RemapFpathImg, i, f.ID)
			continue
		}
		f.Remap = l.remapOf(imgs, rpe, byID, f)
	}
	return nil
}

func (l *Listing) remapOf(imgs checkpoint.Images, rpe *proto.RemapFilePathEntry, byID map[uint32]*File, f *File) *Remap {
	id, typ := rpe.GetRemapId(), rpe.GetRemapType()
	if rpe.RemapType == nil { // backward compatibility, as collect_one_remap
		typ = proto.RemapLinked
		if id&remapGhostBit != 0 {
			id &^= remapGhostBit
			typ = proto.RemapGhost
		}
	}
	r := &Remap{RemapID: id}
	switch typ {
	case proto.RemapLinked:
		r.Type = RemapLinked
		if t := byID[id]; t != nil {
			r.LinkedName = t.Name
			t.RemapTargetOf = append(t.RemapTargetOf, f.ID)
		}
	case proto.RemapGhost:
		r.Type = RemapGhost
		r.Image = GhostImage(id)
		g, err := readGhost(imgs, r.Image)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			r.ImagePresent, r.GhostProblem = true, err.Error()
		default:
			r.ImagePresent, r.Ghost = true, g
		}
	case proto.RemapProcfs:
		r.Type = RemapProcfs
	default:
		r.Type = "unknown-" + strconv.Itoa(int(typ))
	}
	return r
}

// readGhost reads the first entry of a ghost image: head and type magic,
// a 4-byte little-endian size, a ghost_file_entry. What follows is the
// file's data (raw or in chunks), which the restore copies and this does
// not read.
func readGhost(imgs checkpoint.Images, name string) (*GhostInfo, error) {
	b, err := imgs.ReadFile(name)
	if err != nil {
		return nil, err
	}
	head, typ, err := kindGhostFile.Magics()
	if err != nil {
		return nil, err
	}
	if len(b) < 12 || binary.LittleEndian.Uint32(b) != head || binary.LittleEndian.Uint32(b[4:]) != typ {
		return nil, fmt.Errorf("%s: not a ghost file image (magics)", name)
	}
	n := binary.LittleEndian.Uint32(b[8:])
	if uint64(n) > uint64(len(b)-12) {
		return nil, fmt.Errorf("%s: entry of %d bytes, the image has %d after the header", name, n, len(b)-12)
	}
	var g proto.GhostFileEntry
	if err := gproto.Unmarshal(b[12:12+n], &g); err != nil {
		return nil, fmt.Errorf("%s: ghost_file_entry: %w", name, err)
	}
	return &GhostInfo{Mode: g.GetMode(), Size: g.GetSize(), HasSize: g.Size != nil}, nil
}
