package resolve

import "strings"

// WatchRoute names the way the path of an fsnotify watch was found
// (resolveWatch tries them in this order).
type WatchRoute string

const (
	// RouteHint: a path the process itself holds open (fd, cwd, root, exe,
	// mapping) is that inode on the watch's superblock.
	RouteHint WatchRoute = "hint"
	// RouteHandle: the mark's file handle, decoded with open_by_handle_at
	// on a mount of that superblock inside the target root.
	RouteHandle WatchRoute = "handle"
	// RouteLayers: a walk of the overlay's layer directories (upper first)
	// found the inode number, and mountpoint + layer-relative path is it.
	RouteLayers WatchRoute = "layers"
	// RouteMergedWalk: a walk of the mount itself inside the target root.
	RouteMergedWalk WatchRoute = "merged-walk"
)

// routePrefix starts the evidence line naming the route that found a
// watch's path; Result.WatchRoute reads it back.
const routePrefix = "found by route "

// WatchRoute returns the route that found a watch's path, or "" when none
// did (or the result is not a watch's).
func (res *Result) WatchRoute() WatchRoute {
	for _, e := range res.Evidence {
		if rest, ok := strings.CutPrefix(e, routePrefix); ok {
			name, _, _ := strings.Cut(rest, ":")
			return WatchRoute(name)
		}
	}
	return ""
}

// routeSet selects watch routes; the zero value means all of them.
// Benchmarks and tests use it to time or pin one route.
type routeSet uint8

const (
	useHint routeSet = 1 << iota
	useHandle
	useLayers
	useMergedWalk
)

func (s routeSet) has(r routeSet) bool { return s == 0 || s&r != 0 }
