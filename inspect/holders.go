package inspect

import (
	"fmt"
	"io"

	"github.com/ovlfix/ovlfix/checkpoint"
	"github.com/ovlfix/ovlfix/manifest"
	"github.com/ovlfix/ovlfix/proto"
)

// readHolders attaches every task reference to its file: fds
// (ids-N.img files_id → fdinfo-<files_id>.img; a table shared by several
// tasks is listed for each), cwd and root (fs-N.img), exe and file
// mappings (mm-N.img). A reference to an id files.img has no REG entry
// for is a Note.
func (l *Listing) readHolders(imgs checkpoint.Images, byID map[uint32]*File) error {
	pst, ok, err := readImage(imgs, proto.PstreeImg, proto.ReadPstree)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: not in the checkpoint", proto.PstreeImg)
	}
	fdTables := map[uint32][]*proto.FdinfoEntry{}
	for _, p := range pst {
		pid := p.GetPid()
		add := func(id uint32, h manifest.Holder, what string) {
			if f := byID[id]; f != nil {
				f.Holders = append(f.Holders, h)
				return
			}
			l.note("pid %d: %s names file id %d, which files.img has no regular-file entry for", pid, what, id)
		}
		if err := l.taskFds(imgs, pid, fdTables, add); err != nil {
			return err
		}
		if err := l.taskFs(imgs, pid, add); err != nil {
			return err
		}
		if err := l.taskMm(imgs, pid, add); err != nil {
			return err
		}
	}
	return nil
}

type addHolder func(id uint32, h manifest.Holder, what string)

func (l *Listing) taskFds(imgs checkpoint.Images, pid uint32, tables map[uint32][]*proto.FdinfoEntry, add addHolder) error {
	ids, err := readOne(l, imgs, proto.IdsImg(pid), proto.ReadIds, pid)
	if err != nil || ids == nil {
		return err
	}
	fid := ids.GetFilesId()
	fds, seen := tables[fid]
	if !seen {
		var ok bool
		fds, ok, err = readImage(imgs, proto.FdinfoImg(fid), proto.ReadFdinfo)
		if err != nil {
			return err
		}
		if !ok {
			l.note("pid %d: %s is not in the checkpoint", pid, proto.FdinfoImg(fid))
		}
		tables[fid] = fds
	}
	for _, fd := range fds {
		if fd.GetType() == proto.FdReg {
			add(fd.GetId(), manifest.Holder{PID: int(pid), Kind: "fd", FD: int(fd.GetFd())}, fmt.Sprintf("fd %d", fd.GetFd()))
		}
	}
	return nil
}

func (l *Listing) taskFs(imgs checkpoint.Images, pid uint32, add addHolder) error {
	fsE, err := readOne(l, imgs, proto.FsImg(pid), proto.ReadFs, pid)
	if err != nil || fsE == nil {
		return err
	}
	add(fsE.GetCwdId(), manifest.Holder{PID: int(pid), Kind: "cwd"}, "cwd")
	if fsE.RootId != nil {
		add(fsE.GetRootId(), manifest.Holder{PID: int(pid), Kind: "root"}, "root")
	}
	return nil
}

func (l *Listing) taskMm(imgs checkpoint.Images, pid uint32, add addHolder) error {
	mm, err := readOne(l, imgs, proto.MmImg(pid), proto.ReadMm, pid)
	if err != nil || mm == nil {
		return err
	}
	if mm.ExeFileId != nil {
		add(mm.GetExeFileId(), manifest.Holder{PID: int(pid), Kind: "exe"}, "exe")
	}
	for _, v := range mm.GetVmas() {
		if !proto.MapsFile(v) {
			continue
		}
		span := fmt.Sprintf("%x-%x", v.GetStart(), v.GetEnd())
		add(uint32(v.GetShmid()), manifest.Holder{PID: int(pid), Kind: "map", Map: span}, "mapping "+span)
	}
	return nil
}

// readOne reads a one-entry task image; a missing one is a Note and nil
// (a zombie has no task images).
func readOne[M any](l *Listing, imgs checkpoint.Images, name string, read func(io.Reader, string, ...proto.ReadOption) ([]*M, error), pid uint32) (*M, error) {
	ms, ok, err := readImage(imgs, name, read)
	if err != nil {
		return nil, err
	}
	if !ok {
		l.note("pid %d: %s is not in the checkpoint", pid, name)
		return nil, nil
	}
	if len(ms) != 1 {
		return nil, fmt.Errorf("%s: %d entries, want 1", name, len(ms))
	}
	return ms[0], nil
}
