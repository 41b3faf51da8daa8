package resolve

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/mountns"
	"golang.org/x/sys/unix"
)

// resolveCandidates handles a path object whose mount id is in no
// mountinfo of the target: on 3.18–4.1 (and stable trees without 4bacc9c)
// an fd on an overlay non-directory IS the layer file, opened on a private
// clone of the layer's mount. Its link is relative to the layer directory,
// i.e. to the overlay's root ("/a/foo", not "/mnt/a/foo"); its stat is the
// layer inode (docs/kernel-quirks.md Matrix A). want is that stat.
//
// docs/design.md §3.2: for each overlay mount M (mountpoint P, mountinfo root
// R) the link L maps to P + (L − R) only if L lies under R, which is what
// makes bind mounts of an overlay subtree work (CRIU ignores R). A
// candidate must be visible at that path in the target (Covering) and is
// confirmed one of two ways: its stat in the target root is the held inode
// (on 3.18–4.11 overlay stat returned the real inode), or the held inode
// sits at L in one of M's layer directories. Every match is kept; one is
// Fixed, several are Ambiguous (choice rules in choose), none Unresolved.
// Cost: O(overlay mounts) stats, paid only by objects the kernel got wrong.
// A container chooses both the number of such objects (fds opened before
// it moved to a new mount namespace: up to nofile, 1,048,576) and the
// number of overlay mounts (bind mounts of its own overlay: up to
// fs.mount-max, 100,000), so each mount tried spends one entry of the
// process's budget (watchMeter.candidate, WatchBudget); once it is spent
// the object is unresolved with a "budget:" reason, never decided on the
// mounts tried so far.
func (r *Resolver) resolveCandidates(o *fdinfo.Object, link []byte, want *fdinfo.Stat, res *Result) {
	res.Path = link
	res.note("kernel mount id %d is in no mountinfo of the target: trying the %d overlay mount(s) as 3.18–4.1 kernels need", mntIDOf(o), len(r.Table.Overlays()))
	var matches []candidate
	for _, m := range r.Table.Overlays() {
		if err := r.meter.candidate(); err != nil {
			res.unresolved("%v (overlay mounts tried as candidates for %s count against it; mount %d and the rest were not tried)", err, quote.Bytes(link), m.ID)
			return
		}
		c, ok := r.tryCandidate(m, link, want, res)
		res.Candidates = append(res.Candidates, Candidate{Path: c.path, MntID: m.ID, Matched: ok})
		if ok {
			matches = append(matches, c)
		}
	}
	switch len(matches) {
	case 0:
		if res.Deleted {
			res.unresolved("deleted while open and its mount id %d is in no mountinfo: no path to confirm a mount with", mntIDOf(o))
			return
		}
		res.unresolved("no overlay mount of the target shows %s with the held inode %s (over-mounted, outside the target root, or not on an overlay)",
			quote.Bytes(link), devIno(want.Dev, want.Ino))
		return
	case 1:
		res.Verdict = Fixed
		res.Reason = fmt.Sprintf("link %s and mount id %d are the layer's (3.18–4.1 kernels); the file is %s on mount %d",
			quote.Bytes(link), mntIDOf(o), quote.Bytes(matches[0].path), matches[0].m.ID)
		matches[0].apply(res)
		return
	}
	best, why := r.choose(o, matches)
	res.Verdict = Ambiguous
	res.Reason = fmt.Sprintf("%d overlay mounts show the held inode (shared layers); chose mount %d: %s", len(matches), best.m.ID, why)
	best.apply(res)
}

// candidate is one confirmed (path, mount) for an object.
type candidate struct {
	m     *mountns.Mount
	path  []byte
	st    unix.Stat_t // stat of path in the target root: the overlay's view
	how   string
	layer bool // confirmed through a layer directory
}

func (c *candidate) apply(res *Result) {
	res.Path, res.MntID, res.Mount = c.path, c.m.ID, c.m
	res.Dev, res.Ino = c.st.Dev, c.st.Ino
}

// tryCandidate maps link onto overlay mount m and checks it.
func (r *Resolver) tryCandidate(m *mountns.Mount, link []byte, want *fdinfo.Stat, res *Result) (candidate, bool) {
	c := candidate{m: m}
	if !under(link, m.Root) {
		res.note("mount %d: %s is not under its root %q", m.ID, quote.Bytes(link), m.Root)
		return c, false
	}
	c.path = joinMount(m.Mountpoint, link[len(strings.TrimSuffix(m.Root, "/")):])
	if vis := r.Table.Covering(string(c.path)); vis != m {
		res.note("mount %d: %s is not visible there (covered by mount %d)", m.ID, quote.Bytes(c.path), idOf(vis))
		return c, false
	}
	st, err := r.Root.Stat(string(c.path))
	if err != nil {
		res.note("mount %d: stat %s: %v", m.ID, quote.Bytes(c.path), err)
		return c, false
	}
	c.st = st
	if st.Dev == want.Dev && st.Ino == want.Ino {
		c.how = "stat in the target root is the held inode"
	}
	if r.Layers != nil {
		hit, ok, notes := r.Layers.Find(m, string(link), want.Dev, want.Ino)
		for _, n := range notes {
			res.note("mount %d: %s", m.ID, n)
		}
		if ok {
			c.layer = true
			c.how = fmt.Sprintf("the held inode is %s in its %s (%s)", quote.Bytes(link), hit.Layer, hit.Dir)
		}
	}
	if c.how == "" {
		res.note("mount %d: %s exists but is %s, not the held inode %s", m.ID, quote.Bytes(c.path), devIno(st.Dev, st.Ino), devIno(want.Dev, want.Ino))
		return c, false
	}
	res.note("mount %d: %s: %s", m.ID, quote.Bytes(c.path), c.how)
	return c, true
}

// choose picks among several matches (docs/design.md §3.3): a writable fd is
// on an upper inode, unique to one overlay, so several matches mean a
// read-only fd on a shared lower file. Prefer, in order: a match confirmed
// in the mount's own layers, the mount that is the target's root or holds
// its cwd, then the lowest mount id.
func (r *Resolver) choose(o *fdinfo.Object, ms []candidate) (candidate, string) {
	rank := func(c candidate) (int, string) {
		switch {
		case !c.layer:
			return 3, ""
		case c.m.Mountpoint == "/":
			return 0, "it is the target's root"
		case r.CwdMntID == c.m.ID:
			return 1, "it holds the target's cwd"
		}
		return 2, "lowest mount id"
	}
	sort.SliceStable(ms, func(i, j int) bool {
		ri, _ := rank(ms[i])
		rj, _ := rank(ms[j])
		if ri != rj {
			return ri < rj
		}
		return ms[i].m.ID < ms[j].m.ID
	})
	_, why := rank(ms[0])
	if why == "" {
		why = "lowest mount id"
	}
	return ms[0], why
}

func joinMount(mountpoint string, rest []byte) []byte {
	out := []byte(strings.TrimSuffix(mountpoint, "/"))
	if len(rest) == 0 || rest[0] != '/' {
		out = append(out, '/')
	}
	out = append(out, rest...)
	if len(out) == 0 {
		return []byte("/")
	}
	return out
}

func idOf(m *mountns.Mount) int {
	if m == nil {
		return -1
	}
	return m.ID
}
