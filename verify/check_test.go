package verify

import (
	"archive/tar"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/checkpoint"
	"github.com/ovlfix/ovlfix/inspect"
	"github.com/ovlfix/ovlfix/manifest"
	"golang.org/x/sys/unix"
)

// fakeTree is a root given as nodes by path; lookups are counted.
type fakeTree struct {
	nodes   map[string]node
	lookups int
}

func (t *fakeTree) lookup(p string) (node, error) {
	t.lookups++
	if n, ok := t.nodes[p]; ok {
		n.Exists, n.From = n.Errno == 0, "root"
		return n, nil
	}
	return node{From: "root"}, nil
}

func reg(mode uint32, size int64, buildID []byte) node {
	return node{Mode: unix.S_IFREG | mode, Size: size, buildID: func() ([]byte, error) { return buildID, nil }}
}

// held is a files.img entry held by pid 7's fd 3, as CRIU records a
// regular file opened O_RDONLY: size, mode and (here) a build-ID.
func held(name string, size uint64, mode uint32, buildID []byte) *inspect.File {
	return &inspect.File{ID: 1, Name: name, MntID: 20, Mount: &inspect.Mount{ID: 20, Mountpoint: "/", FSType: "overlayfs"},
		Size: size, HasSize: true, Mode: unix.S_IFREG | mode, HasMode: true, BuildID: buildID,
		Holders: []manifest.Holder{{PID: 7, Kind: "fd", FD: 3}}}
}

var bid = []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}

