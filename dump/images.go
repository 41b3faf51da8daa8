package dump

import (
	"fmt"
	"strings"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/mountns"
	"github.com/ovlfix/ovlfix/proto"
	"github.com/ovlfix/ovlfix/resolve"
	"golang.org/x/sys/unix"
	gproto "google.golang.org/protobuf/proto"
)

// WriteImages writes files.img, fdinfo-<files_id>.img for every file table
// and mountpoints-<n>.img for every mount namespace into dir, all or
// nothing (proto.WriteSetAtomic: after an error dir is as it was). It
// returns the files.img id given to each result that got an entry.
// WriteDir writes the report in the same set.
func (d *Dump) WriteImages(dir string) (map[*resolve.Result]uint32, error) {
	imgs, ids, err := d.buildImages()
	if err != nil {
		return nil, err
	}
	if err := proto.WriteSetAtomic(dir, setFiles(imgs)); err != nil {
		return nil, err
	}
	return ids, nil
}

func setFiles(imgs []*proto.Image) []proto.SetFile {
	out := make([]proto.SetFile, 0, len(imgs)+1)
	for _, img := range imgs {
		out = append(out, proto.ImageSetFile(img))
	}
	return out
}

// buildImages builds the images of the dump and the files.img id given to
// each result that got an entry.
//
// What goes in: a regular-file entry (FileEntry type REG) for every fd,
// cwd, root, exe and mapped file whose link is a path: directories and
// device nodes too, as CRIU does. The name and mount id are the resolved
// ones; an unresolved object keeps what the kernel said (mntIDFor), so the
// image is what CRIU itself would have written and the report says which
// entries are unconfirmed. Sockets, pipes, anon inodes and memfds get no
// entry here (the report lists them): ovlfix does not invent CRIU entries
// it cannot fill. Mappings and exe of one file share one entry, as in CRIU.
func (d *Dump) buildImages() ([]*proto.Image, map[*resolve.Result]uint32, error) {
	n := 0
	for _, p := range d.Processes {
		n += len(p.Results)
	}
	// Sized for every result up front: grown by doubling, the map and the
	// slice were a tenth of the images' cost for 10,000 fds.
	fb := &filesBuilder{ids: make(map[*resolve.Result]uint32, n), files: make([]*proto.FileEntry, 0, n), nextID: 1}
	var imgs []*proto.Image
	for _, p := range d.Processes {
		img, err := proto.FdinfoImage(p.FilesID, fb.addProcess(p))
		if err != nil {
			return nil, nil, err
		}
		imgs = append(imgs, img)
	}
	img, err := proto.FilesImage(fb.files)
	if err != nil {
		return nil, nil, err
	}
	imgs = append(imgs, img)
	for _, ns := range d.Namespaces {
		img, err := mountpointsImage(ns)
		if err != nil {
			return nil, nil, err
		}
		imgs = append(imgs, img)
	}
	return imgs, fb.ids, nil
}

// filesBuilder collects the files.img entries of the whole dump, numbered
// from 1, and the id given to each result.
type filesBuilder struct {
	files  []*proto.FileEntry
	ids    map[*resolve.Result]uint32
	nextID uint32
}

// addProcess adds the entries of p's results and returns the fdinfo
// entries of its fds.
func (fb *filesBuilder) addProcess(p *Process) []*proto.FdinfoEntry {
	var table *mountns.Table
	if p.Namespace != nil {
		table = p.Namespace.Table
	}
	var fds []*proto.FdinfoEntry
	shared := map[sharedFile]uint32{} // mapped files and exe: one entry per file
	for i := range p.Results {
		r := &p.Results[i]
		if r.Verdict == resolve.Skipped || pathOf(r) == nil {
			continue
		}
		mnt := mntIDFor(r, table)
		key, isShared := sharedFile{}, false
		if o := r.Object; o.Kind == fdinfo.KindMap || o.Kind == fdinfo.KindExe {
			key, isShared = sharedFile{mnt: mnt, name: string(pathOf(r))}, true
			if id, ok := shared[key]; ok {
				fb.ids[r] = id
				continue
			}
		}
		if r.Object.Kind == fdinfo.KindWatch {
			continue // watches are part of their inotify fd's entry
		}
		id := fb.nextID
		fb.nextID++
		fb.files = append(fb.files, fileEntry(id, r, mnt))
		fb.ids[r] = id
		if isShared {
			shared[key] = id
		}
		if r.Object.Kind == fdinfo.KindFD {
			fds = append(fds, &proto.FdinfoEntry{
				Id: gproto.Uint32(id), Flags: gproto.Uint32(fdFlags(r.Object)),
				Type: proto.FdReg.Enum(), Fd: gproto.Uint32(uint32(r.Object.FD)),
			})
		}
	}
	return fds
}

