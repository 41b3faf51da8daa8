package quirks

import (
	"fmt"
	"os"
	"strings"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/mountns"
	"golang.org/x/sys/unix"
)

// Each measure* function compares one /proc view of the held files with
// the truth (the path the child opened, stat(2) of it, the overlay's line
// in the child's own mountinfo), adds one Evidence line per file and sets
// its flags: a flag is true only if every file agrees.

// overlayFsMagic is statfs f_type of an overlay (OVERLAYFS_SUPER_MAGIC).
const overlayFsMagic = 0x794c7630

func verdict(ok bool) string {
	if ok {
		return "true"
	}
	return "false"
}

// measureFdPath: fd link and fdinfo mnt_id (Matrix A). 3.18–4.1 print the
// layer-relative path and the id of a private layer mount.
func measureFdPath(e *probeEnv, s *Set) {
	all := true
	for _, f := range e.files {
		m := e.mnt[f.ov]
		link, lerr := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.fd))
		info, ierr := readFdinfo(f.fd)
		var fs unix.Statfs_t
		ferr := unix.Fstatfs(f.fd, &fs)
		ok := lerr == nil && ierr == nil && link == f.path && info.MntID == m.ID
		all = all && ok
		linkTxt := "= path"
		if lerr != nil {
			linkTxt = "unreadable: " + lerr.Error()
		} else if link != f.path {
			linkTxt = quote.String(e.rel(link)) + " ≠ path"
		}
		mnt := "unreadable"
		if ierr == nil {
			mnt = fmt.Sprint(info.MntID)
		} else {
			mnt += ": " + ierr.Error()
		}
		magic := fmt.Sprintf("%#x", fs.Type)
		if ferr != nil {
			magic = ferr.Error()
		} else if fs.Type == overlayFsMagic {
			magic += " (overlay)"
		}
		s.note("fd: %s fd %d on %s: link %s; fdinfo mnt_id %s, overlay's %d; fstatfs %s → fd_path_ok=%s",
			f.label(), f.fd, e.rel(f.path), linkTxt, mnt, m.ID, magic, verdict(ok))
	}
	s.FdPathOK = all
}

// measureMaps: dev and ino of the held mappings in /proc/self/maps
// (Matrix B): before 6.8 the layer's, from 6.8 the overlay's.
func measureMaps(e *probeEnv, s *Set) {
	byStart := map[uint64]fdinfo.Mapping{}
	mf, err := os.Open("/proc/self/maps")
	if err == nil {
		err = fdinfo.ParseMaps(mf, func(m fdinfo.Mapping) error {
			byStart[m.Start] = m
			return nil
		})
		mf.Close()
	}
	if err != nil {
		s.note("maps: cannot read /proc/self/maps: %v → maps_dev_is_sbdev=false maps_ino_ok=false", err)
		return
	}
	devAll, inoAll := true, true
	for _, f := range e.files {
		m := e.mnt[f.ov]
		mp, ok := byStart[f.addr]
		if !ok {
			s.note("maps: no line for the mapping of %s at %#x → false", f.label(), f.addr)
			devAll, inoAll = false, false
			continue
		}
		devOK := int(mp.DevMajor) == m.Major && int(mp.DevMinor) == m.Minor
		inoOK := mp.Ino == f.st.Ino
		devAll, inoAll = devAll && devOK, inoAll && inoOK
		whose := ""
		if !devOK {
			whose = " (maps dev is " + mountsOf(e, e.table.ByDev(mp.DevMajor, mp.DevMinor)) + ")"
		}
		s.note("maps: %02x:%02x %d for %s; stat %d:%d/%d; overlay sb %d:%d%s → maps_dev_is_sbdev=%s maps_ino_ok=%s",
			mp.DevMajor, mp.DevMinor, mp.Ino, e.rel(string(mp.Path)),
			unix.Major(f.st.Dev), unix.Minor(f.st.Dev), f.st.Ino, m.Major, m.Minor, whose,
			verdict(devOK), verdict(inoOK))
	}
	s.MapsDevIsSbDev, s.MapsInoOK = devAll, inoAll
}

// mountsOf names mounts for evidence ("no mountinfo entry" for none).
func mountsOf(e *probeEnv, ms []*mountns.Mount) string {
	if len(ms) == 0 {
		return "in no mountinfo entry"
	}
	var names []string
	for _, m := range ms {
		names = append(names, fmt.Sprintf("%s %s", m.FSType, e.rel(m.Mountpoint)))
	}
	return "that of " + strings.Join(names, ", ")
}

// measureStatDev: st_dev of the non-directories of overlay B, whose layers
// are on two tmpfs instances with xino=off (Matrix C): a pseudo dev in no
// mountinfo since 4.15, the real layer dev before.
func measureStatDev(e *probeEnv, s *Set) {
	pseudo := false
	for _, f := range e.files {
		if !strings.HasPrefix(f.ov.name, "B") {
			continue
		}
		m := e.mnt[f.ov]
		maj, min := unix.Major(f.st.Dev), unix.Minor(f.st.Dev)
		in := e.table.ByDev(maj, min)
		p := len(in) == 0 && (int(maj) != m.Major || int(min) != m.Minor)
		if f.name == "lower-only" {
			pseudo = p
		}
		s.note("stat: %s st_dev %d:%d ino %d; overlay sb %d:%d; st_dev is %s → stat_dev_pseudo=%s",
			f.label(), maj, min, f.st.Ino, m.Major, m.Minor, mountsOf(e, in), verdict(p))
	}
	s.StatDevPseudo = pseudo
}

