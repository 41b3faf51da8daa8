package inspect

import "github.com/ovlfix/ovlfix/manifest"

// Listing is what a restore of one checkpoint will reopen.
type Listing struct {
	// Path and Format of the checkpoint (checkpoint.Checkpoint).
	Path   string `json:"path"`
	Format string `json:"format"`
	// Files are the REG entries of files.img, in files.img order.
	Files []*File `json:"files"`
	// Manifest says whether ovlfix-manifest.json was there and read; a
	// manifest that could not be used is Problem, the listing stands.
	Manifest ManifestStatus `json:"manifest"`
	// Notes are images that are missing or name things that are not there
	// (a task without ids-N.img, an fd of an unknown file id): each one a
	// sentence naming the image and the id.
	Notes []string `json:"notes,omitempty"`
}

// ManifestStatus is how ovlfix-manifest.json contributed.
type ManifestStatus struct {
	Present bool   `json:"present"`
	Writer  string `json:"writer,omitempty"`
	Tool    string `json:"tool,omitempty"`
	Problem string `json:"problem,omitempty"`
}

// File is one REG entry of files.img.
type File struct {
	ID   uint32 `json:"id"`
	Name string `json:"name"` // reg.name: the path CRIU reopens, from the mount namespace's root
	// Flags are reg.flags, the open(2) flags of the fd (O_ACCMODE, O_APPEND, ...).
	Flags uint32 `json:"flags"`
	// MntID is reg.mnt_id, -1 when not recorded (a dump without a mount
	// namespace of its own: the name is then a path from the host's root).
	MntID int    `json:"mnt_id"`
	Mount *Mount `json:"mount,omitempty"` // nil: MntID -1 or not in any mountpoints image
	// Size is reg.size when recorded (HasSize): CRIU records it for a
	// regular file unless the fd is O_WRONLY|O_APPEND.
	Size    uint64 `json:"size"`
	HasSize bool   `json:"has_size"`
	// Mode is reg.mode (st_mode with type bits) when recorded (HasMode).
	Mode    uint32 `json:"mode"`
	HasMode bool   `json:"has_mode"`
	// BuildID is reg.build_id as bytes (CRIU stores it in uint32 words,
	// little-endian on the dumping host), nil when not recorded.
	BuildID []byte `json:"build_id,omitempty"`
	// Ext: an external file (--external file[...]), restored from an
	// inherited fd; nothing in the root is opened for it.
	Ext     bool              `json:"ext,omitempty"`
	Holders []manifest.Holder `json:"holders"`
	// Remap is how an unlinked file is restored; nil for a linked one.
	Remap *Remap `json:"remap,omitempty"`
	// RemapTargetOf lists the ids of the files this entry is the link
	// remap of (CRIU's link_remap.N file, created at dump time).
	RemapTargetOf []uint32 `json:"remap_target_of,omitempty"`
	// Provenance is the manifest's record of this entry, nil without one.
	Provenance *manifest.File `json:"provenance,omitempty"`
}

// Remap types, as remap-fpath.img's remap_type names them.
const (
	RemapLinked = "linked" // restored by linking another files.img entry (link_remap.N) to Name
	RemapGhost  = "ghost"  // recreated from ghost-file-<id>.img, then unlinked
	RemapProcfs = "procfs" // a dead task's /proc/<pid>: a helper task is forked
)

// Remap is a remap-fpath.img entry.
type Remap struct {
	Type string `json:"type"`
	// RemapID is remap_id: a files.img id (linked), a ghost image id
	// (ghost) or a pid (procfs).
	RemapID uint32 `json:"remap_id"`
	// Image is the ghost's image name ("ghost-file-1a.img"); ImagePresent
	// whether the checkpoint holds it; Ghost its first entry when it could
	// be read, GhostProblem why not.
	Image        string     `json:"image,omitempty"`
	ImagePresent bool       `json:"image_present,omitempty"`
	Ghost        *GhostInfo `json:"ghost,omitempty"`
	GhostProblem string     `json:"ghost_problem,omitempty"`
	// LinkedName is the name of the linked remap's files.img entry; "" when
	// remap_id is not in files.img.
	LinkedName string `json:"linked_name,omitempty"`
}

// GhostInfo is the ghost_file_entry CRIU recreates the file from.
type GhostInfo struct {
	Mode    uint32 `json:"mode"`
	Size    uint64 `json:"size"`
	HasSize bool   `json:"has_size"`
}

// Mount is a mnt_entry of a mountpoints image.
type Mount struct {
	ID         int    `json:"id"`
	Mountpoint string `json:"mountpoint"` // as CRIU recorded it, from the namespace's root
	Root       string `json:"root"`       // the mount's root within its filesystem
	FSType     string `json:"fstype"`     // the fstype enum's name, or fsname for AUTO
	Source     string `json:"source"`
	Image      string `json:"image"` // the mountpoints-N.img it is in
}
