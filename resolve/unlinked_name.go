package resolve

import (
	"errors"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/quote"
	"golang.org/x/sys/unix"
)

// linkName is what nameOf made of a link the kernel printed.
type linkName int

const (
	// namePlain: no " (deleted)" suffix; the link is the path, not yet
	// confirmed by a stat.
	namePlain linkName = iota
	// nameConfirmed: the link ends in " (deleted)", but stat of the whole
	// link inside the target root is the held inode: the file's real name
	// ends that way. Confirmed by that stat.
	nameConfirmed
	// nameUnlinked: unlinked while held; res.Path is the name without the
	// suffix and res.Deleted is set.
	nameUnlinked
	// nameUnresolved: res is unresolved (its Reason says why).
	nameUnresolved
	// nameUndecided: the link ends in " (deleted)" and the file has links
	// left, but its mount is in no mountinfo of the target, so the link
	// is no path of the target to stat (another namespace's path, or a
	// 3.18–4.1 layer-relative link). The foreign-mount route tries the
	// whole link as a name; if nothing confirms it, it was unlinked
	// (unlinkedForeign).
	nameUndecided
)

// nameOf decides what link names and sets res.Path (and res.Deleted) to
// it. st is the held file's stat (fstat through the link). onTarget says
// the link is a path of the target's mount namespace (the kernel's mount
// id for it is in the target's mountinfo, or, for cwd/root/exe, a mount of
// the target covers it); otherwise a suffixed link of a file with links
// left is nameUndecided.
//
// The " (deleted)" suffix is ambiguous: d_path appends it to an unlinked
// dentry, but a file may really be named "x (deleted)", and an unlinked
// name need not mean an unlinked inode: a hard-linked file keeps its other
// links, and a lower-layer file removed through an overlay (a whiteout
// hides it) keeps nlink 1 on the overlay inode. So a suffixed link is
// never trusted without a stat, and never reported with the suffix when
// the file was unlinked: the post-dump hook would write that name over
// CRIU's correct one.
//
// The decision is CRIU's (check_path_remap in criu/files-reg.c), so that
// the verdict describes what CRIU's dump contains:
//   - nlink 0: CRIU strips the suffix and dumps a ghost remap (the
//     contents); no stat is needed, nothing is left to find;
//   - nlink > 0: CRIU stats the whole link in the mount namespace's root.
//     The held inode: it is the file's real name. ENOENT: it strips the
//     suffix and dumps a link remap (a hard link made at dump time; on
//     overlayfs, where linkat fails, a ghost remap). Another inode, or
//     another error: CRIU fails the dump ("Unaccessible path", "Can't stat
//     path"); here the result is unresolved, with the stripped name and
//     Deleted set (the kernel's suffix is the only word on it), so that no
//     consumer writes the suffixed name.
//
// Cost: one stat, paid only by suffixed links of files with links left.
func (r *Resolver) nameOf(link []byte, st *fdinfo.Stat, onTarget bool, res *Result) linkName {
	res.Path = link
	stripped, suffixed := fdinfo.CutDeleted(link)
	if !suffixed {
		return namePlain
	}
	if st.Nlink == 0 {
		res.Path, res.Deleted = stripped, true
		res.note("unlinked while open, nlink 0: CRIU dumps it through a ghost remap under the stripped name %s", quote.Bytes(stripped))
		return nameUnlinked
	}
	if !onTarget {
		return nameUndecided
	}
	got, err := r.Root.Stat(string(link))
	switch {
	case err == nil && got.Dev == st.Dev && got.Ino == st.Ino:
		res.note("the name really ends in %q: stat of %s in the target root is the held inode %s (nlink %d)",
			fdinfo.DeletedSuffix, quote.Bytes(link), devIno(st.Dev, st.Ino), st.Nlink)
		return nameConfirmed
	case errors.Is(err, unix.ENOENT):
		res.Path, res.Deleted = stripped, true
		res.note("unlinked while open, nlink %d: %s is not in the target root; CRIU dumps it through a link/ghost remap under the stripped name %s",
			st.Nlink, quote.Bytes(link), quote.Bytes(stripped))
		return nameUnlinked
	}
	res.Path, res.Deleted = stripped, true
	if err != nil {
		res.unresolved("link %s (nlink %d) is either a real name or an unlinked one, and stat of it in the target root failed: %v (CRIU cannot dump it either)",
			quote.Bytes(link), st.Nlink, err)
		return nameUnresolved
	}
	res.unresolved("link %s (nlink %d): stat of it in the target root gives %s, the open file is %s: either another file took that name or the file was unlinked and a file named so exists (CRIU refuses it: Unaccessible path)",
		quote.Bytes(link), st.Nlink, devIno(got.Dev, got.Ino), devIno(st.Dev, st.Ino))
	return nameUnresolved
}

// unlinkedForeign ends the resolution of a nameUndecided link (the
// foreign-mount route, or no mount of the target covering it): when no
// path of the target confirmed the whole link as the file's name, the
// kernel's suffix stands, and the result (unresolved: nothing is left to
// confirm a mount with) names the file without it.
func unlinkedForeign(name linkName, res *Result) {
	if name != nameUndecided || res.Verdict != Unresolved {
		return
	}
	link := res.Object.Link
	res.Path, _ = fdinfo.CutDeleted(link)
	res.Deleted = true
	res.note("no path of the target is %s with the held inode: taken as unlinked while open (nlink %d), named %s",
		quote.Bytes(link), heldNlink(res.Object), quote.Bytes(res.Path))
}

// heldNlink is the link count of the held file (fstat through the link).
func heldNlink(o *fdinfo.Object) uint64 {
	if o.Map != nil && o.Map.MapFiles != nil {
		return o.Map.MapFiles.Nlink
	}
	if o.Stat != nil {
		return o.Stat.Nlink
	}
	return 0
}
