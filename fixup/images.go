package fixup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/proto"
)

// ref is one object of a task that names a files.img entry.
type ref struct {
	Kind       fdinfo.Kind // KindFD, KindCwd, KindRoot, KindExe or KindMap
	FD         int         // KindFD
	Start, End uint64      // KindMap: the VMA
	FileID     uint32
}

// label names the object as the report does: "fd 3", "cwd", "vma 7f…-7f…".
func (r ref) label() string {
	switch r.Kind {
	case fdinfo.KindFD:
		return fmt.Sprintf("fd %d", r.FD)
	case fdinfo.KindMap:
		return fmt.Sprintf("vma %x-%x", r.Start, r.End)
	}
	return r.Kind.String()
}

// task is one process of the dump, as its images describe it.
type task struct {
	VPID    uint32 // pid in the dump's pid namespace (pstree.img)
	PPID    uint32
	Threads []uint32
	FilesID uint32
	MntNS   uint32 // ids-<vpid>.img mnt_ns_id (0: none)
	Refs    []ref
	// Missing lists task images that do not exist (a zombie has none).
	Missing []string
}

// dumpImages is what fixup reads from an images directory.
type dumpImages struct {
	Tasks []*task
	// Files is files.img as raw entries, Raw its exact bytes, Perm its
	// permission bits (kept by the rewrite).
	Files *proto.Image
	Raw   []byte
	Perm  os.FileMode
	// Entries are the decoded entries of Files, index for index; ByID maps
	// a file id to its index.
	Entries []*proto.FileEntry
	ByID    map[uint32]int
	// Backup is what the directory holds of CRIU's original files.img
	// (checkBackup): verified before anything else is read.
	Backup backupState
	// DumpMounts holds the mount id of every mount in the dump's
	// mountpoints-<ns>.img (nil: the dump has none): the mounts restore
	// finds an entry's mnt_id among, in whichever namespace of the tree.
	DumpMounts map[int]bool
}

// inDump reports whether mount id is in the dump's mountpoints images;
// nil when the dump has none (then nothing is known).
func (d *dumpImages) inDump() func(int) bool {
	if d.DumpMounts == nil {
		return nil
	}
	return func(id int) bool { return d.DumpMounts[id] }
}

// readMounts reads the mountpoints image of every mount namespace a task
// of the dump is in (ids-<vpid>.img mnt_ns_id); a missing one is skipped.
func (d *dumpImages) readMounts(dir string) error {
	seen := map[uint32]bool{}
	for _, t := range d.Tasks {
		if t.MntNS == 0 || seen[t.MntNS] {
			continue
		}
		seen[t.MntNS] = true
		mnts, err := readTyped(dir, proto.MountpointsImg(t.MntNS), proto.ReadMountpoints)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if d.DumpMounts == nil {
			d.DumpMounts = map[int]bool{}
		}
		for _, m := range mnts {
			d.DumpMounts[int(m.GetMntId())] = true
		}
	}
	return nil
}

// readDump reads every image fixup needs. Any malformed image is an error
// naming the file, entry and offset; an image that is not a regular file
// or is over proto.MaxImageFileSize is an error wrapping
// proto.ErrBadImageFile; a backup that does not belong to files.img is
// ErrBackupMismatch. A missing task image is recorded on the task (nothing
// to check there), a missing pstree.img or files.img is an error.
func readDump(dir string) (*dumpImages, error) {
	d := &dumpImages{ByID: map[uint32]int{}}
	pst, err := readTyped(dir, proto.PstreeImg, proto.ReadPstree)
	if err != nil {
		return nil, err
	}
	if len(pst) == 0 {
		return nil, fmt.Errorf("%s: no tasks", proto.PstreeImg)
	}
	if err := d.readFiles(dir); err != nil {
		return nil, err
	}
	if d.Backup, err = checkBackup(dir, d.Raw); err != nil {
		return nil, err
	}
	fdTables := map[uint32]bool{}
	for i, p := range pst {
		t := &task{VPID: p.GetPid(), PPID: p.GetPpid(), Threads: p.GetThreads()}
		if t.VPID == 0 {
			return nil, fmt.Errorf("%s: entry %d: pid 0", proto.PstreeImg, i)
		}
		if err := d.readTask(dir, t, fdTables); err != nil {
			return nil, err
		}
		d.Tasks = append(d.Tasks, t)
	}
	if err := d.readMounts(dir); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *dumpImages) readFiles(dir string) error {
	raw, st, err := proto.ReadFileCapped(filepath.Join(dir, proto.FilesImg), proto.MaxImageFileSize)
	if err != nil {
		return err
	}
	img, err := proto.ReadImage(bytes.NewReader(raw), proto.FilesImg, proto.WantKind(proto.KindFiles), proto.MaxEntrySize(entryCap(len(raw))))
	if err != nil {
		return err
	}
	d.Files, d.Raw, d.Perm = img, raw, st.Mode().Perm()
	d.Entries = make([]*proto.FileEntry, len(img.Entries))
	for i := range img.Entries {
		fe := &proto.FileEntry{}
		if err := img.Decode(i, fe); err != nil {
			return err
		}
		if prev, dup := d.ByID[fe.GetId()]; dup {
			return fmt.Errorf("%s: entry %d: file id %d already used by entry %d", proto.FilesImg, i, fe.GetId(), prev)
		}
		d.Entries[i], d.ByID[fe.GetId()] = fe, i
	}
	return nil
}

