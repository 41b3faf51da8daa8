package dump

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/testenv"
	"github.com/ovlfix/ovlfix/manifest"
	"github.com/ovlfix/ovlfix/mountns"
	"github.com/ovlfix/ovlfix/proto"
	"github.com/ovlfix/ovlfix/resolve"
	"golang.org/x/sys/unix"
)

// selfTable is this process's mount table: real kernel text.
func selfTable(t testing.TB) *mountns.Table {
	t.Helper()
	tb, err := mountns.ReadTable(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.Mounts()) < 2 {
		t.Fatalf("only %d mounts", len(tb.Mounts()))
	}
	return tb
}

// syntheticDump is a dump of one file table holding n regular files with
// long names, all resolved on mount mnt.
func syntheticDump(table *mountns.Table, n int, mnt int) *Dump {
	ns := &Namespace{ID: 1, Inode: 4026531841, Table: table}
	p := &Process{Process: &fdinfo.Process{PID: 4242, TGID: 4242, PPID: 1, Comm: "synthetic", FilesID: 1}, Namespace: ns}
	for i := range n {
		name := fmt.Sprintf("/data/%0200d", i)
		o := &fdinfo.Object{PID: 4242, Kind: fdinfo.KindFD, FD: 3 + i, Link: []byte(name),
			Info: &fdinfo.Info{MntID: mnt, Flags: unix.O_RDONLY | unix.O_LARGEFILE},
			Stat: &fdinfo.Stat{Dev: 42, Ino: uint64(100 + i), Mode: unix.S_IFREG | 0o644, Size: 10, Nlink: 1}}
		p.Results = append(p.Results, resolve.Result{Object: o, Verdict: resolve.OK, Path: []byte(name), MntID: mnt})
	}
	return &Dump{RootPID: 4242, Processes: []*Process{p}, Namespaces: []*Namespace{ns}}
}

func TestWriteDir(t *testing.T) {
	table := selfTable(t)
	d := syntheticDump(table, 3, table.Mounts()[0].ID)
	dir := t.TempDir()
	rep, err := d.WriteDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := testenv.DirNames(t, dir)
	if want := []string{"fdinfo-1.img", "files.img", "mountpoints-1.img", manifest.FileName, ReportFile}; strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("directory holds %v, want %v", names, want)
	}
	var onDisk Report
	if err := json.Unmarshal(testenv.ReadFile(t, filepath.Join(dir, ReportFile)), &onDisk); err != nil {
		t.Fatal(err)
	}
	if onDisk.Images != dir || rep.Images != dir || len(onDisk.Processes[0].Objects) != 3 || onDisk.Processes[0].Objects[2].FileID != 3 {
		t.Errorf("report: %+v", onDisk)
	}
	files, err := proto.ReadImageFile(filepath.Join(dir, proto.FilesImg))
	if err != nil || len(files.Entries) != 3 {
		t.Fatalf("files.img: %v", err)
	}
}

