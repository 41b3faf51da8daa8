package hook

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/mountns"
	"github.com/ovlfix/ovlfix/proto"
	"github.com/ovlfix/ovlfix/resolve"
	"golang.org/x/sys/unix"
)

// SeedOptions tune SeedIrmap.
type SeedOptions struct {
	// Scanner reads /proc; its zero value reads /proc.
	Scanner fdinfo.Scanner
	// CRIUPID is CRIU's pid (from CRTOOLS_IMAGE_DIR) for the work dir
	// cross-check; 0 means the parent process.
	CRIUPID int
	// WatchBudget bounds the watch resolution of each process of the
	// tree (zero: resolve's defaults). A watch it leaves unresolved gets
	// no entry: CRIU handles it as it would without ovlfix.
	WatchBudget resolve.WatchBudget
	// TreeTime bounds the watch resolution of the whole tree (0:
	// DefaultTreeTime; negative: no bound). Each process gets what is
	// left of it, at most its own WatchBudget.Time; once it is spent the
	// watches of the processes not yet searched get no entry. CRIU waits
	// for the hook, and a container chooses how many processes hold
	// watches: the per-process budget alone would add up.
	TreeTime time.Duration
}

// DefaultTreeTime is the default SeedOptions.TreeTime.
const DefaultTreeTime = 5 * time.Second

// Seed is what SeedIrmap found and did.
type Seed struct {
	// Found are the overlay watches resolved to a path.
	Found []FoundWatch
	// Skipped are overlay watches that get no entry, with why.
	Skipped []SkippedWatch
	// Outcomes say what the merge did with each entry (none when nothing
	// was found).
	Outcomes []MergeOutcome
	// Wrote is set when irmap-cache was written.
	Wrote bool
	// Notes are facts for the log (work dir check, existing cache).
	Notes []string
}

// SeedIrmap writes the irmap-cache CRIU loads at dump time (irmap_load_cache,
// right after the pre-dump scripts) into workDir, CRIU's work dir: one
// entry per inotify watch / fanotify inode mark of the tree of pid on an
// overlay, {dev: the mark's sdev, inode: its ino, path: the overlay path}.
//
// CRIU trusts an entry only if fstatat(root, path, AT_SYMLINK_NOFOLLOW)
// from the dumped tree's root still gives MKKDEV(st_dev) == dev and
// st_ino == inode (irmap_revalidate). SeedIrmap applies that very test
// before writing an entry: a watched non-directory on an overlay whose
// layers are on different filesystems (xino=off) has a pseudo st_dev that
// is not the overlay's s_dev (docs/kernel-quirks.md §5, 4.15+), so CRIU would
// reject any path for it; such watches are Skipped with the reason
// instead of written.
//
// An existing irmap-cache is merged, never clobbered (mergeIrmap); one
// that cannot be parsed is left alone and nothing is written. The file is
// replaced atomically, and only when the merge changed something.
func SeedIrmap(ctx context.Context, pid int, workDir string, opts SeedOptions) (*Seed, error) {
	s := &Seed{}
	note, err := checkWorkDir(workDir, opts.CRIUPID)
	if err != nil {
		return s, err
	}
	s.Notes = append(s.Notes, note)
	found, skipped, notes, err := overlayWatches(ctx, pid, opts)
	s.Skipped = skipped
	s.Notes = append(s.Notes, notes...)
	if err != nil {
		return s, err
	}
	if len(found) == 0 {
		return s, nil
	}
	// Marks come in the kernel's list order (newest first); entries are
	// written sorted by (dev, inode) so that runs are reproducible.
	slices.SortStableFunc(found, func(a, b FoundWatch) int {
		return cmp.Or(cmp.Compare(a.Entry.Dev, b.Entry.Dev), cmp.Compare(a.Entry.Ino, b.Entry.Ino))
	})
	root, rootNote, err := criuRoot(pid)
	if err != nil {
		return s, err
	}
	defer root.Close()
	s.Notes = append(s.Notes, rootNote)
	valid := func(e IrmapEntry) bool { return criuAccepts(root, e) == nil }
	var ours []IrmapEntry
	for _, f := range found {
		if err := criuAccepts(root, f.Entry); err != nil {
			s.Skipped = append(s.Skipped, SkippedWatch{PID: f.PID, Name: f.Name, Sdev: f.Entry.Dev, Ino: f.Entry.Ino,
				Reason: fmt.Sprintf("resolved to %q, but CRIU would reject that entry: %v", f.Entry.Path, err)})
			continue
		}
		s.Found = append(s.Found, f)
		ours = append(ours, f.Entry)
	}
	if len(ours) == 0 {
		return s, nil
	}
	existing, perm, err := readExistingCache(workDir)
	if err != nil {
		return s, err
	}
	if existing != nil {
		s.Notes = append(s.Notes, fmt.Sprintf("merging with the existing %s (%d entries)", proto.IrmapCache, len(existing.Entries)))
	}
	img, outcomes, err := mergeIrmap(existing, ours, valid)
	if err != nil {
		return s, fmt.Errorf("merge %s: %w", proto.IrmapCache, err)
	}
	s.Outcomes = outcomes
	if !changed(outcomes) {
		return s, nil
	}
	if err := proto.WriteImageAtomic(workDir, proto.IrmapCache, perm, img); err != nil {
		return s, err
	}
	s.Wrote = true
	return s, nil
}

