package proto

import (
	criucore "github.com/checkpoint-restore/go-criu/v7/crit/images/criu-core"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/fdinfo"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/fh"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/fown"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/fs"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/fsnotify"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/inventory"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/mm"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/mnt"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/pstree"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/regfile"
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
	FhEntry          = fh.FhEntry                // file handle of an fsnotify watch
	InotifyFileEntry = fsnotify.InotifyFileEntry // file_entry.ify
	InotifyWdEntry   = fsnotify.InotifyWdEntry   // one watch of an inotify fd
	PstreeEntry      = pstree.PstreeEntry        // pstree.img
	TaskKobjIdsEntry = criucore.TaskKobjIdsEntry // ids-N.img: files_id, mnt_ns_id, ...
	FsEntry          = fs.FsEntry                // fs-N.img: cwd_id, root_id
	MmEntry          = mm.MmEntry                // mm-N.img: exe_file_id, vmas
	VmaEntry         = vma.VmaEntry              // mm_entry.vmas: shmid is the file id of a file mapping
	InventoryEntry   = inventory.InventoryEntry  // inventory.img
)

// fd_types values (fdinfo.proto).
const (
	FdUnd       = fdinfo.FdTypes_UND
	FdReg       = fdinfo.FdTypes_REG
	FdPipe      = fdinfo.FdTypes_PIPE
	FdFifo      = fdinfo.FdTypes_FIFO
	FdInetSk    = fdinfo.FdTypes_INETSK
	FdUnixSk    = fdinfo.FdTypes_UNIXSK
	FdEventfd   = fdinfo.FdTypes_EVENTFD
	FdEventpoll = fdinfo.FdTypes_EVENTPOLL
	FdInotify   = fdinfo.FdTypes_INOTIFY
	FdSignalfd  = fdinfo.FdTypes_SIGNALFD
	FdPacketSk  = fdinfo.FdTypes_PACKETSK
	FdTty       = fdinfo.FdTypes_TTY
	FdFanotify  = fdinfo.FdTypes_FANOTIFY
	FdNetlinkSk = fdinfo.FdTypes_NETLINKSK
	FdNs        = fdinfo.FdTypes_NS
	FdTunf      = fdinfo.FdTypes_TUNF
	FdExt       = fdinfo.FdTypes_EXT
	FdTimerfd   = fdinfo.FdTypes_TIMERFD
	FdMemfd     = fdinfo.FdTypes_MEMFD
	FdBpfmap    = fdinfo.FdTypes_BPFMAP
)

// fstype values used by ovlfix (mnt.proto).
const (
	FstypeUnsupported = mnt.Fstype_UNSUPPORTED
	FstypeTmpfs       = mnt.Fstype_TMPFS
	FstypeAuto        = mnt.Fstype_AUTO
	FstypeOverlayfs   = mnt.Fstype_OVERLAYFS
)

// RegFileNoMntID is reg_file_entry.mnt_id's default: the mount was not recorded
// (the mount namespace was not dumped).
const RegFileNoMntID int32 = -1
