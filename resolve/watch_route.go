package resolve

// WatchRoute names the way the path of an fsnotify watch was found
// (resolveWatch tries them in this order); Result.Route holds it.
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