// measureMapFiles: the mount of an fd opened through map_files (Matrix B
// last rows). Ubuntu SAUCE kernels gave it a mnt_id in no mountinfo.
// Needs CAP_SYS_ADMIN (or CAP_CHECKPOINT_RESTORE) in the initial userns.
func measureMapFiles(e *probeEnv, s *Set) {
	all := true
	for _, f := range e.files {
		m := e.mnt[f.ov]
		name := fmt.Sprintf("/proc/self/map_files/%x-%x", f.addr, f.addr+uint64(os.Getpagesize()))
		fd, err := unix.Open(name, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			all = false
			s.note("map_files: open(%s, O_PATH) for %s: %v → mapfiles_mntid_ok=false", name, f.label(), err)
			continue
		}
		link, _ := os.Readlink(name)
		info, ierr := readFdinfo(fd)
		unix.Close(fd)
		if ierr != nil {
			all = false
			s.note("map_files: fdinfo of the O_PATH fd for %s: %v → mapfiles_mntid_ok=false", f.label(), ierr)
			continue
		}
		ok := info.MntID == m.ID
		all = all && ok
		s.note("map_files: %s → link %s, O_PATH fd mnt_id %d, overlay's %d (%s) → mapfiles_mntid_ok=%s",
			f.label(), e.rel(link), info.MntID, m.ID, mountsOf(e, nonNil(e.table.ByID(info.MntID))), verdict(ok))
	}
	s.MapFilesMntIDOK = all
}

func nonNil(m *mountns.Mount) []*mountns.Mount {
	if m == nil {
		return nil
	}
	return []*mountns.Mount{m}
}

// measureFid: the inotify fdinfo handle of each file (§5), and whether
// open_by_handle_at on the overlay decodes it to the same inode (needs
// CAP_DAC_READ_SEARCH). FhandleType is the type printed for A's lower-only
// file.
func measureFid(e *probeEnv, s *Set) {
	info, err := readFdinfo(e.inotify)
	if err != nil {
		s.note("inotify: fdinfo of fd %d: %v → fid_decodable=false", e.inotify, err)
		return
	}
	marks := map[int32]fdinfo.Mark{}
	for _, mk := range info.Marks {
		if mk.Kind == fdinfo.MarkInotify {
			marks[mk.WD] = mk
		}
	}
	all := true
	for i, f := range e.files {
		m := e.mnt[f.ov]
		mk, ok := marks[int32(f.wd)]
		if !ok {
			all = false
			s.note("inotify: no fdinfo line for wd %d (%s) → fid_decodable=false", f.wd, f.label())
			continue
		}
		if i == 0 {
			s.FhandleType = int(mk.HandleType)
		}
		major, minor := fdinfo.SplitKernelDev(mk.Sdev)
		sb := major == uint32(m.Major) && minor == uint32(m.Minor)
		head := fmt.Sprintf("inotify: %s wd %d ino:%x (st_ino %d) sdev:%x (overlay sb: %v)",
			f.label(), f.wd, mk.Ino, f.st.Ino, mk.Sdev, sb)
		if mk.HandleType < 0 {
			all = false
			s.note("%s; no fhandle printed → fid_decodable=false", head)
			continue
		}
		dec, why := openHandle(f, mk)
		all = all && dec
		s.note("%s; fhandle-type %#x, fhandle-bytes %#x (%d bytes); open_by_handle_at on the overlay: %s → fid_decodable=%s",
			head, mk.HandleType, mk.HandleBytes, mk.HandleBytes, why, verdict(dec))
	}
	s.FidDecodable = all
}

// openHandle tries the mark's handle on f's overlay mount.
func openHandle(f *heldFile, mk fdinfo.Mark) (bool, string) {
	mfd, err := unix.Open(f.ov.merged, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, "cannot open the mount: " + err.Error()
	}
	defer unix.Close(mfd)
	fd, err := unix.OpenByHandleAt(mfd, unix.NewFileHandle(mk.HandleType, mk.Handle), unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return false, err.Error()
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, "opened, but fstat: " + err.Error()
	}
	if st.Dev != f.st.Dev || st.Ino != f.st.Ino {
		return false, fmt.Sprintf("opened another inode %d:%d/%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	}
	return true, "opened the same inode"
}

// measureUniqueMntID: statx(STATX_MNT_ID_UNIQUE) on a held fd (6.8+; older
// kernels ignore the bit and leave it out of stx_mask).
func measureUniqueMntID(e *probeEnv, s *Set) {
	f := e.files[0]
	var fst, rst unix.Statx_t
	err := unix.Statx(f.fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID_UNIQUE, &fst)
	if err == nil {
		err = unix.Statx(unix.AT_FDCWD, f.ov.merged, 0, unix.STATX_MNT_ID_UNIQUE, &rst)
	}
	switch {
	case err != nil:
		s.note("statx: %s: %v → unique_mnt_id=false", f.label(), err)
	case fst.Mask&unix.STATX_MNT_ID_UNIQUE == 0:
		s.note("statx: %s: stx_mask %#x lacks STATX_MNT_ID_UNIQUE (%#x) → unique_mnt_id=false", f.label(), fst.Mask, unix.STATX_MNT_ID_UNIQUE)
	default:
		s.UniqueMntID = fst.Mnt_id == rst.Mnt_id
		s.note("statx: %s fd %d STATX_MNT_ID_UNIQUE %#x; the overlay root's %#x → unique_mnt_id=%s",
			f.label(), f.fd, fst.Mnt_id, rst.Mnt_id, verdict(s.UniqueMntID))
	}
}
