package proto

import (
	criucore "github.com/checkpoint-restore/go-criu/v7/crit/images/criu-core"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/fdinfo"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/fh"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/fown"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/fs"
	ghostfile "github.com/checkpoint-restore/go-criu/v7/crit/images/ghost-file"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/inventory"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/mm"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/mnt"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/pstree"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/regfile"
	remapfpath "github.com/checkpoint-restore/go-criu/v7/crit/images/remap-file-path"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/vma"
)

// Message types of the images ovlfix reads and writes: aliases of go-criu v7's generated
// types, so that no other package imports go-criu. Field names follow CRIU's .proto files
// (images/*.proto); all are proto2, optional fields are pointers.
type (
	FileEntry        = fdinfo.FileEntry          // files.img: file_entry
	FdinfoEntry      = fdinfo.FdinfoEntry        // fdinfo-N.img: fdinfo_entry
	FdTypes          = fdinfo.FdTypes            // enum fd_types
	RegFileEntry     = regfile.RegFileEntry      // file_entry.reg
	FownEntry        = fown.FownEntry            // reg_file_entry.fown: all five fields required
	MntEntry         = mnt.MntEntry              // mountpoints-N.img: mnt_entry
	Fstype           = mnt.Fstype                // enum fstype (mnt_entry.fstype is a uint32)
	IrmapCacheEntry  = fh.IrmapCacheEntry        // irmap-cache: irmap_cache_entry
	PstreeEntry      = pstree.PstreeEntry        // pstree.img
	TaskKobjIdsEntry = criucore.TaskKobjIdsEntry // ids-N.img: files_id, mnt_ns_id, ...
	FsEntry          = fs.FsEntry                // fs-N.img: cwd_id, root_id
	MmEntry          = mm.MmEntry                // mm-N.img: exe_file_id, vmas
	VmaEntry         = vma.VmaEntry              // mm_entry.vmas: shmid is the file id of a file mapping
	InventoryEntry   = inventory.InventoryEntry  // inventory.img
	// RemapFilePathEntry is remap-fpath.img's remap_file_path_entry: a
	// files.img entry (orig_id) restored through a link remap (remap_id is
	// another files.img id), a ghost (ghost-file-<remap_id in hex>.img) or
	// a dead task's procfs dir (remap_id is the pid).
	RemapFilePathEntry = remapfpath.RemapFilePathEntry
	RemapType          = remapfpath.RemapType     // enum remap_type
	GhostFileEntry     = ghostfile.GhostFileEntry // ghost-file-N.img: the first entry, then the data
)

// remap_type values (remap-file-path.proto).
const (
	RemapLinked = remapfpath.RemapType_LINKED
	RemapGhost  = remapfpath.RemapType_GHOST
	RemapProcfs = remapfpath.RemapType_PROCFS
)

// fd_types values ovlfix uses (fdinfo.proto).
const (
	FdReg    = fdinfo.FdTypes_REG
	FdUnixSk = fdinfo.FdTypes_UNIXSK
)

// fstype values (mnt.proto) of the filesystems ovlfix records in
// mountpoints-N.img; any other is AUTO with fsname, as CRIU does.
const (
	FstypeProc       = mnt.Fstype_PROC
	FstypeSysfs      = mnt.Fstype_SYSFS
	FstypeDevtmpfs   = mnt.Fstype_DEVTMPFS
	FstypeBinfmtMisc = mnt.Fstype_BINFMT_MISC
	FstypeTmpfs      = mnt.Fstype_TMPFS
	FstypeDevpts     = mnt.Fstype_DEVPTS
	FstypePstore     = mnt.Fstype_PSTORE
	FstypeSecurityfs = mnt.Fstype_SECURITYFS
	FstypeFusectl    = mnt.Fstype_FUSECTL
	FstypeDebugfs    = mnt.Fstype_DEBUGFS
	FstypeCgroup     = mnt.Fstype_CGROUP
	FstypeMqueue     = mnt.Fstype_MQUEUE
	FstypeFuse       = mnt.Fstype_FUSE
	FstypeAuto       = mnt.Fstype_AUTO
	FstypeOverlayfs  = mnt.Fstype_OVERLAYFS
	FstypeAutofs     = mnt.Fstype_AUTOFS
	FstypeTracefs    = mnt.Fstype_TRACEFS
	FstypeCgroup2    = mnt.Fstype_CGROUP2
)
