// Package manifest is ovlfix-manifest.json: written by `ovlfix dump -D`
// and the hook's post-dump into the images directory, it says for every
// REG entry of files.img where the file came from (the mount, its
// filesystem and, for overlays, the layer), as stat'ed while the tasks
// were frozen. It travels inside checkpoint archives (Podman and CRI-O
// copy the whole images directory), so `ovlfix inspect` and `verify` can
// read it on another host after the tasks are gone.
//
// The schema is versioned (Version); readers refuse a major version they
// do not know and ignore fields they do not know.
package manifest

// FileName is the manifest's name in the images directory.
const FileName = "ovlfix-manifest.json"

// Version is the schema version this package writes.
const Version = 1

// Manifest is the whole file.
type Manifest struct {
	Version int    `json:"version"`
	Tool    string `json:"tool"`   // "ovlfix" and its version
	Writer  string `json:"writer"` // "dump" (ovlfix dump -D) or "hook post-dump"
	Kernel  string `json:"kernel"` // uname -r of the dumping host
	// FilesImgSHA256 is Digest of the files.img this manifest describes,
	// as written next to it ("" from an older ovlfix): a reader refuses
	// the manifest for another files.img (a reused images directory).
	FilesImgSHA256 string `json:"files_img_sha256,omitempty"`
	Files          []File `json:"files"`
}

// File is one REG entry of files.img.
type File struct {
	ID   uint32 `json:"id"`   // files.img entry id
	Name string `json:"name"` // reg.name as files.img has it after ovlfix
	// NameB64 is the exact bytes of Name, base64 (Name replaces invalid
	// UTF-8 by U+FFFD).
	NameB64 string   `json:"name_b64"`
	Holders []Holder `json:"holders"`
	// The mount the file is reached through, as the target saw it.
	MntID      int    `json:"mnt_id"`
	Mountpoint string `json:"mountpoint,omitempty"`
	FSType     string `json:"fstype,omitempty"`
	Source     string `json:"source,omitempty"`
	// What stat(2) said of the held inode.
	Size int64  `json:"size"`
	Mode uint32 `json:"mode"` // st_mode, type bits included
	Dev  string `json:"dev"`  // "major:minor" of st_dev
	Ino  uint64 `json:"ino"`
	// MtimeNs is st_mtim in nanoseconds since the epoch, 0 when unknown
	// (a manifest of an older ovlfix). Overlay copy-up keeps the lower's
	// mtime and a write changes it, so verify can tell a copied-up file
	// that is still the image's from one the container changed.
	MtimeNs int64 `json:"mtime_ns,omitempty"`
	// Overlay: where in the overlay the file lives; nil when the mount
	// is not an overlay or the layer could not be told (Unresolved says
	// why).
	Overlay    *Overlay `json:"overlay,omitempty"`
	Unresolved string   `json:"unresolved,omitempty"`
}

// Holder is one task reference to the file.
type Holder struct {
	PID  int    `json:"pid"`
	Kind string `json:"kind"`          // "fd", "cwd", "root", "exe", "map"
	FD   int    `json:"fd"`            // Kind "fd" (written for that kind only: holder_json.go)
	Map  string `json:"map,omitempty"` // Kind "map": "start-end" in hex
}

// Where values of Overlay.
const (
	UpperOnly = "upper"     // only in the upper layer: created in the container
	CopiedUp  = "copied-up" // in upper, shadowing the same path in a lower layer
	Lower     = "lower"     // in lower layer Layer, never copied up
	Metacopy  = "metacopy"  // upper holds metadata only, data in lower Layer
	WhitedOut = "whiteout"  // held open but removed through the overlay
)

// Overlay is a file's place in an overlay mount.
type Overlay struct {
	Where string `json:"where"`
	// Layer is the index of the lower layer (0: the topmost lowerdir) that
	// holds the data (Lower, Metacopy, WhitedOut) or that a copied-up
	// file shadows (CopiedUp); -1 when none.
	Layer int `json:"layer"`
	// LayerDir is that layer's directory as the overlay's options name it
	// (the runtime's path), UpperDir the upperdir option.
	LayerDir string `json:"layer_dir,omitempty"`
	UpperDir string `json:"upper_dir,omitempty"`
	// Notes say how Where was told and what could not be checked (a
	// layer not reachable, an inode number that did not match).
	Notes []string `json:"notes,omitempty"`
}
