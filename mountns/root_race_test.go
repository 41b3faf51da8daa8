package mountns

import (
	"errors"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A rename race against resolution. The tree (base = a temp dir, the root
// is base/root):
//
//	base/root/a/            d lives here while inside the root
//	base/root/secret/f      the inside marker
//	base/secret/f           the outside marker: where "../.." from d leads
//	                        once d is in base/out
//	base/out/               d's place outside the root
//	base/x/f                x: never inside the root
//	d/sub/f, d/up -> ../../secret
//
// The renamer cycles: move d out to base/out/d, exchange d/sub with x
// (RENAME_EXCHANGE), exchange them back, move d in. Meanwhile the resolver
// opens, through the root:
//
//	/a/d/../../secret/f and /a/d/up/f, which must be the inside marker (or
//	fail): the outside marker is reached only by a ".." above the root;
//	/a/d/sub/f, which must be d's sub/f (or fail): x/f, found only by
//	continuing a walk in d after d left the root, was never inside it.
//
// Errors are allowed (d is often not there). The outside marker never
// moves, so it is also checked by the path of the fd (/proc/self/fd).
type renameRace struct {
	base                    string
	inside, outside, x, sub unix.Stat_t
}

func newRenameRace(t *testing.T) *renameRace {
	base := t.TempDir()
	buildTree(t, base, `
dir root/a/d/sub
file root/a/d/sub/f
symlink root/a/d/up ../../secret
file root/secret/f
file secret/f
dir out
file x/f`)
	rr := &renameRace{base: base}
	for _, s := range []struct {
		st   *unix.Stat_t
		path string
	}{{&rr.inside, "root/secret/f"}, {&rr.outside, "secret/f"}, {&rr.x, "x/f"}, {&rr.sub, "root/a/d/sub/f"}} {
		if err := unix.Stat(base+"/"+s.path, s.st); err != nil {
			t.Fatal(err)
		}
	}
	return rr
}

func sameFile(a, b *unix.Stat_t) bool { return a.Dev == b.Dev && a.Ino == b.Ino }

// rename runs the renamer until stop is closed; it returns the number of
// cycles and the first error.
func (rr *renameRace) rename(stop <-chan struct{}) (int, error) {
	in, out := rr.base+"/root/a/d", rr.base+"/out/d"
	for n := 0; ; n++ {
		select {
		case <-stop:
			return n, nil
		default:
		}
		for _, step := range []func() error{
			func() error { return unix.Rename(in, out) },
			func() error {
				return unix.Renameat2(unix.AT_FDCWD, out+"/sub", unix.AT_FDCWD, rr.base+"/x", unix.RENAME_EXCHANGE)
			},
			func() error {
				return unix.Renameat2(unix.AT_FDCWD, out+"/sub", unix.AT_FDCWD, rr.base+"/x", unix.RENAME_EXCHANGE)
			},
			func() error { return unix.Rename(out, in) },
		} {
			if err := step(); err != nil {
				return n, err
			}
		}
	}
}

// raceResult counts what the resolver saw.
type raceResult struct {
	ok, failed, xdev int
	escapes          []string // reached the outside marker or x
	outsideByPath    []string
}

// resolve opens the three paths through r until the deadline or the
// iteration cap, checking every fd it gets.
func (rr *renameRace) resolve(t *testing.T, r *Root, deadline time.Time, iterations int) raceResult {
	var res raceResult
	outsidePath := rr.base + "/secret/f"
	check := func(p string, want *unix.Stat_t) {
		f, err := r.Open(p, unix.O_PATH)
		if err != nil {
			res.failed++
			if errors.Is(err, unix.EXDEV) {
				res.xdev++
			}
			return
		}
		defer f.Close()
		res.ok++
		var st unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			t.Errorf("fstat %s: %v", p, err)
			return
		}
		if sameFile(&st, &rr.outside) || sameFile(&st, &rr.x) || !sameFile(&st, want) {
			res.escapes = append(res.escapes, p+" -> ino "+strconv.FormatUint(st.Ino, 10))
		}
		if link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd()))); err == nil && link == outsidePath {
			res.outsideByPath = append(res.outsideByPath, p+" -> "+link)
		}
	}
	for i := 0; i < iterations && time.Now().Before(deadline); i++ {
		check("/a/d/../../secret/f", &rr.inside)
		check("/a/d/up/f", &rr.inside)
		check("/a/d/sub/f", &rr.sub)
	}
	return res
}