// TestCheckEachCRIUCheck runs every check on one constructed file and
// asserts the check that fails first and CRIU's exact line for it.
func TestCheckEachCRIUCheck(t *testing.T) {
	cases := []struct {
		name  string
		file  func() *inspect.File
		nodes map[string]node
		opts  Options
		check string // "" restorable
		criu  string
	}{
		{name: "same file", file: func() *inspect.File { return held("/a/f", 10, 0o644, bid) },
			nodes: map[string]node{"/a/f": reg(0o644, 10, bid)}},
		{name: "missing", file: func() *inspect.File { return held("/a/f", 10, 0o644, nil) },
			check: CheckOpen, criu: "Can't open file a/f on restore: No such file or directory"},
		{name: "parent not a dir", file: func() *inspect.File { return held("/a/f", 10, 0o644, nil) },
			nodes: map[string]node{"/a/f": {Errno: unix.ENOTDIR}},
			check: CheckOpen, criu: "Can't open file a/f on restore: Not a directory"},
		{name: "grown", file: func() *inspect.File { return held("/a/f", 10, 0o644, bid) },
			nodes: map[string]node{"/a/f": reg(0o644, 12, bid)},
			check: CheckSize, criu: "File a/f has bad size 12 (expect 10)"},
		{name: "size before mode", file: func() *inspect.File { return held("/a/f", 10, 0o644, nil) },
			nodes: map[string]node{"/a/f": reg(0o600, 11, nil)},
			check: CheckSize, criu: "File a/f has bad size 11 (expect 10)"},
		{name: "chmod", file: func() *inspect.File { return held("/a/f", 10, 0o644, nil) },
			nodes: map[string]node{"/a/f": reg(0o600, 10, nil)},
			check: CheckMode, criu: "File a/f has bad mode 0100600 (expect 0100644)"},
		{name: "chmod with --skip-file-rwx-check", file: func() *inspect.File { return held("/a/f", 10, 0o644, nil) },
			nodes: map[string]node{"/a/f": reg(0o600, 10, nil)}, opts: Options{SkipFileRWXCheck: true}},
		{name: "setuid with --skip-file-rwx-check", file: func() *inspect.File { return held("/a/f", 10, 0o644, nil) },
			nodes: map[string]node{"/a/f": reg(0o4644, 10, nil)}, opts: Options{SkipFileRWXCheck: true},
			check: CheckMode, criu: "File a/f has bad mode 0104000 (expect 0100000)"},
		{name: "other build-ID", file: func() *inspect.File { return held("/a/f", 10, 0o755, append(bid[:19:19], 0)) },
			nodes: map[string]node{"/a/f": reg(0o755, 10, bid)},
			check: CheckBuildID, criu: "File a/f has bad build-ID"},
		{name: "build-ID of another length", file: func() *inspect.File { return held("/a/f", 10, 0o755, bid[:16]) },
			nodes: map[string]node{"/a/f": reg(0o755, 10, bid)},
			check: CheckBuildIDLen, criu: "File a/f has bad build-ID length 20 (expect 16)"},
		{name: "build-ID padded to words", file: func() *inspect.File { return held("/a/f", 10, 0o755, append(bid[:18:18], 0, 0)) },
			nodes: map[string]node{"/a/f": reg(0o755, 10, bid[:18])}},
		{name: "no build-ID now: size only", file: func() *inspect.File { return held("/a/f", 10, 0o755, bid) },
			nodes: map[string]node{"/a/f": reg(0o755, 10, nil)}},
		{name: "build-ID with --file-validation=filesize", file: func() *inspect.File { return held("/a/f", 10, 0o755, bid[:16]) },
			nodes: map[string]node{"/a/f": reg(0o755, 10, bid)}, opts: Options{SizeOnly: true}},
		{name: "directory opened O_RDWR", file: func() *inspect.File { f := held("/a/f", 10, 0o644, nil); f.Flags = unix.O_RDWR; return f },
			nodes: map[string]node{"/a/f": {Mode: unix.S_IFDIR | 0o755, Size: 40}},
			check: CheckOpen, criu: "Can't open file a/f on restore: Is a directory"},
		{name: "directory opened O_RDONLY: size", file: func() *inspect.File { return held("/a/f", 10, 0o644, nil) },
			nodes: map[string]node{"/a/f": {Mode: unix.S_IFDIR | 0o755, Size: 40}},
			check: CheckSize, criu: "File a/f has bad size 40 (expect 10)"},
		{name: "O_WRONLY|O_APPEND: no size recorded", file: func() *inspect.File {
			f := held("/log", 0, 0o644, nil)
			f.HasSize, f.Flags = false, unix.O_WRONLY|unix.O_APPEND
			return f
		}, nodes: map[string]node{"/log": reg(0o644, 999, nil)}},
		{name: "cwd replaced by a file", file: func() *inspect.File {
			return &inspect.File{ID: 2, Name: "/d", MntID: -1, Mode: unix.S_IFDIR | 0o755, HasMode: true, Flags: unix.O_DIRECTORY,
				Holders: []manifest.Holder{{PID: 7, Kind: "cwd"}}}
		}, nodes: map[string]node{"/d": reg(0o755, 3, nil)},
			check: CheckOpen, criu: "Can't open file d on restore: Not a directory"},
		{name: "root dir", file: func() *inspect.File {
			return &inspect.File{ID: 2, Name: "/", MntID: -1, Mode: unix.S_IFDIR | 0o700, HasMode: true, Holders: []manifest.Holder{{PID: 7, Kind: "root"}}}
		}, nodes: map[string]node{"/": {Mode: unix.S_IFDIR | 0o755}},
			check: CheckMode, criu: "File . has bad mode 040755 (expect 040700)"},
		{name: "symlink followed inside the root", file: func() *inspect.File { return held("/a/f", 10, 0o644, nil) },
			nodes: map[string]node{"/a/f": {Mode: unix.S_IFLNK | 0o777, Link: "../../../b"}, "/b": reg(0o644, 10, nil)}},
		{name: "absolute symlink: the root's /etc, not the host's", file: func() *inspect.File { return held("/a/f", 10, 0o644, nil) },
			nodes: map[string]node{"/a/f": {Mode: unix.S_IFLNK | 0o777, Link: "/etc/passwd"}},
			check: CheckOpen, criu: "Can't open file a/f on restore: No such file or directory"},
		{name: "symlink loop", file: func() *inspect.File { return held("/a/f", 10, 0o644, nil) },
			nodes: map[string]node{"/a/f": {Mode: unix.S_IFLNK | 0o777, Link: "f"}},
			check: CheckOpen, criu: "Can't open file a/f on restore: Too many levels of symbolic links"},
		{name: "O_NOFOLLOW on a symlink", file: func() *inspect.File { f := held("/a/f", 10, 0o644, nil); f.Flags = unix.O_NOFOLLOW; return f },
			nodes: map[string]node{"/a/f": {Mode: unix.S_IFLNK | 0o777, Link: "/b"}, "/b": reg(0o644, 10, nil)},
			check: CheckOpen, criu: "Can't open file a/f on restore: Too many levels of symbolic links"},
		{name: "a FIFO blocks", file: func() *inspect.File { return held("/a/f", 10, 0o644, nil) },
			nodes: map[string]node{"/a/f": {Mode: unix.S_IFIFO | 0o644}}, check: CheckFIFO},
		{name: "a socket", file: func() *inspect.File { return held("/a/f", 10, 0o644, nil) },
			nodes: map[string]node{"/a/f": {Mode: unix.S_IFSOCK | 0o644}},
			check: CheckOpen, criu: "Can't open file a/f on restore: No such device or address"},
		{name: "dot-dot name clamped to the root", file: func() *inspect.File { return held("/../../etc/shadow", 10, 0o644, nil) },
			nodes: map[string]node{"/etc/shadow": reg(0o644, 10, nil)}},
		{name: "mount not in the images", file: func() *inspect.File { f := held("/a/f", 10, 0o644, nil); f.Mount = nil; return f },
			nodes: map[string]node{"/a/f": reg(0o644, 10, nil)},
			check: CheckMount, criu: "BUG at criu/mount.c:3953"},
		{name: "ghost image missing", file: func() *inspect.File {
			f := held("/gone", 10, 0o644, nil)
			f.Remap = &inspect.Remap{Type: inspect.RemapGhost, RemapID: 0x1a, Image: "ghost-file-1a.img"}
			return f
		}, check: CheckGhost, criu: "Unexpected EOF on (empty-image)"},
		{name: "ghost present", file: func() *inspect.File {
			f := held("/gone", 10, 0o644, nil)
			f.Remap = &inspect.Remap{Type: inspect.RemapGhost, RemapID: 0x1a, Image: "ghost-file-1a.img", ImagePresent: true,
				Ghost: &inspect.GhostInfo{Mode: unix.S_IFREG | 0o644, Size: 10, HasSize: true}}
			return f
		}},
		{name: "ghost of another mode", file: func() *inspect.File {
			f := held("/gone", 10, 0o644, nil)
			f.Remap = &inspect.Remap{Type: inspect.RemapGhost, RemapID: 0x1a, Image: "ghost-file-1a.img", ImagePresent: true,
				Ghost: &inspect.GhostInfo{Mode: unix.S_IFREG | 0o600}}
			return f
		}, check: CheckMode, criu: "File gone has bad mode 0100600 (expect 0100644)"},
		{name: "link remap missing", file: func() *inspect.File {
			f := held("/gone", 10, 0o644, nil)
			f.Remap = &inspect.Remap{Type: inspect.RemapLinked, RemapID: 9, LinkedName: "/link_remap.9"}
			return f
		}, check: CheckLinkRemap, criu: "Can't link link_remap.9 -> gone: No such file or directory"},
		{name: "link remap present", file: func() *inspect.File {
			f := held("/gone", 10, 0o644, nil)
			f.Remap = &inspect.Remap{Type: inspect.RemapLinked, RemapID: 9, LinkedName: "/link_remap.9"}
			return f
		}, nodes: map[string]node{"/link_remap.9": reg(0o644, 10, nil)}},
		{name: "link remap id not in files.img", file: func() *inspect.File {
			f := held("/gone", 10, 0o644, nil)
			f.Remap = &inspect.Remap{Type: inspect.RemapLinked, RemapID: 0x2b}
			return f
		}, check: CheckLinkRemap, criu: "Can't find target file 2b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := c.file()
			l := &inspect.Listing{Files: []*inspect.File{f}}
			r, err := check(context.Background(), l, &fakeTree{nodes: c.nodes}, "/r", nil, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if c.check == "" {
				if !r.Restorable() || r.Checked != 1 {
					t.Fatalf("want restorable, 1 checked; got %d checked, problems %+v, skipped %+v", r.Checked, r.Problems, r.Skipped)
				}
				return
			}
			if len(r.Problems) != 1 {
				t.Fatalf("want one %s problem, got %+v", c.check, r.Problems)
			}
			p := r.Problems[0]
			if p.Check != c.check || p.CRIU != c.criu || p.Name != f.Name || p.FileID != f.ID || len(p.Holders) != len(f.Holders) {
				t.Fatalf("got %+v\nwant check %s, criu %q, the file and its holders", p, c.check, c.criu)
			}
			if c.criu != "" && p.CRIUSource == "" {
				t.Errorf("no CRIU source line for %q", p.CRIU)
			}
		})
	}
}

