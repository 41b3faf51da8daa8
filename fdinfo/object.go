// Package fdinfo reports what the kernel SAYS about the files of one process:
// its fds, cwd, root, exe, file-backed mappings and fsnotify watches, as read
// from /proc/<pid>/{fd,fdinfo,maps,map_files,cwd,root,exe}.
//
// Nothing here decides whether the kernel told the truth; that is package
// resolve's job. The parsers (ParseFdinfo, ParseMaps) are pure functions over
// io.Reader; the scanner (Scan, ScanTree) is a thin opener over /proc.
//
// Threat model: everything read here is untrusted. Link targets are raw bytes
// chosen by the target (they may hold newlines, " (deleted)", invalid UTF-8);
// fdinfo and maps text is kernel-formatted but its file-name parts are not.
// The scanner never follows a link by name: stat goes through the /proc magic
// link, which the kernel resolves to the open file itself.
package fdinfo

import "fmt"

// Kind says what sort of file reference an Object is.
type Kind int

const (
	KindFD    Kind = iota // an open file descriptor
	KindCwd               // the working directory (/proc/<pid>/cwd)
	KindRoot              // the root directory (/proc/<pid>/root)
	KindExe               // the executable (/proc/<pid>/exe)
	KindMap               // a file-backed mapping (/proc/<pid>/maps)
	KindWatch             // one inotify watch or fanotify inode mark
)

var kindNames = [...]string{"fd", "cwd", "root", "exe", "map", "watch"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Stat is the part of stat(2) the resolver compares. Dev is the userspace
// st_dev encoding (unix.Major/unix.Minor apply).
type Stat struct {
	Dev   uint64
	Ino   uint64
	Mode  uint32
	Size  int64
	Nlink uint64
	Rdev  uint64
	// MtimeNs is st_mtim in nanoseconds since the epoch (the manifest
	// records it: a copied-up file with the lower's mtime is unchanged).
	MtimeNs int64
}

// Object is one file reference of one task.
type Object struct {
	PID  int // the task (thread-group leader or thread) it was read from
	Kind Kind
	// FD is the fd number for KindFD, and the fsnotify fd for KindWatch; -1
	// otherwise.
	FD int
	// Link is the raw readlink of /proc/<pid>/fd/N (or cwd/root/exe, or the
	// map_files entry of a mapping when it could be read). Never a string:
	// the bytes are the target's.
	Link []byte
	// Stat is the stat of the magic link (what fstat on the fd would say);
	// nil when it failed, with StatErr saying why.
	Stat    *Stat
	StatErr error
	// Info is the parsed /proc/<pid>/fdinfo/N for KindFD (nil otherwise).
	Info *Info
	// Map describes a file-backed mapping (KindMap only).
	Map *Mapping
	// Watch describes one fsnotify mark (KindWatch only).
	Watch *Mark
	// Err records a race or a permission problem met while reading this
	// object (the fd closed mid-scan, map_files not permitted, ...). An
	// Object with Err set may be partial; it is kept so nothing is lost.
	Err error
}

// Name is a short human label: "fd 3", "cwd", "map 7f00-7f10", "watch 5:2".
func (o *Object) Name() string {
	switch o.Kind {
	case KindFD:
		return fmt.Sprintf("fd %d", o.FD)
	case KindMap:
		if o.Map != nil {
			return fmt.Sprintf("map %x-%x", o.Map.Start, o.Map.End)
		}
	case KindWatch:
		if o.Watch != nil {
			return fmt.Sprintf("watch %d:%x", o.FD, o.Watch.WD)
		}
	}
	return o.Kind.String()
}

// Info is the parsed content of /proc/<pid>/fdinfo/<fd>.
type Info struct {
	Pos   uint64 // "pos:", decimal
	Flags uint32 // "flags:", octal; includes O_CLOEXEC as the kernel adds it
	MntID int    // "mnt_id:", decimal; -1 when absent (kernels before 3.15)
	// Ino is the "ino:" line (decimal, ~5.14+); HasIno says whether it was there.
	Ino    uint64
	HasIno bool
	// Marks are the inotify/fanotify lines of an fsnotify fd.
	Marks []Mark
	// Fanotify holds the "fanotify flags:... event-flags:..." line, if any.
	Fanotify *FanotifyFlags
	// EventfdCount is "eventfd-count:" (hex); HasEventfd says it was present.
	EventfdCount uint64
	HasEventfd   bool
	// EpollTargets are the "tfd:" lines of an epoll fd.
	EpollTargets []EpollTarget
	// Extra keeps every line the parser did not interpret, verbatim and in
	// order (without the trailing newline), so nothing the kernel said is lost.
	Extra []string
}

// MarkKind distinguishes fsnotify lines.
type MarkKind int

const (
	MarkInotify       MarkKind = iota // "inotify wd:... ino:... sdev:..."
	MarkFanotifyInode                 // "fanotify ino:... sdev:..."
	MarkFanotifyMount                 // "fanotify mnt_id:..."
	MarkFanotifySuper                 // "fanotify sdev:..." (sb mark, no ino)
)

// Mark is one inotify watch or fanotify mark. All numeric fields are printed
// in hex by the kernel. Sdev is in the kernel's encoding MAJOR<<20|MINOR.
type Mark struct {
	Kind        MarkKind
	WD          int32  // inotify only
	Ino         uint64 // inode marks
	Sdev        uint32 // kernel dev_t encoding
	MntID       int    // fanotify mount marks (hex in fdinfo, decoded here)
	Mask        uint32
	IgnoredMask uint32
	MFlags      uint32 // fanotify only
	// HandleType and Handle are the exported file handle; HandleType is -1
	// when the kernel printed none.
	HandleBytes uint32
	HandleType  int32
	Handle      []byte
}

// FanotifyFlags is the "fanotify flags:%x event-flags:%x" line.
type FanotifyFlags struct {
	Flags      uint32
	EventFlags uint32
}

// EpollTarget is one "tfd:" line of an epoll fd.
type EpollTarget struct {
	TFD    int
	Events uint32
	Data   uint64
	Pos    uint64
	Ino    uint64
	Sdev   uint32
}

// Mapping is one line of /proc/<pid>/maps that names a file.
type Mapping struct {
	Start, End uint64
	Perms      string // "r-xp"
	Offset     uint64
	// DevMajor/DevMinor and Ino are as printed by maps. Before 6.8 they are
	// the layer inode's for overlay files (docs/kernel-quirks.md Matrix B).
	DevMajor, DevMinor uint32
	Ino                uint64
	// Path is the maps path with the kernel's escapes undone ("\012" is a
	// newline); Deleted is set and " (deleted)" removed when the kernel
	// appended it.
	Path    []byte
	Deleted bool
	// MapFiles is the stat through /proc/<pid>/map_files/<range> and its
	// mount id (statx STATX_MNT_ID, or fdinfo of an O_PATH open), when
	// permitted (CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE). MapFilesMntID is
	// -1 when unknown.
	MapFiles      *Stat
	MapFilesMntID int
}

// Range returns the map_files name of the mapping, "start-end" in hex.
func (m *Mapping) Range() string { return fmt.Sprintf("%x-%x", m.Start, m.End) }