// readTask reads ids-, fdinfo-, fs- and mm-<vpid>.img of t. fds of a file
// table shared by several tasks are attached to the first one only.
func (d *dumpImages) readTask(dir string, t *task, fdTables map[uint32]bool) error {
	ids, err := readOne(dir, proto.IdsImg(t.VPID), proto.ReadIds, t)
	if err != nil {
		return err
	}
	if ids != nil {
		t.FilesID, t.MntNS = ids.GetFilesId(), ids.GetMntNsId()
		if !fdTables[t.FilesID] {
			fdTables[t.FilesID] = true
			fds, err := readTyped(dir, proto.FdinfoImg(t.FilesID), proto.ReadFdinfo)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				t.Missing = append(t.Missing, proto.FdinfoImg(t.FilesID))
			case err != nil:
				return err
			}
			for _, fe := range fds {
				if fe.GetType() == proto.FdReg {
					t.Refs = append(t.Refs, ref{Kind: fdinfo.KindFD, FD: int(fe.GetFd()), FileID: fe.GetId()})
				}
			}
		}
	}
	fsE, err := readOne(dir, proto.FsImg(t.VPID), proto.ReadFs, t)
	if err != nil {
		return err
	}
	if fsE != nil {
		t.Refs = append(t.Refs, ref{Kind: fdinfo.KindCwd, FileID: fsE.GetCwdId()}, ref{Kind: fdinfo.KindRoot, FileID: fsE.GetRootId()})
	}
	mm, err := readOne(dir, proto.MmImg(t.VPID), proto.ReadMm, t)
	if err != nil {
		return err
	}
	if mm != nil {
		if mm.ExeFileId != nil {
			t.Refs = append(t.Refs, ref{Kind: fdinfo.KindExe, FileID: mm.GetExeFileId()})
		}
		for _, v := range mm.GetVmas() {
			if !proto.MapsFile(v) {
				continue
			}
			t.Refs = append(t.Refs, ref{Kind: fdinfo.KindMap, Start: v.GetStart(), End: v.GetEnd(), FileID: uint32(v.GetShmid())})
		}
	}
	return nil
}

// readTyped opens dir/name (proto.OpenImageFile: a regular file of at
// most proto.MaxImageFileSize, never a FIFO or a symlink) and decodes it
// with read.
func readTyped[M any](dir, name string, read func(io.Reader, string, ...proto.ReadOption) ([]M, error)) ([]M, error) {
	f, err := proto.OpenImageFile(filepath.Join(dir, name), proto.MaxImageFileSize)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return read(f, name, f.MaxEntry())
}

// entryCap is proto.DefaultMaxEntrySize, or n when smaller: no entry is
// larger than its file.
func entryCap(n int) uint32 {
	return uint32(min(n, proto.DefaultMaxEntrySize))
}

// readOne reads a one-entry task image; a missing file is noted on t and
// gives nil.
func readOne[M any](dir, name string, read func(io.Reader, string, ...proto.ReadOption) ([]*M, error), t *task) (*M, error) {
	ms, err := readTyped(dir, name, read)
	if errors.Is(err, fs.ErrNotExist) {
		t.Missing = append(t.Missing, name)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(ms) != 1 {
		return nil, fmt.Errorf("%s: %d entries, want 1", name, len(ms))
	}
	return ms[0], nil
}