// TestCheckSkips: files the restore does not reopen in the root are
// skipped, each with its reason; --all-mounts checks other mounts too.
func TestCheckSkips(t *testing.T) {
	onTmpfs := held("/dev/shm/x", 1, 0o644, nil)
	onTmpfs.Mount = &inspect.Mount{ID: 30, Mountpoint: "/dev/shm", FSType: "tmpfs"}
	ext := held("/e", 1, 0o644, nil)
	ext.Ext = true
	unheld := held("/u", 1, 0o644, nil)
	unheld.Holders = nil
	target := held("/link_remap.3", 1, 0o644, nil)
	target.Holders, target.RemapTargetOf = nil, []uint32{5}
	procfs := held("/proc/77", 0, 0o555, nil)
	procfs.Remap = &inspect.Remap{Type: inspect.RemapProcfs, RemapID: 77}
	l := &inspect.Listing{Files: []*inspect.File{onTmpfs, ext, unheld, target, procfs}}
	r, err := check(context.Background(), l, &fakeTree{}, "/r", nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Checked != 0 || len(r.Skipped) != 5 || !r.Restorable() {
		t.Fatalf("want 5 skipped, 0 checked: %+v", r)
	}
	for _, s := range r.Skipped {
		if s.Why == "" {
			t.Errorf("skip of %q has no reason", s.Name)
		}
	}
	if !strings.Contains(r.Skipped[0].Why, "tmpfs at /dev/shm") {
		t.Errorf("the tmpfs file's skip does not name its mount: %q", r.Skipped[0].Why)
	}
	r, err = check(context.Background(), &inspect.Listing{Files: []*inspect.File{onTmpfs}}, &fakeTree{}, "/r", nil, Options{AllMounts: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.Checked != 1 || len(r.Problems) != 1 || r.Problems[0].Check != CheckOpen {
		t.Fatalf("--all-mounts: want the tmpfs file checked (missing): %+v", r)
	}
}

// TestCheckArchiveDiff: with an archive, rootfs-diff.tar's headers stand
// for the root's files, deleted.files removes them (and what is under a
// deleted directory), and an upper-layer file the diff lacks is a problem
// even where the image's version would pass.
func TestCheckArchiveDiff(t *testing.T) {
	root := &fakeTree{nodes: map[string]node{
		"/etc/app.conf": reg(0o644, 5, nil), // the image's version
		"/lib/x":        reg(0o644, 3, nil),
		"/var/d/y":      reg(0o644, 3, nil),
		"/data/new":     reg(0o644, 9, nil),
	}}
	diff := &checkpoint.RootfsDiff{
		Entries: map[string]checkpoint.DiffEntry{
			"/etc/app.conf": {Path: "/etc/app.conf", Type: tar.TypeReg, Mode: 0o644, Size: 7},
			"/data/new":     {Path: "/data/new", Type: tar.TypeReg, Mode: 0o600, Size: 9},
			"/data/hard":    {Path: "/data/hard", Type: tar.TypeLink, Linkname: "data/new"},
		},
		Deleted: []string{"/lib/x", "var/d"},
	}
	upper := func(f *inspect.File, where string) *inspect.File {
		f.Provenance = &manifest.File{ID: f.ID, Name: f.Name, Mode: f.Mode, Overlay: &manifest.Overlay{Where: where, Layer: -1}}
		return f
	}
	files := []*inspect.File{
		held("/etc/app.conf", 7, 0o644, nil),                        // 0: copied up, in the diff: passes
		held("/lib/x", 3, 0o644, nil),                               // 1: deleted
		held("/var/d/y", 3, 0o644, nil),                             // 2: under a deleted dir
		upper(held("/data/new", 9, 0o644, nil), manifest.UpperOnly), // 3: the diff's mode
		held("/data/hard", 9, 0o600, nil),                           // 4: a hard link member: its target's header
		upper(held("/etc/other", 4, 0o644, nil), manifest.UpperOnly),
		upper(held("/lib/copied", 3, 0o644, nil), manifest.CopiedUp),
		upper(held("/lib/unchanged", 3, 0o644, nil), manifest.CopiedUp), // 7: copied up, never written
		upper(held("/lib/touched", 3, 0o644, nil), manifest.CopiedUp),   // 8: written, same size
		upper(held("/lib", 0, 0o755, nil), manifest.CopiedUp),           // 9: a cwd copied up (files made in it)
	}
	files[9].Mode, files[9].HasSize = unix.S_IFDIR|0o755, false
	files[9].Provenance.Mode = files[9].Mode
	root.nodes["/lib"] = node{Mode: unix.S_IFDIR | 0o755}
	root.nodes["/lib/copied"] = reg(0o644, 3, nil) // the lower version passes CRIU's checks
	// The manifest's stat of the held inode: the same mtime as the root's
	// (copy-up keeps it) for 7; another one (a write) for 8.
	for name, mtime := range map[string]int64{"/lib/unchanged": 1_700_000_000_123456789, "/lib/touched": 1_700_000_000_999} {
		n := reg(0o644, 3, nil)
		n.MtimeNs = 1_700_000_000_123456789
		root.nodes[name] = n
		for _, f := range files {
			if f.Name == name {
				f.Provenance.Size, f.Provenance.Mode, f.Provenance.MtimeNs = 3, 0o100644, mtime
			}
		}
	}
	r := checkWithDiff(t, files, diff, root)
	got := map[string]Problem{}
	for _, p := range r.Problems {
		got[p.Name] = p
	}
	want := map[string]struct{ check, criu string }{
		"/lib/x":       {CheckOpen, "Can't open file lib/x on restore: No such file or directory"},
		"/var/d/y":     {CheckOpen, "Can't open file var/d/y on restore: No such file or directory"},
		"/data/new":    {CheckMode, "File data/new has bad mode 0100600 (expect 0100644)"},
		"/etc/other":   {CheckUpperInDiff, "Can't open file etc/other on restore: No such file or directory"},
		"/lib/copied":  {CheckUpperInDiff, ""},
		"/lib/touched": {CheckUpperInDiff, ""},
	}
	if len(got) != len(want) {
		t.Errorf("problems %+v\nwant %v", r.Problems, want)
	}
	for name, w := range want {
		p, ok := got[name]
		if !ok || p.Check != w.check || p.CRIU != w.criu {
			t.Errorf("%s: got %+v, want check %s criu %q", name, p, w.check, w.criu)
		}
	}
	if p, ok := got["/lib/x"]; ok && !strings.Contains(p.Found, "deleted.files") {
		t.Errorf("/lib/x: found %q does not say deleted.files", p.Found)
	}
}

// TestCheckLinear: one lookup per file (plus one per symlink followed),
// however many files; logged time for the record.
func TestCheckLinear(t *testing.T) {
	for _, n := range []int{1000, 100000} {
		tr := &fakeTree{nodes: make(map[string]node, n)}
		l := &inspect.Listing{Files: make([]*inspect.File, n)}
		for i := range n {
			name := "/f" + strconv.Itoa(i)
			l.Files[i] = held(name, 1, 0o644, nil)
			tr.nodes[name] = reg(0o644, 1, nil)
		}
		start := time.Now()
		r, err := check(context.Background(), l, tr, "/r", nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d files: %d lookups, %v", n, tr.lookups, time.Since(start))
		if r.Checked != n || tr.lookups != n {
			t.Fatalf("%d files: %d checked with %d lookups; want %d and %d", n, r.Checked, tr.lookups, n, n)
		}
	}
}

// TestCheckCancelled: a cancelled context stops the check with its cause.
func TestCheckCancelled(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := context.DeadlineExceeded
	cancel(cause)
	_, err := check(ctx, &inspect.Listing{Files: []*inspect.File{held("/a", 1, 0o644, nil)}}, &fakeTree{}, "/r", nil, Options{})
	if err != cause {
		t.Fatalf("got %v, want the cause %v", err, cause)
	}
}