// mountpointsImage is mountpoints-<id>.img of ns: every mount of its table.
func mountpointsImage(ns *Namespace) (*proto.Image, error) {
	mnts := make([]*proto.MntEntry, 0, len(ns.Table.Mounts()))
	for _, m := range ns.Table.Mounts() {
		mnts = append(mnts, mntEntry(m))
	}
	return proto.MountpointsImage(ns.ID, mnts)
}

// sharedFile identifies the one files.img entry that the mappings and
// the exe of one file share: the mount id and the name written.
type sharedFile struct {
	mnt  int
	name string
}

// pathOf is the name to write: the resolved path, else the kernel's link
// (without " (deleted)") for objects that have one.
func pathOf(r *resolve.Result) []byte {
	if r.Path != nil {
		return r.Path
	}
	l := r.Object.Link
	if len(l) == 0 || l[0] != '/' {
		return nil
	}
	name, _ := fdinfo.CutDeleted(l)
	return name
}

// mntIDFor is the mount id written for r, or -1 for none (reg.mnt_id
// left out). A resolved object (ok, fixed, ambiguous: a confirmed
// candidate) gets the resolver's mount. Any other gets the kernel's own id
// for the open file (fdinfo mnt_id, map_files' mount id) when that id is a
// mount of the namespace (table), never the resolver's MntID: for an
// unresolved object that is at most a candidate it could not confirm (the
// mount covering a cwd's link, say). Without such an id (cwd, root and exe
// have none; a 3.18–4.1 overlay fd's id is a private mount in no
// mountinfo, on which CRIU's restore would stop: lookup_nsid_by_mnt_id
// finds nothing and BUG()s) mnt_id is left out: CRIU's default -1 means
// "know nothing about mountpoints" and restore opens the name from the
// root task's mount namespace (criu/mount.c lookup_nsid_by_mnt_id,
// criu/files-reg.c rfi_remap), as for a dump without mount namespaces.
func mntIDFor(r *resolve.Result, table *mountns.Table) int {
	switch r.Verdict {
	case resolve.OK, resolve.Fixed, resolve.Ambiguous:
		if r.MntID >= 0 {
			return r.MntID
		}
	}
	id := -1
	if o := r.Object; o.Info != nil {
		id = o.Info.MntID
	} else if o.Map != nil {
		id = o.Map.MapFilesMntID
	}
	if id < 0 || table == nil || table.ByID(id) == nil {
		return -1
	}
	return id
}

// fileEntry builds the files.img entry of one object.
func fileEntry(id uint32, r *resolve.Result, mnt int) *proto.FileEntry {
	o := r.Object
	reg := &proto.RegFileEntry{
		Id:    gproto.Uint32(id),
		Flags: gproto.Uint32(openFlags(o)),
		Pos:   gproto.Uint64(0),
		// fown cannot be read from /proc (F_GETOWN_EX needs the fd in our
		// hands); CRIU's own entry for an fd with no owner is all zeros.
		Fown: &proto.FownEntry{Uid: gproto.Uint32(0), Euid: gproto.Uint32(0), Signum: gproto.Uint32(0),
			PidType: gproto.Uint32(0), Pid: gproto.Uint32(0)},
		Name: gproto.String(string(pathOf(r))),
	}
	if o.Info != nil {
		reg.Pos = gproto.Uint64(o.Info.Pos)
	}
	if mnt >= 0 {
		reg.MntId = gproto.Int32(int32(mnt))
	}
	st := o.Stat
	if st != nil {
		reg.Mode = gproto.Uint32(st.Mode)
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			reg.Size = gproto.Uint64(uint64(st.Size))
		}
	}
	return &proto.FileEntry{Type: proto.FdReg.Enum(), Id: gproto.Uint32(id), Reg: reg}
}

// openFlags is reg_file_entry.flags: an fd's O_* flags without O_CLOEXEC
// (CRIU keeps that in fdinfo_entry.flags as FD_CLOEXEC). For cwd, root,
// exe and read-only or private mappings CRIU 3.17 writes 0 (checked on the
// images in testdata/criu); a shared writable mapping is reopened O_RDWR.
func openFlags(o *fdinfo.Object) uint32 {
	switch o.Kind {
	case fdinfo.KindFD:
		if o.Info != nil {
			return o.Info.Flags &^ unix.O_CLOEXEC
		}
	case fdinfo.KindMap:
		if o.Map != nil && len(o.Map.Perms) == 4 && o.Map.Perms[1] == 'w' && o.Map.Perms[3] == 's' {
			return unix.O_RDWR
		}
	}
	return unix.O_RDONLY
}

