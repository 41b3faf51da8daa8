package proto

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// check compares named values: ours (from this package) and crit's.
type check struct {
	what       string
	ours, crit string
}

func compare(t *testing.T, file string, checks []check) {
	t.Helper()
	for _, c := range checks {
		if c.ours != c.crit {
			t.Errorf("%s: %s: ours %q, crit %q", file, c.what, c.ours, c.crit)
		}
	}
}

func openImage(t *testing.T, p string) *os.File {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// Our decoding of the real images agrees with crit's on the fields ovlfix uses.
func TestRealImagesMatchCrit(t *testing.T) {
	crit := requireCrit(t)
	for _, dump := range []string{"basic", "rawname"} {
		dir := filepath.Join(criuTestdata, dump)
		pstree, ids := rootTask(t, dir)
		vpid := pstree[0].GetPid()
		filesID, mntns := ids[0].GetFilesId(), ids[0].GetMntNsId()
		names := []string{FilesImg, PstreeImg, IdsImg(vpid), FdinfoImg(filesID), MountpointsImg(mntns), FsImg(vpid), MmImg(vpid), InventoryImg}
		for _, name := range names {
			p := filepath.Join(dir, name)
			magic, ce, stderr := critDecode(t, crit, p)
			img, err := ReadImage(openImage(t, p), name)
			if err != nil {
				t.Fatal(err)
			}
			if string(img.Kind()) != magic || len(ce) != len(img.Entries) {
				t.Fatalf("%s: ours %s with %d entries, crit %s with %d", p, img.Kind(), len(img.Entries), magic, len(ce))
			}
			var checks []check
			switch img.Kind() {
			case KindFiles:
				fes, err := decodeAll[FileEntry](img)
				if err != nil {
					t.Fatal(err)
				}
				for n, fe := range fes {
					c := ce[n]
					checks = append(checks, check{"type", fe.GetType().String(), field(c, "type")}, check{"id", u(uint64(fe.GetId())), field(c, "id")})
					if r := fe.GetReg(); r != nil {
						checks = append(checks,
							check{"reg.name", critString(r.GetName()), field(c, "reg", "name")},
							check{"reg.mnt_id", i(int64(r.GetMntId())), field(c, "reg", "mnt_id")},
							check{"reg.flags", u(uint64(r.GetFlags())), field(c, "reg", "flags")},
							check{"reg.pos", u(r.GetPos()), field(c, "reg", "pos")},
							check{"reg.mode", u(uint64(r.GetMode())), field(c, "reg", "mode")})
					}
				}
				invalid := strings.Contains(stderr, "invalid UTF-8")
				if invalid != (dump == "rawname") {
					t.Errorf("%s: crit stderr %q: invalid-UTF-8 warning expected only for rawname", p, stderr)
				}
			case KindFdinfo:
				es, err := decodeAll[FdinfoEntry](img)
				if err != nil {
					t.Fatal(err)
				}
				for n, e := range es {
					c := ce[n]
					checks = append(checks, check{"id", u(uint64(e.GetId())), field(c, "id")}, check{"fd", u(uint64(e.GetFd())), field(c, "fd")},
						check{"flags", u(uint64(e.GetFlags())), field(c, "flags")}, check{"type", e.GetType().String(), field(c, "type")})
				}
			case KindMnts:
				es, err := decodeAll[MntEntry](img)
				if err != nil {
					t.Fatal(err)
				}
				for n, e := range es {
					c := ce[n]
					checks = append(checks, check{"mnt_id", u(uint64(e.GetMntId())), field(c, "mnt_id")},
						check{"parent_mnt_id", u(uint64(e.GetParentMntId())), field(c, "parent_mnt_id")},
						check{"fstype", u(uint64(e.GetFstype())), field(c, "fstype")},
						check{"root_dev", u(uint64(e.GetRootDev())), field(c, "root_dev")},
						check{"mountpoint", e.GetMountpoint(), field(c, "mountpoint")},
						check{"root", e.GetRoot(), field(c, "root")},
						check{"options", e.GetOptions(), field(c, "options")})
				}
			case KindPstree:
				for n, e := range pstree {
					checks = append(checks, check{"pid", u(uint64(e.GetPid())), field(ce[n], "pid")}, check{"sid", u(uint64(e.GetSid())), field(ce[n], "sid")})
				}
			case KindIds:
				checks = append(checks, check{"files_id", u(uint64(filesID)), field(ce[0], "files_id")}, check{"mnt_ns_id", u(uint64(mntns)), field(ce[0], "mnt_ns_id")})
			case KindFs:
				fs, err := ReadFs(openImage(t, p), name)
				if err != nil {
					t.Fatal(err)
				}
				checks = append(checks, check{"cwd_id", u(uint64(fs[0].GetCwdId())), field(ce[0], "cwd_id")}, check{"root_id", u(uint64(fs[0].GetRootId())), field(ce[0], "root_id")})
			case KindMm:
				mm, err := ReadMm(openImage(t, p), name)
				if err != nil {
					t.Fatal(err)
				}
				checks = append(checks, check{"exe_file_id", u(uint64(mm[0].GetExeFileId())), field(ce[0], "exe_file_id")})
				vmas, _ := ce[0]["vmas"].([]any)
				if len(vmas) != len(mm[0].GetVmas()) {
					t.Fatalf("%s: %d vmas, crit %d", p, len(mm[0].GetVmas()), len(vmas))
				}
				for n, v := range mm[0].GetVmas() {
					cv, _ := vmas[n].(map[string]any)
					checks = append(checks, check{"vma.shmid", u(v.GetShmid()), field(cv, "shmid")}, check{"vma.start", u(v.GetStart()), field(cv, "start")})
				}
			case KindInventory:
				inv, err := ReadInventory(openImage(t, p), name)
				if err != nil {
					t.Fatal(err)
				}
				checks = append(checks, check{"img_version", u(uint64(inv[0].GetImgVersion())), field(ce[0], "img_version")})
			}
			if len(checks) == 0 {
				t.Fatalf("%s: nothing compared", p)
			}
			compare(t, p, checks)
		}
	}
}

// What make-images.sh's holder did is in the real dump: its fds on the overlay name files
// on the overlay mount of mountpoints-N.img, and its cwd is the overlay's "dir".
func TestRealDumpContents(t *testing.T) {
	dir := filepath.Join(criuTestdata, "rawname")
	pstree, ids := rootTask(t, dir)
	vpid := pstree[0].GetPid()
	mnts, err := ReadMountpoints(openImage(t, filepath.Join(dir, MountpointsImg(ids[0].GetMntNsId()))), "mountpoints")
	if err != nil {
		t.Fatal(err)
	}
	ovl := int32(-2)
	for _, m := range mnts {
		if m.GetMountpoint() == "/tmp/ovl/merged" {
			if Fstype(m.GetFstype()) != FstypeOverlayfs {
				t.Fatalf("/tmp/ovl/merged has fstype %d", m.GetFstype())
			}
			ovl = int32(m.GetMntId())
		}
	}
	if ovl < 0 {
		t.Fatal("no /tmp/ovl/merged in mountpoints")
	}
	files, err := ReadFiles(openImage(t, filepath.Join(dir, FilesImg)), FilesImg)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[uint32]*RegFileEntry{}
	for _, f := range files {
		if f.GetType() == FdReg {
			byID[f.GetId()] = f.GetReg()
		}
	}
	fdinfo, err := ReadFdinfo(openImage(t, filepath.Join(dir, FdinfoImg(ids[0].GetFilesId()))), "fdinfo")
	if err != nil {
		t.Fatal(err)
	}
	// The holder opened fds 3.. in this order (make-images.sh); the last is the dup of
	// the mapped file's fd that Python's mmap object keeps.
	want := []string{"/tmp/ovl/merged/lowerfile", "/tmp/ovl/merged/upperfile", "/tmp/ovl/merged/dir/we ird\nname",
		"/tmp/ovl/merged/dir/raw\xff\xfename", "/tmp/ovl/merged/dir/mapped.bin"}
	var got []string
	for _, fd := range fdinfo {
		r := byID[fd.GetId()]
		if fd.GetFd() < 3 || r == nil || !strings.HasPrefix(r.GetName(), "/tmp/ovl/merged/") {
			continue
		}
		if r.GetMntId() != ovl {
			t.Errorf("fd %d %q: mnt_id %d, want the overlay's %d", fd.GetFd(), r.GetName(), r.GetMntId(), ovl)
		}
		got = append(got, r.GetName())
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("overlay fds %q, want %q", got, want)
	}
	fs, err := ReadFs(openImage(t, filepath.Join(dir, FsImg(vpid))), "fs")
	if err != nil {
		t.Fatal(err)
	}
	if cwd := byID[fs[0].GetCwdId()]; cwd == nil || cwd.GetName() != "/tmp/ovl/merged/dir" {
		t.Fatalf("cwd %v", cwd)
	}
	mm, err := ReadMm(openImage(t, filepath.Join(dir, MmImg(vpid))), "mm")
	if err != nil {
		t.Fatal(err)
	}
	mapped := false
	for _, v := range mm[0].GetVmas() {
		if r := byID[uint32(v.GetShmid())]; r != nil && r.GetName() == "/tmp/ovl/merged/dir/mapped.bin" {
			mapped = true
		}
	}
	if !mapped {
		t.Fatal("no VMA maps /tmp/ovl/merged/dir/mapped.bin")
	}
}

// Images written by this package decode with crit; crit shows odd names as documented
// in critString, and re-encodes UTF-8-only images to exactly our bytes.
func TestWrittenImagesDecodeWithCrit(t *testing.T) {
	crit := requireCrit(t)
	dir := t.TempDir()
	names := []string{"/tmp/ovl/merged/lowerfile", "/tmp/ovl/merged/we ird\nname", "/tmp/ovl/merged/raw\xff\xfename"}
	var files []*FileEntry
	var fds []*FdinfoEntry
	for n, name := range names {
		id := uint32(n + 1)
		files = append(files, &FileEntry{Type: FdReg.Enum(), Id: &id, Reg: regFile(id, name)})
		fd, flags := uint32(n+3), uint32(1)
		fds = append(fds, &FdinfoEntry{Id: &id, Flags: &flags, Type: FdReg.Enum(), Fd: &fd})
	}
	str := func(s string) *string { return &s }
	num := func(v uint32) *uint32 { return &v }
	mnts := []*MntEntry{{Fstype: num(uint32(FstypeOverlayfs)), MntId: num(48), RootDev: num(31), ParentMntId: num(45), Flags: num(0x200000),
		Root: str("/"), Mountpoint: str("/tmp/ovl/merged"), Source: str("overlay"), Options: str("lowerdir=/l,upperdir=/u,workdir=/w")}}
	ino := uint64(1234)
	irmap := []*IrmapCacheEntry{{Dev: num(0x1f), Inode: &ino, Path: str("/tmp/ovl/merged/lowerfile")}}

	build := []struct {
		img func() (*Image, error)
	}{
		{func() (*Image, error) { return FilesImage(files) }},
		{func() (*Image, error) { return FilesImage(files[:2]) }}, // UTF-8 names only
		{func() (*Image, error) { return FdinfoImage(7, fds) }},
		{func() (*Image, error) { return MountpointsImage(9, mnts) }},
		{func() (*Image, error) { return IrmapCacheImage(irmap) }},
	}
	for n, b := range build {
		img, err := b.img()
		if err != nil {
			t.Fatal(err)
		}
		name := img.Name
		if n == 1 {
			name = "files-utf8.img"
		}
		if err := WriteImageAtomic(dir, name, 0o644, img); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		magic, ce, stderr := critDecode(t, crit, p)
		if magic != string(img.Kind()) || len(ce) != len(img.Entries) {
			t.Fatalf("%s: crit says %s with %d entries, want %s with %d", name, magic, len(ce), img.Kind(), len(img.Entries))
		}
		var checks []check
		switch img.Kind() {
		case KindFiles:
			for k, c := range ce {
				checks = append(checks, check{"reg.name", critString(names[k]), field(c, "reg", "name")}, check{"reg.mnt_id", "48", field(c, "reg", "mnt_id")},
					check{"reg.pos", "7", field(c, "reg", "pos")}, check{"reg.flags", "2", field(c, "reg", "flags")})
			}
			if hasRaw := strings.Contains(stderr, "invalid UTF-8"); hasRaw != (len(ce) == 3) {
				t.Errorf("%s: crit stderr %q", name, stderr)
			}
		case KindFdinfo:
			for k, c := range ce {
				checks = append(checks, check{"fd", u(uint64(k + 3)), field(c, "fd")}, check{"type", "REG", field(c, "type")})
			}
		case KindMnts:
			checks = append(checks, check{"mountpoint", "/tmp/ovl/merged", field(ce[0], "mountpoint")}, check{"fstype", "17", field(ce[0], "fstype")})
		case KindIrmapCache:
			checks = append(checks, check{"dev", "31", field(ce[0], "dev")}, check{"inode", "1234", field(ce[0], "inode")},
				check{"path", "/tmp/ovl/merged/lowerfile", field(ce[0], "path")})
		}
		compare(t, name, checks)

		// crit's own encoder writes the same bytes as ours, except for non-UTF-8 names,
		// which crit cannot carry through JSON.
		ours := readTestFile(t, p)
		again := critReencode(t, crit, p)
		if same := bytes.Equal(again, ours); same != (name != FilesImg) {
			t.Errorf("%s: crit decode|encode identical to ours: %v", name, same)
		}
	}
}

// irmap/irmap-cache holds what CRIU's dump.log said about the watch: s_dev 0x1f, i_ino 0x7
// (fsnotify fdinfo values), resolved through --irmap-scan-path; crit agrees.
func TestRealIrmapCache(t *testing.T) {
	p := filepath.Join(criuTestdata, "irmap", IrmapCache)
	es, err := ReadIrmapCache(openImage(t, p), IrmapCache)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].GetDev() != 0x1f || es[0].GetInode() != 7 || es[0].GetPath() != "/tmp/ovl/merged/lowerfile" {
		t.Fatalf("irmap-cache entries %v", es)
	}
	crit := requireCrit(t)
	_, ce, _ := critDecode(t, crit, p)
	compare(t, p, []check{{"dev", u(uint64(es[0].GetDev())), field(ce[0], "dev")}, {"inode", u(es[0].GetInode()), field(ce[0], "inode")},
		{"path", es[0].GetPath(), field(ce[0], "path")}})
}

// rootTask reads a dump's pstree.img and the kernel object ids
// (ids-<vpid>.img) of its root task, the first pstree entry.
func rootTask(t *testing.T, dir string) ([]*PstreeEntry, []*TaskKobjIdsEntry) {
	t.Helper()
	pstree, err := ReadPstree(openImage(t, filepath.Join(dir, PstreeImg)), PstreeImg)
	if err != nil {
		t.Fatal(err)
	}
	vpid := pstree[0].GetPid()
	ids, err := ReadIds(openImage(t, filepath.Join(dir, IdsImg(vpid))), IdsImg(vpid))
	if err != nil {
		t.Fatal(err)
	}
	return pstree, ids
}