// TestMntIDForNeverGuesses: an unresolved object gets the kernel's own
// mount id when it names a mount of the namespace, else none (CRIU's -1);
// never the resolver's unconfirmed candidate.
func TestMntIDForNeverGuesses(t *testing.T) {
	table := selfTable(t)
	kernel, guess := table.Mounts()[0].ID, table.Mounts()[1].ID
	private := 1 << 30 // a 3.18–4.1 overlay fd's private layer mount: in no mountinfo
	fd := func(v resolve.Verdict, resMnt, kernelMnt int) resolve.Result {
		return resolve.Result{Verdict: v, MntID: resMnt, Path: []byte("/f"), Object: &fdinfo.Object{Kind: fdinfo.KindFD, FD: 3, Link: []byte("/f"), Info: &fdinfo.Info{MntID: kernelMnt}}}
	}
	mapping := func(v resolve.Verdict, resMnt, kernelMnt int) resolve.Result {
		return resolve.Result{Verdict: v, MntID: resMnt, Object: &fdinfo.Object{Kind: fdinfo.KindMap, FD: -1, Link: []byte("/m"), Map: &fdinfo.Mapping{Start: 0x1000, End: 0x2000, MapFilesMntID: kernelMnt}}}
	}
	special := func(k fdinfo.Kind, v resolve.Verdict, resMnt int) resolve.Result {
		return resolve.Result{Verdict: v, MntID: resMnt, Object: &fdinfo.Object{Kind: k, FD: -1, Link: []byte("/c")}}
	}
	for _, tc := range []struct {
		name string
		r    resolve.Result
		want int
	}{
		{"resolved fd: the resolver's mount", fd(resolve.Fixed, guess, kernel), guess},
		{"ambiguous: the confirmed candidate chosen", fd(resolve.Ambiguous, guess, kernel), guess},
		{"unresolved fd with a candidate: the kernel's mount", fd(resolve.Unresolved, guess, kernel), kernel},
		{"unresolved fd, kernel's id in no mountinfo: none", fd(resolve.Unresolved, guess, private), -1},
		{"unresolved fd, no kernel id (before 3.15): none", fd(resolve.Unresolved, guess, -1), -1},
		{"unresolved mapping: map_files' mount", mapping(resolve.Unresolved, guess, kernel), kernel},
		{"unresolved cwd with a covering-mount candidate: none", special(fdinfo.KindCwd, resolve.Unresolved, guess), -1},
		{"unresolved exe: none", special(fdinfo.KindExe, resolve.Unresolved, guess), -1},
		{"resolved cwd", special(fdinfo.KindCwd, resolve.OK, guess), guess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mntIDFor(&tc.r, table); got != tc.want {
				t.Errorf("mntIDFor = %d, want %d", got, tc.want)
			}
			// And the entry written: mnt_id absent for -1.
			d := syntheticDump(table, 0, kernel)
			d.Processes[0].Results = []resolve.Result{tc.r}
			imgs, _, err := d.buildImages()
			if err != nil {
				t.Fatal(err)
			}
			var files *proto.Image
			for _, img := range imgs {
				if img.Name == proto.FilesImg {
					files = img
				}
			}
			fe := &proto.FileEntry{}
			if err := files.Decode(0, fe); err != nil {
				t.Fatal(err)
			}
			if got := fe.GetReg().MntId; (got == nil) != (tc.want < 0) || got != nil && int(*got) != tc.want {
				t.Errorf("files.img mnt_id %v, want %d", got, tc.want)
			}
		})
	}
}

// Environment of the disk-full child: the directory to mount a small
// tmpfs on.
const envDiskFullDir = "OVLFIX_DUMP_DISKFULL_DIR"

// TestWriteDirDiskFull: `ovlfix dump -D DIR` on a file system that fills
// up midway must leave DIR as it was: nothing new, and an earlier complete
// set untouched. The test re-executes itself in a private mount namespace,
// where it mounts a 256 KiB tmpfs; a dump with a 300 KiB files.img fills it
// after fdinfo-1.img was written.
func TestWriteDirDiskFull(t *testing.T) {
	testenv.InPrivateMountNS(t, envDiskFullDir, diskFullChild)
}

// diskFullChild runs in its own mount namespace.
func diskFullChild(t *testing.T, base string) {
	if err := unix.Mount("tmpfs", base, "tmpfs", 0, "size=256k,mode=0755"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	defer unix.Unmount(base, unix.MNT_DETACH)
	table := selfTable(t)
	mnt := table.Mounts()[0].ID
	small, big := syntheticDump(table, 3, mnt), syntheticDump(table, 1500, mnt)

	writers := []struct {
		name  string
		write func(d *Dump, dir string) error
	}{
		{"WriteDir", func(d *Dump, dir string) error { _, err := d.WriteDir(dir); return err }},
		{"WriteImages", func(d *Dump, dir string) error { _, err := d.WriteImages(dir); return err }},
	}
	for _, w := range writers {
		for _, earlier := range []bool{false, true} {
			name := fmt.Sprintf("%s, earlier set %v", w.name, earlier)
			t.Run(name, func(t *testing.T) {
				dir := filepath.Join(base, fmt.Sprintf("%s-%v", w.name, earlier))
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				defer os.RemoveAll(dir)
				if earlier {
					if err := w.write(small, dir); err != nil {
						t.Fatalf("the small dump does not fit: %v", err)
					}
				}
				before := testenv.DirFiles(t, dir)
				err := w.write(big, dir)
				if !errors.Is(err, unix.ENOSPC) {
					t.Fatalf("err %v, want ENOSPC", err)
				}
				for _, s := range []string{dir, "no space left on device", "nothing written"} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
				after := testenv.DirFiles(t, dir)
				if len(after) != len(before) {
					t.Errorf("directory held %v, now %v", testenv.Names(before), testenv.Names(after))
				}
				for n, b := range before {
					if !bytes.Equal(after[n], b) {
						t.Errorf("%s changed", n)
					}
				}
				t.Logf("refused: %v; directory still holds %v", err, testenv.Names(after))
			})
		}
	}
}
