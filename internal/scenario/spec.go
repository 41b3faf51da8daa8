// Package scenario builds a real overlay in a private mount namespace and a
// child process that holds files on it (open fds, mmaps, inotify watches,
// its cwd), and reports the truth about each: the overlay path, the overlay
// mount's id and stat(2) of the path, all read by the child itself inside
// its namespace. `ovlfix demo` and the live tests use it; the expected
// values of a test come from this manifest, never from ovlfix's output.
// The package is part of the ovlfix binary (the demo) and so must not
// import testing: the *testing.T helpers live in internal/scenariotest.
//
// The child is this same executable, re-executed with the spec in the
// environment: a program that uses Start must call MaybeRunChild first
// thing in main (or TestMain).
//
// Nothing leaks to the host: the child makes / MS_REC|MS_PRIVATE in its new
// mount namespace and mounts a tmpfs on the base directory, so every mount
// disappears with the child; the parent removes the base directory.
//
// A spec is a list of steps (Steps); Files and Ops are a shorthand for the
// common case of one overlay, "main", on base/{lower,upper,work,merged},
// expanded into steps that run first.
package scenario

import "golang.org/x/sys/unix"

// Spec describes the overlay and what the child does with it.
type Spec struct {
	// Base is an existing, empty host directory. The child mounts a tmpfs
	// on it (in its own namespace) unless HostLayers, and builds the
	// overlays inside.
	Base string `json:"base"`
	// HostLayers keeps the layers on the host's filesystem (no tmpfs on
	// Base), so they stay reachable from the host's mount namespace as a
	// container runtime's layers are; the parent removes them at Stop.
	HostLayers bool `json:"host_layers,omitempty"`
	// Steps run in order after the Files/Ops shorthand.
	Steps []Step `json:"steps,omitempty"`
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

// Step is one action of the child. Paths are relative to Base (absolute
// in the new root after a "pivot" step).
//
//	tmpfs       mount a tmpfs on Path (Label names it in Manifest.Mounts)
//	mkdir       mkdir -p Path
//	write       write Content to Path (parents made)
//	overlay     mount an overlay on Path: Lower (top first), Upper, Work, extra Opts
//	bind        bind-mount Src on Path
//	open, open-rw, open-dir, mmap, watch, chdir, thread-open   as Op kinds
//	copyup      open Path O_RDWR through the overlay and close it
//	chmod       chmod Path 0600 (through a metacopy=on overlay: a
//	            metadata-only copy-up)
//	rename      rename Src to Path
//	unlink      unlink Path
//	umount      lazily unmount the mount on Path (umount -l, MNT_DETACH)
//	link        hard-link Src to Path
//	symlink     make Path a symlink whose text is Src (verbatim)
//	exec        copy the host program Src to Path and run it (sleep 3600)
//	            in a grandchild: its exe is on the overlay
//	pivot       pivot_root into Path (a mount); later paths are absolute
//	unshare-mnt move to a new mount namespace (a copy: new mount ids);
//	            what was opened before keeps the old namespace's mounts
//
// Label names the held object (Held.Label) or mount (Manifest.Mounts).
type Step struct {
	Do      string   `json:"do"`
	Path    []byte   `json:"path"`
	Src     []byte   `json:"src,omitempty"`
	Content string   `json:"content,omitempty"`
	Lower   []string `json:"lower,omitempty"`
	Upper   string   `json:"upper,omitempty"`
	Work    string   `json:"work,omitempty"`
	Opts    string   `json:"opts,omitempty"`
	Label   string   `json:"label,omitempty"`
	Count   int      `json:"count,omitempty"`
}

// MountRef identifies a mount the child made, read from its mountinfo
// right after mounting.
type MountRef struct {
	ID         int    `json:"id"`
	Major      uint32 `json:"major"`
	Minor      uint32 `json:"minor"`
	Mountpoint string `json:"mountpoint"` // as seen when mounted
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
	// Mounts are the labelled mounts; "main" is the shorthand's overlay.
	Mounts map[string]MountRef `json:"mounts"`
}

// Held is one thing the child holds, with the truth about it.
type Held struct {
	Kind  string `json:"kind"`            // "fd", "map", "watch", "cwd", "thread-fd", "exe"
	Label string `json:"label,omitempty"` // the step's label
	PID   int    `json:"pid,omitempty"`   // "exe": the grandchild running it
	FD    int    `json:"fd"`              // fd number ("fd", "thread-fd"), inotify fd ("watch"), else -1
	TID   int    `json:"tid,omitempty"`   // "thread-fd": the thread owning the private table
	WD    int    `json:"wd"`              // inotify watch descriptor, else 0
	Addr  uint64 `json:"addr"`            // mapping start ("map"), else 0
	Path  []byte `json:"path"`            // absolute overlay path
	Dev   uint64 `json:"dev"`             // stat(Path) in the child's namespace
	Ino   uint64 `json:"ino"`
	// MapsDev/MapsIno are what the child's own /proc/self/maps shows for a
	// mapping ("map"): before 6.8 the layer inode, not Dev/Ino.
	MapsDev uint64 `json:"maps_dev,omitempty"`
	MapsIno uint64 `json:"maps_ino,omitempty"`
}

// MapsTruthful reports whether the kernel's maps line for a mapping named
// the file as stat does (6.8+), or at least the overlay's superblock dev
// with the same inode; otherwise resolution must correct it.
func (h Held) MapsTruthful(m MountRef) bool {
	return h.MapsIno == h.Ino && (h.MapsDev == h.Dev || (unix.Major(h.MapsDev) == m.Major && unix.Minor(h.MapsDev) == m.Minor))
}
