package inspect

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/checkpoint"
	"github.com/ovlfix/ovlfix/manifest"
	"github.com/ovlfix/ovlfix/proto"
	gproto "google.golang.org/protobuf/proto"
)

// memImages is an image set held in memory.
type memImages map[string][]byte

func (m memImages) Names() []string {
	var ns []string
	for n := range m {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}

func (m memImages) ReadFile(name string) ([]byte, error) {
	b, ok := m[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w (%w)", name, checkpoint.ErrNotInCheckpoint, fs.ErrNotExist)
	}
	return b, nil
}

func (m memImages) put(t *testing.T, name string, img *proto.Image, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := img.Encode(&b); err != nil {
		t.Fatal(err)
	}
	m[name] = b.Bytes()
}

func regEntry(id uint32, name string, mnt int32, size uint64, mode uint32) *proto.FileEntry {
	return &proto.FileEntry{Type: proto.FdReg.Enum(), Id: gproto.Uint32(id), Reg: &proto.RegFileEntry{
		Id: gproto.Uint32(id), Flags: gproto.Uint32(0), Pos: gproto.Uint64(0), Name: gproto.String(name),
		Fown:  &proto.FownEntry{Uid: gproto.Uint32(0), Euid: gproto.Uint32(0), Signum: gproto.Uint32(0), PidType: gproto.Uint32(0), Pid: gproto.Uint32(0)},
		MntId: gproto.Int32(mnt), Size: gproto.Uint64(size), Mode: gproto.Uint32(mode),
	}}
}

// oneTask builds a checkpoint of pid 1 (files_id 5, mount namespace 9)
// holding files: fds 3.. in order, cwd = first, root = last, exe and a
// mapping of the second.
func oneTask(t *testing.T, files []*proto.FileEntry) memImages {
	t.Helper()
	m := memImages{}
	img, err := proto.FilesImage(files)
	m.put(t, proto.FilesImg, img, err)
	img, err = proto.PstreeImage([]*proto.PstreeEntry{{Pid: gproto.Uint32(1), Ppid: gproto.Uint32(0), Pgid: gproto.Uint32(1), Sid: gproto.Uint32(1)}})
	m.put(t, proto.PstreeImg, img, err)
	img, err = proto.IdsImage(1, &proto.TaskKobjIdsEntry{VmId: gproto.Uint32(1), FilesId: gproto.Uint32(5), FsId: gproto.Uint32(1), SighandId: gproto.Uint32(1), MntNsId: gproto.Uint32(9)})
	m.put(t, proto.IdsImg(1), img, err)
	var fds []*proto.FdinfoEntry
	for i, f := range files {
		fds = append(fds, &proto.FdinfoEntry{Id: gproto.Uint32(f.GetId()), Flags: gproto.Uint32(0), Type: proto.FdReg.Enum(), Fd: gproto.Uint32(uint32(3 + i))})
	}
	img, err = proto.FdinfoImage(5, fds)
	m.put(t, proto.FdinfoImg(5), img, err)
	img, err = proto.FsImage(1, &proto.FsEntry{CwdId: gproto.Uint32(files[0].GetId()), RootId: gproto.Uint32(files[len(files)-1].GetId())})
	m.put(t, proto.FsImg(1), img, err)
	second := files[min(1, len(files)-1)].GetId()
	img, err = proto.MmImage(1, &proto.MmEntry{MmStartCode: gproto.Uint64(0), MmEndCode: gproto.Uint64(0), MmStartData: gproto.Uint64(0), MmEndData: gproto.Uint64(0),
		MmStartStack: gproto.Uint64(0), MmStartBrk: gproto.Uint64(0), MmBrk: gproto.Uint64(0), MmArgStart: gproto.Uint64(0), MmArgEnd: gproto.Uint64(0),
		MmEnvStart: gproto.Uint64(0), MmEnvEnd: gproto.Uint64(0), ExeFileId: gproto.Uint32(second),
		Vmas: []*proto.VmaEntry{{Start: gproto.Uint64(0x1000), End: gproto.Uint64(0x2000), Pgoff: gproto.Uint64(0), Shmid: gproto.Uint64(uint64(second)),
			Prot: gproto.Uint32(1), Flags: gproto.Uint32(2), Status: gproto.Uint32(proto.VMAFilePrivate | 1), Fd: gproto.Int64(-1)}}})
	m.put(t, proto.MmImg(1), img, err)
	img, err = proto.MountpointsImage(9, []*proto.MntEntry{
		{Fstype: gproto.Uint32(uint32(proto.FstypeOverlayfs)), MntId: gproto.Uint32(20), RootDev: gproto.Uint32(1), ParentMntId: gproto.Uint32(1), Flags: gproto.Uint32(0),
			Root: gproto.String("/"), Mountpoint: gproto.String("/"), Source: gproto.String("overlay"), Options: gproto.String("")},
		{Fstype: gproto.Uint32(uint32(proto.FstypeAuto)), Fsname: gproto.String("fuse.sshfs"), MntId: gproto.Uint32(21), RootDev: gproto.Uint32(2), ParentMntId: gproto.Uint32(20), Flags: gproto.Uint32(0),
			Root: gproto.String("/"), Mountpoint: gproto.String("/mnt"), Source: gproto.String("h:/"), Options: gproto.String("")}})
	m.put(t, proto.MountpointsImg(9), img, err)
	return m
}

func load(t *testing.T, m memImages) *Listing {
	t.Helper()
	l, err := Load(&checkpoint.Checkpoint{Path: "mem", Format: checkpoint.FormatDir, Images: m})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestLoadHoldersMountsRemaps: every kind of holder lands on its file,
// each file gets its mount, remaps are read as collect_one_remap reads
// them (old images' REMAP_GHOST bit included), and references to ids
// files.img lacks are notes.
func TestLoadHoldersMountsRemaps(t *testing.T) {
	files := []*proto.FileEntry{
		regEntry(1, "/work", 20, 0, 0o40755),
		regEntry(2, "/bin/app", 20, 100, 0o100755),
		regEntry(3, "/gone", 20, 10, 0o100644),
		regEntry(4, "/old-ghost", 20, 10, 0o100644),
		regEntry(5, "/linked", 20, 10, 0o100644),
		regEntry(6, "/link_remap.6", 20, 10, 0o100644),
		regEntry(7, "/mnt/remote", 21, 1, 0o100644),
		regEntry(8, "/", 20, 0, 0o40755),
	}
	files[6].Reg.BuildId = []uint32{0x04030201, 0x08070605}
	m := oneTask(t, files)
	remaps, err := proto.NewImage(RemapFpathImg, kindRemapFpath)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*proto.RemapFilePathEntry{
		{OrigId: gproto.Uint32(3), RemapId: gproto.Uint32(0x1a), RemapType: proto.RemapGhost.Enum()},
		{OrigId: gproto.Uint32(4), RemapId: gproto.Uint32(0x1b | remapGhostBit)}, // no remap_type: the old encoding
		{OrigId: gproto.Uint32(5), RemapId: gproto.Uint32(6), RemapType: proto.RemapLinked.Enum()},
		{OrigId: gproto.Uint32(99), RemapId: gproto.Uint32(6), RemapType: proto.RemapLinked.Enum()},
	} {
		if err := remaps.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	m.put(t, RemapFpathImg, remaps, nil)
	m[GhostImage(0x1a)] = ghostImage(t, 0o100644, 10)
	l := load(t, m)
	if len(l.Files) != 8 {
		t.Fatalf("%d files, want 8", len(l.Files))
	}
	by := map[string]*File{}
	for _, f := range l.Files {
		by[f.Name] = f
	}
	holders := func(name string) string { return HoldersText(by[name].Holders) }
	for name, want := range map[string]string{"/work": "1:fd3,1:cwd", "/bin/app": "1:fd4,1:exe,1:map@1000-2000", "/": "1:fd10,1:root"} {
		if got := holders(name); got != want {
			t.Errorf("%s: holders %s, want %s", name, got, want)
		}
	}
	if f := by["/mnt/remote"]; f.Mount == nil || f.Mount.FSType != "fuse.sshfs" || f.Mount.Mountpoint != "/mnt" {
		t.Errorf("/mnt/remote: mount %+v, want fuse.sshfs at /mnt", f.Mount)
	}
	if f := by["/mnt/remote"]; !bytes.Equal(f.BuildID, []byte{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("build-ID %x, want 0102030405060708", f.BuildID)
	}
	if f := by["/bin/app"]; f.Mount == nil || f.Mount.FSType != "overlayfs" || !f.HasSize || f.Size != 100 || f.Mode != 0o100755 {
		t.Errorf("/bin/app: %+v", f)
	}
	if r := by["/gone"].Remap; r == nil || r.Type != RemapGhost || r.Image != "ghost-file-1a.img" || !r.ImagePresent || r.Ghost == nil || r.Ghost.Mode != 0o100644 {
		t.Errorf("/gone: remap %+v", r)
	}
	if r := by["/old-ghost"].Remap; r == nil || r.Type != RemapGhost || r.RemapID != 0x1b || r.ImagePresent {
		t.Errorf("/old-ghost: remap %+v, want a ghost 0x1b whose image is missing", r)
	}
	if r := by["/linked"].Remap; r == nil || r.Type != RemapLinked || r.LinkedName != "/link_remap.6" {
		t.Errorf("/linked: remap %+v", r)
	}
	if got := by["/link_remap.6"].RemapTargetOf; !slices.Equal(got, []uint32{5}) {
		t.Errorf("/link_remap.6 is the target of %v, want [5]", got)
	}
	if len(l.Notes) != 1 || !strings.Contains(l.Notes[0], "file id 99") {
		t.Errorf("notes %q, want one about file id 99", l.Notes)
	}
}

func ghostImage(t *testing.T, mode uint32, size uint64) []byte {
	t.Helper()
	head, typ, err := kindGhostFile.Magics()
	if err != nil {
		t.Fatal(err)
	}
	e, err := gproto.Marshal(&proto.GhostFileEntry{Uid: gproto.Uint32(0), Gid: gproto.Uint32(0), Mode: gproto.Uint32(mode), Size: gproto.Uint64(size), Chunks: gproto.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	b := binary.LittleEndian.AppendUint32(nil, head)
	b = binary.LittleEndian.AppendUint32(b, typ)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(e)))
	return append(append(b, e...), "file data"...)
}

// TestLoadManifest: the manifest's record is attached by id when its name
// matches; another version or a stale record is not used, and says so.
func TestLoadManifest(t *testing.T) {
	files := []*proto.FileEntry{regEntry(1, "/a", 20, 1, 0o100644), regEntry(2, "/b", 20, 1, 0o100644)}
	mk := func(v int) []byte {
		b, err := json.Marshal(manifest.Manifest{Version: v, Tool: "ovlfix test", Writer: "dump", Files: []manifest.File{
			{ID: 1, Name: "/a", FSType: "overlay", Overlay: &manifest.Overlay{Where: manifest.Lower, Layer: 2, LayerDir: "/l2"}},
			{ID: 2, Name: "/renamed"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	m := oneTask(t, files)
	m[manifest.FileName] = mk(1)
	l := load(t, m)
	if p := l.Files[0].Provenance; p == nil || p.Overlay == nil || p.Overlay.Layer != 2 || !l.Manifest.Present || l.Manifest.Problem != "" {
		t.Fatalf("manifest v1: %+v, file /a provenance %+v", l.Manifest, p)
	}
	if l.Files[1].Provenance != nil || len(l.Notes) != 1 || !strings.Contains(l.Notes[0], "/renamed") {
		t.Errorf("a stale record must not be used: %+v, notes %q", l.Files[1].Provenance, l.Notes)
	}
	var out bytes.Buffer
	if err := WriteText(&out, l); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), " lower:2 ") {
		t.Errorf("text does not show the layer:\n%s", out.String())
	}
	m[manifest.FileName] = mk(2)
	l = load(t, m)
	if l.Files[0].Provenance != nil || !strings.Contains(l.Manifest.Problem, "version 2") {
		t.Errorf("manifest v2 must be refused: %+v", l.Manifest)
	}
	m[manifest.FileName] = []byte("{not json")
	if l = load(t, m); l.Manifest.Problem == "" {
		t.Error("a broken manifest must be reported")
	}
}

// TestLoadBadImages: a missing files.img or pstree.img, a duplicate file
// id and a corrupt image are errors naming the image; a forged entry size
// allocates nothing.
func TestLoadBadImages(t *testing.T) {
	base := func() memImages { return oneTask(t, []*proto.FileEntry{regEntry(1, "/a", 20, 1, 0o100644)}) }
	for name, mutate := range map[string]func(memImages){
		proto.FilesImg:  func(m memImages) { delete(m, proto.FilesImg) },
		proto.PstreeImg: func(m memImages) { delete(m, proto.PstreeImg) },
		"file id 1 used twice": func(m memImages) {
			img, err := proto.FilesImage([]*proto.FileEntry{regEntry(1, "/a", 20, 1, 0o100644), regEntry(1, "/b", 20, 1, 0o100644)})
			m.put(t, proto.FilesImg, img, err)
		},
		proto.MmImg(1): func(m memImages) { m[proto.MmImg(1)] = m[proto.MmImg(1)][:len(m[proto.MmImg(1)])-3] },
		"mountpoints-9.img": func(m memImages) {
			b := m[proto.MountpointsImg(9)]
			binary.LittleEndian.PutUint32(b[8:], 0xfffffff0) // the first entry's size
		},
	} {
		m := base()
		mutate(m)
		_, err := Load(&checkpoint.Checkpoint{Images: m})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: got %v, want an error naming it", name, err)
		}
	}
	// A task without its images (a zombie) is a note, not an error.
	m := base()
	delete(m, proto.FsImg(1))
	if l := load(t, m); len(l.Notes) != 1 || !strings.Contains(l.Notes[0], proto.FsImg(1)) {
		t.Errorf("notes %q, want one naming %s", l.Notes, proto.FsImg(1))
	}
}

// TestLoadLinear: 100000 files with an fd each load in one pass (logged).
func TestLoadLinear(t *testing.T) {
	const n = 100000
	files := make([]*proto.FileEntry, n)
	for i := range files {
		files[i] = regEntry(uint32(i+1), fmt.Sprintf("/f/%d", i), 20, 1, 0o100644)
	}
	m := oneTask(t, files)
	start := time.Now()
	l := load(t, m)
	t.Logf("%d files, %d bytes of files.img: loaded in %v", n, len(m[proto.FilesImg]), time.Since(start))
	if len(l.Files) != n || len(l.Files[n/2].Holders) != 1 {
		t.Fatalf("%d files, holders of one %v", len(l.Files), l.Files[n/2].Holders)
	}
}

// TestTextQuotesNames: a name with a newline and terminal escapes stays on
// its row, quoted; JSON keeps its exact bytes.
func TestTextQuotesNames(t *testing.T) {
	hostile := "/x\nID  MODE forged\x1b[31m"
	l := load(t, oneTask(t, []*proto.FileEntry{regEntry(1, hostile, 20, 1, 0o100644)}))
	var out bytes.Buffer
	if err := WriteText(&out, l); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), "\n") != 3 || strings.Contains(out.String(), "\x1b") {
		t.Errorf("text:\n%s", out.String())
	}
	out.Reset()
	if err := WriteJSON(&out, l); err != nil {
		t.Fatal(err)
	}
	var back struct{ Files []File }
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || len(back.Files) != 1 || back.Files[0].Name != hostile {
		t.Fatalf("JSON round trip: %v %+v\n%s", err, back, out.String())
	}
}

// TestLayerText: the schema's Where words are shown as they are; any other
// value (a manifest is input like any other) is quoted, control bytes too.
func TestLayerText(t *testing.T) {
	for _, tc := range []struct {
		ov   *manifest.Overlay
		want string
	}{
		{&manifest.Overlay{Where: manifest.UpperOnly, Layer: -1}, "upper"},
		{&manifest.Overlay{Where: manifest.Lower, Layer: 1}, "lower:1"},
		{&manifest.Overlay{Where: manifest.CopiedUp, Layer: 0}, "copied-up:0"},
		{&manifest.Overlay{Where: manifest.WhitedOut, Layer: 2}, "whiteout:2"},
		{&manifest.Overlay{Where: manifest.Metacopy, Layer: 0}, "metacopy:0"},
		{&manifest.Overlay{Where: "lower\n\x1b[2J", Layer: 3}, `"lower\n\x1b[2J":3`},
	} {
		if got := layerText(&File{Provenance: &manifest.File{Overlay: tc.ov}}); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.ov, got, tc.want)
		}
	}
}
