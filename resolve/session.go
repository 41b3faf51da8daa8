package resolve

import (
	"context"
	"fmt"
	"os"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/mountns"
)

// Session is the resolution state one ovlfix command run shares between
// the processes it resolves, and the one way every command (dump, fixup,
// the pre-dump hook) turns a scanned process into results: the mount
// table of each mount namespace met (read once each), ovlfix's own root
// and mount table (the host view: which overlays are the runtime's, where
// their layers are, Layers), whether fd links are trusted, and the
// budget of watch resolution per process. Not safe for concurrent use.
type Session struct {
	opts   SessionOptions
	tables *mountns.Tables
	host   HostView
	// views are the roots and namespace pins open captures share.
	views map[viewKey]*sharedView
}

// SessionOptions tune a Session. The zero value confirms every object by
// stat and uses the default watch budget.
type SessionOptions struct {
	// TrustFdLinks: a probe of this kernel showed 4.2+ fd behaviour
	// (quirks.Set.TrustFdLinks), so fds are accepted on their mountinfo
	// entry without a stat each (Resolver.TrustFdLinks).
	TrustFdLinks bool
	// WatchBudget bounds the watch resolution of each process.
	WatchBudget WatchBudget
	// HostOpened, when set, is told every path opened through ovlfix's
	// own root (HostView.Opened).
	HostOpened func(path string)
	// Provenance also tells, for every result on an overlay, where in the
	// overlay the file lives (Resolved.Places; Layers.Locate), with the
	// layer directories the resolution opened: one classification per
	// distinct file of a process, however many objects hold it.
	Provenance bool
}

// NewSession opens ovlfix's own root and reads its own mount table. Close
// must be called.
func NewSession(opts SessionOptions) (*Session, error) {
	tables := mountns.NewTables()
	own, _, _, err := tables.For(os.Getpid())
	if err != nil {
		return nil, fmt.Errorf("ovlfix's own mount table: %w", err)
	}
	root, err := mountns.OpenRootPath("/")
	if err != nil {
		return nil, fmt.Errorf("ovlfix's own root: %w", err)
	}
	return &Session{opts: opts, tables: tables, host: HostView{Root: root, Table: own, Opened: opts.HostOpened}}, nil
}

// Close releases ovlfix's own root.
func (s *Session) Close() error { return s.host.Root.Close() }

// Resolved is one process resolved by a Session.
type Resolved struct {
	// Results are in the order of the objects given.
	Results []Result
	// Table is the mount table of the process's mount namespace that the
	// results refer to (shared by all its processes in this session), and
	// Namespace that namespace's inode (/proc/<pid>/ns/mnt).
	Table     *mountns.Table
	Namespace uint64
	// Watches is what resolving its watches cost.
	Watches WatchSpend
	// Places are where each result's file lives in its overlay, index for
	// index with Results; nil unless SessionOptions.Provenance. Located
	// counts the layer lookups made for them (one per distinct file).
	Places  []Place
	Located int
}

// Resolve resolves objs, a scan of live process pid (fdinfo.Scanner; a
// subset in scan order will do), against its mount namespace and inside
// its root: layer directories from the view Layers decides, the mount ids
// of its fds checked against the unique ids where the kernel has them
// (CheckMountIdentity), its watches within the session's WatchBudget.
// ctx stops the walks of watch resolution (checked before each watch and
// every 1,024 directory entries); then, or when ctx is done before, the
// error wraps ctx.Err() and no results are returned. Errors name pid; an exited pid
// satisfies errors.Is(err, fs.ErrNotExist).
func (s *Session) Resolve(ctx context.Context, pid int, objs []fdinfo.Object) (*Resolved, error) {
	return s.ResolveWith(ctx, pid, objs, s.opts.WatchBudget)
}

// ResolveWith is Resolve with another watch budget for this process: a
// caller that bounds a whole tree (the hook) gives each process its share.
func (s *Session) ResolveWith(ctx context.Context, pid int, objs []fdinfo.Object, budget WatchBudget) (*Resolved, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	c, err := s.Capture(pid, objs)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return s.ResolveCaptured(ctx, c, objs, budget)
}
