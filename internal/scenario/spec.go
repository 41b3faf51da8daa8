// Package scenario builds a real overlay in a private mount namespace and a
// child process that holds files on it (open fds, mmaps, inotify watches,
// its cwd), and reports the truth about each: the overlay path, the overlay
// mount's id and stat(2) of the path, all read by the child itself inside
// its namespace. `ovlfix demo` and the live tests use it; the expected
// values of a test come from this manifest, never from ovlfix's output.
//
// The child is this same executable, re-executed with the spec in the
// environment: a program that uses Start must call MaybeRunChild first
// thing in main (or TestMain).
//
// Nothing leaks to the host: the child makes / MS_REC|MS_PRIVATE in its new
// mount namespace and mounts a tmpfs on the base directory, so every mount
// disappears with the child; the parent removes the empty base directory.
package scenario

// Spec describes the overlay and what the child does with it.
type Spec struct {
	// Base is an existing, empty host directory. The child mounts a tmpfs
	// on it (in its own namespace) and builds lower/, upper/, work/ and
	// merged/ inside.
	Base string `json:"base"`
	// Files to create. Layer is "lower", "upper" or "both" (the lower one
	// gets copied up by opening it for writing through the overlay).
	Files []File `json:"files"`
	// Ops are what the child does, in order, once the overlay is mounted.
	Ops []Op `json:"ops"`
	// UserNS runs the child in a new user namespace mapping the caller's
	// uid to root (rootless; overlay then needs userxattr, Linux ≥ 5.11).
	UserNS bool `json:"userns,omitempty"`
}

// File is one file of the overlay. Name is relative to the layer root and
// may hold any bytes but "/" and NUL (tests use newlines and invalid UTF-8).
type File struct {
	Name    []byte `json:"name"`
	Layer   string `json:"layer"`
	Content string `json:"content"`
	// CopyUp (with Layer "lower") copies the file up before the ops run.
	CopyUp bool `json:"copy_up,omitempty"`
}

// Op is one action of the child on a path relative to the merged dir.
type Op struct {
	// Kind: "open" (O_RDONLY), "open-rw" (O_RDWR), "open-dir", "mmap"
	// (open, mmap MAP_SHARED one page, close the fd), "watch" (an inotify
	// watch; one inotify fd serves every watch), "chdir", "thread-open"
	// (a thread that unshares its file table, CLONE_FILES, and opens the
	// path there).
	Kind string `json:"kind"`
	Path []byte `json:"path"`
	// Count repeats an "open" (benchmarks hold thousands of fds); only
	// the first is reported in the manifest.
	Count int `json:"count,omitempty"`
}

// Manifest is what the child reports once it holds everything.
type Manifest struct {
	PID    int    `json:"pid"`
	Merged string `json:"merged"` // absolute overlay mount point
	// MntID is the overlay's mount id from the child's own mountinfo.
	MntID   int    `json:"mnt_id"`
	DevMaj  uint32 `json:"dev_major"` // overlay superblock dev (mountinfo)
	DevMin  uint32 `json:"dev_minor"`
	Kernel  string `json:"kernel"`
	Held    []Held `json:"held"`
	Inotify int    `json:"inotify_fd"` // -1 when no watch was asked for
}

// Held is one thing the child holds, with the truth about it.
type Held struct {
	Kind string `json:"kind"`          // "fd", "map", "watch", "cwd", "thread-fd"
	FD   int    `json:"fd"`            // fd number ("fd", "thread-fd"), inotify fd ("watch"), else -1
	TID  int    `json:"tid,omitempty"` // "thread-fd": the thread owning the private table
	WD   int    `json:"wd"`            // inotify watch descriptor, else 0
	Addr uint64 `json:"addr"`          // mapping start ("map"), else 0
	Path []byte `json:"path"`          // absolute overlay path
	Dev  uint64 `json:"dev"`           // stat(Path) in the child's namespace
	Ino  uint64 `json:"ino"`
}
