package fixup

import (
	"context"
	"encoding/binary"
	"github.com/ovlfix/ovlfix/internal/testenv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/proto"
)

// TestReadDumpRealCRIU decodes the task images of real CRIU 3.17.1 dumps
// (testdata/criu/README.md). The expected values were read with CRIU's own
// `crit decode` of the same files (pstree, ids, fdinfo-2, fs, mm).
func TestReadDumpRealCRIU(t *testing.T) {
	for _, tc := range []struct {
		dir            string
		vpid, filesID  uint32
		fds            map[int]uint32
		cwd, root, exe uint32
		fileVMAs       int
		vmaIDs         int // distinct file ids of file mappings: 1..24
	}{
		{"basic", 149, 2, map[int]uint32{0: 25, 1: 26, 2: 27, 3: 28, 4: 29, 5: 30, 7: 31}, 32, 33, 1, 108, 24},
		{"rawname", 319, 2, map[int]uint32{0: 25, 1: 26, 2: 27, 3: 28, 4: 29, 5: 30, 6: 31, 8: 32}, 33, 34, 1, 108, 24},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			d, err := readDump(filepath.Join("..", "testdata", "criu", tc.dir))
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Tasks) != 1 {
				t.Fatalf("%d tasks", len(d.Tasks))
			}
			tk := d.Tasks[0]
			if tk.VPID != tc.vpid || tk.FilesID != tc.filesID || len(tk.Missing) != 0 {
				t.Errorf("task vpid %d files_id %d missing %v", tk.VPID, tk.FilesID, tk.Missing)
			}
			fds := map[int]uint32{}
			special := map[fdinfo.Kind]uint32{}
			vmas, vmaIDs := 0, map[uint32]bool{}
			for _, r := range tk.Refs {
				switch r.Kind {
				case fdinfo.KindFD:
					fds[r.FD] = r.FileID
				case fdinfo.KindMap:
					vmas++
					vmaIDs[r.FileID] = true
					if r.Start >= r.End {
						t.Errorf("vma %s", r.label())
					}
				default:
					special[r.Kind] = r.FileID
				}
			}
			if len(fds) != len(tc.fds) {
				t.Errorf("fds %v, want %v", fds, tc.fds)
			}
			for fd, id := range tc.fds {
				if fds[fd] != id {
					t.Errorf("fd %d: file id %d, want %d", fd, fds[fd], id)
				}
			}
			if special[fdinfo.KindCwd] != tc.cwd || special[fdinfo.KindRoot] != tc.root || special[fdinfo.KindExe] != tc.exe {
				t.Errorf("cwd/root/exe ids %v", special)
			}
			if vmas != tc.fileVMAs || len(vmaIDs) != tc.vmaIDs {
				t.Errorf("%d file vmas over %d ids, want %d over %d", vmas, len(vmaIDs), tc.fileVMAs, tc.vmaIDs)
			}
			for id := range vmaIDs {
				if _, ok := d.ByID[id]; !ok {
					t.Errorf("vma file id %d not in files.img", id)
				}
			}
		})
	}
}

// TestCorruptImagesWriteNothing: a truncated or corrupt image stops the
// run with an error naming the file, and the directory stays byte-identical.
func TestCorruptImagesWriteNothing(t *testing.T) {
	src := filepath.Join("..", "testdata", "criu", "basic")
	for _, tc := range []struct {
		name, file string
		damage     func([]byte) []byte
		want       []string
	}{
		{"files truncated mid-entry", proto.FilesImg, func(b []byte) []byte { return b[:len(b)-7] }, []string{"files.img", "entry 32", "offset", "truncated body"}},
		{"files truncated in a size field", proto.FilesImg, func(b []byte) []byte { return append(b, 1, 0) }, []string{"files.img", "truncated size field"}},
		{"files entry not protobuf", proto.FilesImg, func(b []byte) []byte {
			// entry 0 starts at offset 8: keep its size, spoil its first bytes
			b[12], b[13], b[14] = 0xff, 0xff, 0xff
			return b
		}, []string{"files.img", "entry 0", "decoding"}},
		{"pstree truncated", proto.PstreeImg, func(b []byte) []byte { return b[:len(b)-3] }, []string{"pstree.img", "offset", "truncated"}},
		{"pstree header only half", proto.PstreeImg, func(b []byte) []byte { return b[:6] }, []string{"pstree.img", "header"}},
		{"fdinfo huge size", "fdinfo-2.img", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[8:], 0xfffffff0)
			return b
		}, []string{"fdinfo-2.img", "entry 0", "offset 8", "exceeds"}},
		{"fdinfo wrong kind", "fdinfo-2.img", func([]byte) []byte { return testenv.ReadFile(t, filepath.Join(src, "fs-149.img")) }, []string{"fdinfo-2.img", "want"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, e := range testenv.DirNames(t, src) {
				b := testenv.ReadFile(t, filepath.Join(src, e))
				if e == tc.file {
					b = tc.damage(append([]byte(nil), b...))
				}
				if err := os.WriteFile(filepath.Join(dir, e), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			before := testenv.DirFiles(t, dir)
			_, err := Run(context.Background(), dir, Options{RootPID: os.Getpid()})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			assertSameDir(t, dir, before)
		})
	}
}

func TestRunNeedsRootPID(t *testing.T) {
	dir := t.TempDir()
	if _, err := Run(context.Background(), dir, Options{DryRun: true}); err == nil || !strings.Contains(err.Error(), "CRTOOLS_INIT_PID") {
		t.Errorf("err = %v", err)
	}
}
