package resolve

import "github.com/ovlfix/ovlfix/mountns"

// reachMemo is what reaches remembers within one ResolveAll.
type reachMemo struct {
	// dirs maps a directory to the mount covering it.
	dirs map[string]*mountns.Mount
	// points holds every mountpoint of the table (built on first use).
	points map[string]struct{}
}

func newReachMemo() *reachMemo { return &reachMemo{dirs: map[string]*mountns.Mount{}} }

// reaches reports whether path, inside the target root, lies on mount m:
// Table.Covering(path) is m. The fast accept needs it for every fd (a
// directory over-mounted after the open hides the file although mnt_id
// and the link are right), so within one ResolveAll the answer for a
// directory is remembered: a process's fds sit in few directories. The
// mount of a clean absolute path (what d_path prints) that is no
// mountpoint itself is the mount of its directory; any other path, and
// every call outside ResolveAll (r.reach nil), goes to Covering.
//
// Cost per fd: a scan of the path and two map lookups without allocation;
// once per directory Covering (O(depth²) lookups), once per ResolveAll a
// set of the table's mountpoints (O(mounts)).
func (r *Resolver) reaches(path []byte, m *mountns.Mount) bool {
	memo := r.reach
	i := lastSlashIfClean(path)
	if memo == nil || i <= 0 {
		return r.Table.Covering(string(path)) == m
	}
	if memo.points == nil {
		memo.points = make(map[string]struct{}, len(r.Table.Mounts()))
		for _, mm := range r.Table.Mounts() {
			memo.points[mm.Mountpoint] = struct{}{}
		}
	}
	if _, ok := memo.points[string(path)]; ok { // e.g. a file bind-mounted on it
		return r.Table.Covering(string(path)) == m
	}
	dir := path[:i]
	cov, ok := memo.dirs[string(dir)]
	if !ok {
		cov = r.Table.Covering(string(dir))
		memo.dirs[string(dir)] = cov
	}
	return cov == m
}

// lastSlashIfClean returns the index of p's last '/' when p is absolute,
// below "/", and path.Clean would leave it as is (no empty, "." or ".."
// component, no trailing slash); else -1.
func lastSlashIfClean(p []byte) int {
	if len(p) < 2 || p[0] != '/' || p[len(p)-1] == '/' {
		return -1
	}
	start := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		switch c := p[start:i]; {
		case len(c) == 0, len(c) == 1 && c[0] == '.', len(c) == 2 && c[0] == '.' && c[1] == '.':
			return -1
		}
		if i < len(p) {
			start = i + 1
		}
	}
	return start - 1
}