// race runs the renamer against the resolver for about a second.
func (rr *renameRace) race(t *testing.T, r *Root) raceResult {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var cycles int
	var renameErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		cycles, renameErr = rr.rename(stop)
	}()
	res := rr.resolve(t, r, time.Now().Add(time.Second), 100000)
	close(stop)
	wg.Wait()
	if renameErr != nil {
		t.Fatalf("renamer, after %d cycles: %v", cycles, renameErr)
	}
	t.Logf("%d rename cycles; %d resolutions succeeded, %d failed (%d EXDEV)", cycles, res.ok, res.failed, res.xdev)
	if len(res.escapes) > 0 {
		t.Errorf("%d resolutions reached an object outside the root, e.g. %q", len(res.escapes), res.escapes[0])
	}
	if len(res.outsideByPath) > 0 {
		t.Errorf("%d fds are the outside marker by their path, e.g. %q", len(res.outsideByPath), res.outsideByPath[0])
	}
	return res
}

// TestRootRenameRaceOpenat2: with RESOLVE_IN_ROOT the kernel refuses
// every escape the renamer offers: "..", a relative symlink and the walk
// on in a directory moved out (complete_walk's EXDEV). Its EXDEVs are
// retried: none reaches the caller (32 racing lookups in a row would be
// needed).
func TestRootRenameRaceOpenat2(t *testing.T) {
	rr := newRenameRace(t)
	r, err := OpenRootPath(rr.base + "/root")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var raw, rawXdev, rawAgain atomic.Int64
	r.openat2 = func(fd int, p string, how *unix.OpenHow) (int, error) {
		raw.Add(1)
		fd, err := unix.Openat2(fd, p, how)
		switch err {
		case unix.EXDEV:
			rawXdev.Add(1)
		case unix.EAGAIN:
			rawAgain.Add(1)
		}
		return fd, err
	}
	res := rr.race(t, r)
	t.Logf("openat2: %d calls, %d EXDEV and %d EAGAIN from the kernel, retried", raw.Load(), rawXdev.Load(), rawAgain.Load())
	if res.xdev > 0 {
		t.Errorf("%d resolutions failed EXDEV: it was not retried", res.xdev)
	}
	if r.noOpenat2.Load() {
		t.Errorf("openat2 was given up for the walk")
	}
}

// TestRootRenameRaceWalk: the fallback walk (openat2 ENOSYS, as on < 5.6)
// pops ".." from its own stack of directory fds and restarts absolute
// symlinks at the root fd, so neither leads out of the root, however the
// renames go.
func TestRootRenameRaceWalk(t *testing.T) {
	rr := newRenameRace(t)
	r, err := OpenRootPath(rr.base + "/root")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.openat2 = func(int, string, *unix.OpenHow) (int, error) { return -1, unix.ENOSYS }
	rr.race(t, r)
	if !r.noOpenat2.Load() {
		t.Errorf("the walk was not used")
	}
}

// TestWalkUnderRoot: the walk's final check accepts what is under the root
// (component-wise) and refuses, with EXDEV, an fd outside it.
func TestWalkUnderRoot(t *testing.T) {
	for _, c := range []struct {
		p, root string
		under   bool
	}{
		{"/r", "/r", true},
		{"/r/a", "/r", true},
		{"/r/a (deleted)", "/r", true},
		{"/rx/a", "/r", false},
		{"/r (deleted)/a", "/r", false},
		{"/", "/r", false},
		{"/anything", "/", true},
		{"/r/a\nb/c", "/r/a\nb", true},
	} {
		if got := pathUnder(c.p, c.root); got != c.under {
			t.Errorf("pathUnder(%q, %q) = %v", c.p, c.root, got)
		}
	}
	base := t.TempDir()
	buildTree(t, base, "file root/in\nfile out")
	r, err := OpenRootPath(base + "/root")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rp, err := r.rootPath()
	if err != nil || rp != base+"/root" {
		t.Fatalf("rootPath = %q, %v; want %s/root", rp, err, base)
	}
	for name, want := range map[string]error{"root/in": nil, "out": unix.EXDEV, "root": nil} {
		fd, err := unix.Open(base+"/"+name, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.walkUnderRoot(fd, rp); err != want {
			t.Errorf("walkUnderRoot(%s) = %v, want %v", name, err, want)
		}
		unix.Close(fd)
	}
	// The root renamed between the two readings of its path: EXDEV.
	fd, err := unix.Open(base+"/root/in", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := os.Rename(base+"/root", base+"/moved"); err != nil {
		t.Fatal(err)
	}
	if err := r.walkUnderRoot(fd, rp); err != unix.EXDEV {
		t.Errorf("walkUnderRoot after the root moved = %v, want EXDEV", err)
	}
}