func fdFlags(o *fdinfo.Object) uint32 {
	if o.Info != nil && o.Info.Flags&unix.O_CLOEXEC != 0 {
		return unix.FD_CLOEXEC
	}
	return 0
}

// criuFstype maps a mountinfo fs name to CRIU's enum fstype (mnt.proto),
// by the names of CRIU's own table (criu/filesystems.c fstypes; its
// simfs and aufs are left out); false for any other, recorded as AUTO.
func criuFstype(name string) (proto.Fstype, bool) {
	switch name {
	case "proc":
		return proto.FstypeProc, true
	case "sysfs":
		return proto.FstypeSysfs, true
	case "devtmpfs":
		return proto.FstypeDevtmpfs, true
	case "binfmt_misc":
		return proto.FstypeBinfmtMisc, true
	case "tmpfs":
		return proto.FstypeTmpfs, true
	case "devpts":
		return proto.FstypeDevpts, true
	case "pstore":
		return proto.FstypePstore, true
	case "securityfs":
		return proto.FstypeSecurityfs, true
	case "fusectl":
		return proto.FstypeFusectl, true
	case "debugfs":
		return proto.FstypeDebugfs, true
	case "cgroup":
		return proto.FstypeCgroup, true
	case "mqueue":
		return proto.FstypeMqueue, true
	case "fuse":
		return proto.FstypeFuse, true
	case "overlay":
		return proto.FstypeOverlayfs, true
	case "autofs":
		return proto.FstypeAutofs, true
	case "tracefs":
		return proto.FstypeTracefs, true
	case "cgroup2":
		return proto.FstypeCgroup2, true
	}
	return 0, false
}

// mntEntry converts one mountinfo line to CRIU's mnt_entry. Unknown
// filesystems are recorded as AUTO with fsname, as CRIU does.
func mntEntry(m *mountns.Mount) *proto.MntEntry {
	e := &proto.MntEntry{
		Fstype:      gproto.Uint32(uint32(proto.FstypeAuto)),
		MntId:       gproto.Uint32(uint32(m.ID)),
		RootDev:     gproto.Uint32(fdinfo.MakeKernelDev(uint32(m.Major), uint32(m.Minor))),
		ParentMntId: gproto.Uint32(uint32(m.Parent)),
		Flags:       gproto.Uint32(mountFlags(m.Options)),
		Root:        gproto.String(m.Root),
		Mountpoint:  gproto.String(m.Mountpoint),
		Source:      gproto.String(m.Source),
		Options:     gproto.String(m.VFSOptions),
		SbFlags:     gproto.Uint32(mountFlags(m.VFSOptions) & unix.MS_RDONLY),
	}
	if t, ok := criuFstype(m.FSType); ok {
		e.Fstype = gproto.Uint32(uint32(t))
	} else {
		e.Fsname = gproto.String(m.FSType)
	}
	for _, opt := range strings.Fields(m.Optional) {
		var n uint32
		if _, err := fmt.Sscanf(opt, "shared:%d", &n); err == nil {
			e.SharedId = gproto.Uint32(n)
		} else if _, err := fmt.Sscanf(opt, "master:%d", &n); err == nil {
			e.MasterId = gproto.Uint32(n)
		}
	}
	return e
}

// mountFlags turns per-mount options ("rw,nosuid,relatime") into MS_*.
func mountFlags(opts string) uint32 {
	var f uint32
	for _, o := range strings.Split(opts, ",") {
		switch o {
		case "ro":
			f |= unix.MS_RDONLY
		case "nosuid":
			f |= unix.MS_NOSUID
		case "nodev":
			f |= unix.MS_NODEV
		case "noexec":
			f |= unix.MS_NOEXEC
		case "noatime":
			f |= unix.MS_NOATIME
		case "nodiratime":
			f |= unix.MS_NODIRATIME
		case "relatime":
			f |= unix.MS_RELATIME
		case "sync":
			f |= unix.MS_SYNCHRONOUS
		case "dirsync":
			f |= unix.MS_DIRSYNC
		case "mand":
			f |= unix.MS_MANDLOCK
		}
	}
	return f
}
