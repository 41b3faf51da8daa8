package mountns

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// buildTree creates entries from a tiny spec, one per line:
//
//	dir PATH | file PATH | symlink PATH TARGET
func buildTree(t *testing.T, base, spec string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(spec), "\n") {
		f := strings.Fields(line)
		p := filepath.Join(base, f[1])
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch f[0] {
		case "dir":
			err = os.MkdirAll(p, 0o755)
		case "file":
			err = os.WriteFile(p, []byte(f[1]), 0o644)
		case "symlink":
			err = os.Symlink(f[2], p)
		default:
			t.Fatalf("bad spec line %q", line)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func lstatIno(t *testing.T, p string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// rootModes opens the same root twice: resolving with openat2, and with
// openat2 failing ENOSYS so the component walk is used (as on < 5.6).
func rootModes(t *testing.T, dir string) map[string]*Root {
	t.Helper()
	modes := map[string]*Root{}
	for _, name := range []string{"openat2", "walk"} {
		r, err := OpenRootPath(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		if name == "walk" {
			r.openat2 = func(int, string, *unix.OpenHow) (int, error) { return -1, unix.ENOSYS }
		}
		modes[name] = r
	}
	return modes
}

func TestRootStaysInsideRoot(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	// The same names exist outside the root (base/...) and inside it
	// (root/...): every resolution must land on the inside one.
	buildTree(t, base, `
file secret
file etc/passwd
dir root`)
	buildTree(t, root, `
file secret
file etc/passwd
file `+base+`/secret
symlink abs-passwd /etc/passwd
symlink etcdir /etc
symlink a/b/up ../../../../../..
symlink a/b/up-secret ../../../../../../secret
symlink hostbase `+base+`
symlink loop1 loop2
symlink loop2 loop1
symlink self-loop self-loop/x
symlink chain1 chain2
symlink chain2 /a/b/up
dir dir
symlink final etc/passwd`)

	inside := func(p string) uint64 { return lstatIno(t, filepath.Join(root, p)) }
	cases := []struct {
		path string
		ino  uint64 // 0: an error is expected
		err  error
		mode uint32
	}{
		{path: "/etc/passwd", ino: inside("etc/passwd"), mode: unix.S_IFREG},
		{path: "etc/passwd", ino: inside("etc/passwd"), mode: unix.S_IFREG},
		{path: "/", ino: inside("."), mode: unix.S_IFDIR},
		{path: "/..", ino: inside("."), mode: unix.S_IFDIR},
		{path: "/../../../secret", ino: inside("secret"), mode: unix.S_IFREG},
		{path: "/etcdir/passwd", ino: inside("etc/passwd"), mode: unix.S_IFREG},
		{path: "/a/b/up/secret", ino: inside("secret"), mode: unix.S_IFREG},
		{path: "/a/b/up/etc/../secret", ino: inside("secret"), mode: unix.S_IFREG},
		{path: "/chain1/secret", ino: inside("secret"), mode: unix.S_IFREG},
		{path: "/hostbase/secret", ino: inside(base + "/secret"), mode: unix.S_IFREG},
		{path: "/dir/../etcdir/./passwd", ino: inside("etc/passwd"), mode: unix.S_IFREG},
		// Final symlinks are not followed (lstat).
		{path: "/abs-passwd", ino: inside("abs-passwd"), mode: unix.S_IFLNK},
		{path: "/a/b/up-secret", ino: inside("a/b/up-secret"), mode: unix.S_IFLNK},
		{path: "/final", ino: inside("final"), mode: unix.S_IFLNK},
		{path: "/loop1", ino: inside("loop1"), mode: unix.S_IFLNK},
		// Loops and misuse.
		{path: "/loop1/x", err: unix.ELOOP},
		{path: "/self-loop/y", err: unix.ELOOP},
		{path: "/etc/passwd/x", err: unix.ENOTDIR},
		{path: "/nope", err: unix.ENOENT},
		{path: "", err: unix.ENOENT},
	}
	for mode, r := range rootModes(t, root) {
		for _, c := range cases {
			st, err := r.Stat(c.path)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Errorf("%s: Stat(%q) err %v, want %v", mode, c.path, err, c.err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: Stat(%q): %v", mode, c.path, err)
				continue
			}
			if st.Ino != c.ino || st.Mode&unix.S_IFMT != c.mode {
				t.Errorf("%s: Stat(%q) = ino %d mode %o, want ino %d mode %o", mode, c.path, st.Ino, st.Mode&unix.S_IFMT, c.ino, c.mode)
			}
		}
		if mode == "walk" && !r.noOpenat2.Load() {
			t.Errorf("walk mode did not record that openat2 is missing")
		}
	}
}

// A real procfs inside the root: its magic links (and, for the walk, every
// procfs symlink) must not be followed.
func TestRootRefusesProcMagicLinks(t *testing.T) {
	f, err := os.Open("/etc/hostname")
	if err != nil {
		f, err = os.Open("/proc/version")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pid := strconv.Itoa(os.Getpid())
	fdPath := "/proc/" + pid + "/fd/" + strconv.Itoa(int(f.Fd()))
	for mode, r := range rootModes(t, "/") {
		for _, p := range []string{
			"/proc/" + pid + "/root/etc/passwd",
			"/proc/" + pid + "/cwd/.",
			fdPath + "/x",
			"/proc/thread-self/root/etc",
		} {
			if _, err := r.Stat(p); !errors.Is(err, unix.ELOOP) {
				t.Errorf("%s: Stat(%q) err %v, want ELOOP", mode, p, err)
			}
		}
		// A final magic link is reported, not followed.
		st, err := r.Stat(fdPath)
		if err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK {
			t.Errorf("%s: Stat(%q) = mode %o err %v, want the symlink", mode, fdPath, st.Mode, err)
		}
		if _, err := r.Open(fdPath, unix.O_RDONLY); !errors.Is(err, unix.ELOOP) {
			t.Errorf("%s: Open(%q, O_RDONLY) err %v, want ELOOP", mode, fdPath, err)
		}
	}
}

func TestRootOpen(t *testing.T) {
	dir := t.TempDir()
	buildTree(t, dir, `
file d/f
symlink l d`)
	for mode, r := range rootModes(t, dir) {
		f, err := r.Open("/l/f", unix.O_RDONLY)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		b := make([]byte, 16)
		n, _ := f.Read(b)
		f.Close()
		if string(b[:n]) != "d/f" {
			t.Errorf("%s: read %q", mode, b[:n])
		}
		d, err := r.Open("/l", unix.O_RDONLY|unix.O_DIRECTORY)
		if !errors.Is(err, unix.ELOOP) && !errors.Is(err, unix.ENOTDIR) {
			t.Errorf("%s: opening a final symlink as a directory: %v %v", mode, d, err)
		}
		d, err = r.Open("/l/", unix.O_PATH)
		if err != nil {
			t.Errorf("%s: %v", mode, err)
		} else {
			d.Close()
		}
	}
}

// TestRootOpenat2Retries: EAGAIN (a rename or mount raced with "..") and
// EXDEV (complete_walk found the result moved out of the root) are
// retried within one bound; a persisting error is returned, without
// falling back to the walk.
func TestRootOpenat2Retries(t *testing.T) {
	dir := t.TempDir()
	buildTree(t, dir, "file f")
	r, err := OpenRootPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, errno := range []unix.Errno{unix.EAGAIN, unix.EXDEV} {
		calls := 0
		r.openat2 = func(fd int, p string, how *unix.OpenHow) (int, error) {
			if calls++; calls <= 3 {
				return -1, errno
			}
			return unix.Openat2(fd, p, how)
		}
		if st, err := r.Stat("/f"); err != nil || st.Ino != lstatIno(t, dir+"/f") || calls != 4 {
			t.Errorf("after 3 %v: ino %d err %v calls %d", errno, st.Ino, err, calls)
		}
		calls = 0
		r.openat2 = func(int, string, *unix.OpenHow) (int, error) { calls++; return -1, errno }
		if _, err := r.Stat("/f"); !errors.Is(err, errno) || calls != openat2Retries || r.noOpenat2.Load() {
			t.Errorf("endless %v: err %v after %d calls, fell back to the walk: %v", errno, err, calls, r.noOpenat2.Load())
		}
	}
	// EXDEV and EAGAIN share one bound.
	calls := 0
	r.openat2 = func(int, string, *unix.OpenHow) (int, error) {
		if calls++; calls%2 == 0 {
			return -1, unix.EAGAIN
		}
		return -1, unix.EXDEV
	}
	if _, err := r.Stat("/f"); err == nil || calls != openat2Retries || r.noOpenat2.Load() {
		t.Errorf("endless EXDEV/EAGAIN: err %v after %d calls", err, calls)
	}
}

// TestRootSub: a sub-root resolves inside itself only, whatever the
// symlinks in it say.
func TestRootSub(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "layer", "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../secret", filepath.Join(dir, "layer", "d", "up")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/secret", filepath.Join(dir, "layer", "abs")); err != nil {
		t.Fatal(err)
	}
	root, err := OpenRootPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	sub, err := root.Sub("/layer")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var want unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, "layer", "d"), &want); err != nil {
		t.Fatal(err)
	}
	if st, err := sub.Stat("/d"); err != nil || st.Ino != want.Ino {
		t.Fatalf("Sub.Stat(/d) = %v, %v; want ino %d", st.Ino, err, want.Ino)
	}
	// Through a symlink, the sub-root is the root: neither ../../secret
	// nor /secret reaches the file outside the layer.
	for _, p := range []string{"/d/up/x", "/abs/x", "/../secret"} {
		if _, err := sub.Stat(p); err == nil {
			t.Errorf("Sub.Stat(%q) succeeded: it left the layer", p)
		}
	}
}

// TestRootSubFollowsLayerSymlinks: a layer named by a symlink, as
// containers/storage names lowers (overlay/l/<short> -> ../<id>/diff),
// opens the directory the link names, through chains of relative and
// absolute links, and never one outside the root, whichever way the
// links point; a loop is ELOOP and a link to a file ENOTDIR. Both the
// openat2 and the component-walk resolution (kernels < 5.6).
func TestRootSubFollowsLayerSymlinks(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "r") // the root; base/outside is beside it
	buildTree(t, base, `
dir outside/data
`)
	buildTree(t, dir, `
dir storage/overlay/abc/diff/data
symlink storage/overlay/l/SHORT ../abc/diff
symlink storage/overlay/l/ABS /storage/overlay/abc/diff
symlink storage/overlay/l/CHAIN SHORT
symlink storage/overlay/l/VIA /storage/via/diff
symlink storage/via ../storage/overlay/abc
symlink storage/overlay/l/OUT ../../../../outside
symlink storage/overlay/l/LOOP LOOP2
symlink storage/overlay/l/LOOP2 LOOP
file storage/overlay/l/FILE
symlink storage/overlay/l/TOFILE FILE
`)
	// OUT, followed as the host would, is base/outside: a directory. Inside
	// the root, ../.. stops at the root: <root>/outside, which is not there.
	var want unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, "storage/overlay/abc/diff"), &want); err != nil {
		t.Fatal(err)
	}
	for mode, root := range rootModes(t, dir) {
		for _, name := range []string{"SHORT", "ABS", "CHAIN", "VIA"} {
			sub, err := root.Sub("/storage/overlay/l/" + name)
			if err != nil {
				t.Errorf("%s: Sub(l/%s): %v", mode, name, err)
				continue
			}
			if st, err := sub.Stat("/"); err != nil || st.Ino != want.Ino {
				t.Errorf("%s: Sub(l/%s) is ino %d (%v), want the layer's %d", mode, name, st.Ino, err, want.Ino)
			}
			if _, err := sub.Stat("/data"); err != nil {
				t.Errorf("%s: Sub(l/%s).Stat(/data): %v", mode, name, err)
			}
			sub.Close()
		}
		for name, wantErr := range map[string]unix.Errno{"OUT": unix.ENOENT, "LOOP": unix.ELOOP, "TOFILE": unix.ENOTDIR, "FILE": unix.ENOTDIR} {
			sub, err := root.Sub("/storage/overlay/l/" + name)
			if err == nil {
				sub.Close()
				t.Errorf("%s: Sub(l/%s) succeeded, want %v", mode, name, wantErr)
				continue
			}
			if !errors.Is(err, wantErr) {
				t.Errorf("%s: Sub(l/%s): %v, want %v", mode, name, err, wantErr)
			}
		}
	}
}