// criuRoot opens the root CRIU resolves irmap paths from
// (__mntns_get_root_fd): its own "/" when the tree lives in CRIU's mount
// namespace, else the root task's root, /proc/<pid>/root.
func criuRoot(pid int) (*mountns.Root, string, error) {
	theirs, err := mountns.NamespaceOf(pid)
	if err != nil {
		return nil, "", err
	}
	ours, err := mountns.NamespaceOf(os.Getpid())
	if err != nil {
		return nil, "", err
	}
	if theirs == ours {
		r, err := mountns.OpenRootPath("/")
		return r, "the tree shares CRIU's mount namespace: entries checked from /", err
	}
	r, err := mountns.OpenRoot(pid)
	return r, fmt.Sprintf("the tree has its own mount namespace: entries checked from the root of pid %d", pid), err
}

// criuAccepts applies CRIU's irmap_revalidate to e: nil when the path,
// stat'ed inside root without following a final symlink, has
// MKKDEV(st_dev) == e.Dev and st_ino == e.Ino.
func criuAccepts(root *mountns.Root, e IrmapEntry) error {
	st, err := root.Stat(e.Path)
	if err != nil {
		return err
	}
	if st.Ino != e.Ino {
		return fmt.Errorf("the path is inode %d now, not %d", st.Ino, e.Ino)
	}
	if kd := fdinfo.KernelDev(st.Dev); kd != e.Dev {
		return fmt.Errorf("stat gives st_dev %d:%d (%#x) but the mark's sdev is %#x: st_dev is not the overlay's (a pseudo dev: layers on different filesystems without xino; a layer's dev before 4.12), which CRIU's MKKDEV(st_dev) check cannot match",
			unix.Major(st.Dev), unix.Minor(st.Dev), kd, e.Dev)
	}
	return nil
}

// readExistingCache reads workDir/irmap-cache; nil when there is none.
// perm is the mode to write with: the existing file's, else 0600 (CRIU's).
func readExistingCache(workDir string) (*proto.Image, os.FileMode, error) {
	const defaultPerm = 0o600
	path := filepath.Join(workDir, proto.IrmapCache)
	// Never a FIFO (it would block the dump), a device or a symlink, and
	// never more than the cap (proto.OpenImageFile).
	f, err := proto.OpenImageFile(path, proto.MaxImageFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, defaultPerm, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("existing %s: %w (left alone)", proto.IrmapCache, err)
	}
	defer f.Close()
	fi := f.Info()
	if fi.Size() == 0 {
		return nil, fi.Mode().Perm(), nil // CRIU's empty_image: no cache
	}
	img, err := proto.ReadImage(f, proto.IrmapCache, proto.WantKind(proto.KindIrmapCache), f.MaxEntry())
	if err != nil {
		return nil, 0, fmt.Errorf("existing %s cannot be read, so it is left alone: %w", proto.IrmapCache, err)
	}
	return img, fi.Mode().Perm(), nil
}
