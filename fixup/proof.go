package fixup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/mountns"
	"github.com/ovlfix/ovlfix/proto"
	"github.com/ovlfix/ovlfix/resolve"
	"golang.org/x/sys/unix"
)

// proof is what fixup itself established, at scan time, about one
// files.img entry from one live object. decide may change an entry only
// with both halves (docs/fixup.md § When an entry changes): a proof that
// CRIU's (name, mnt_id) is wrong, and the new value confirmed by fixup's
// own stat inside the task's root. The resolver's verdict alone is never
// enough: it may accept an fd without a stat (TrustFdLinks), and it may be
// wrong where CRIU is right.
type proof struct {
	// wrong says why CRIU's (name, mnt_id) cannot be right; "" when
	// nothing proves it.
	wrong string
	// fatal is set when wrong shows that restore would fail (the mount is
	// in no mountinfo, the name does not exist): only such a proof makes a
	// dump unrepairable. The other proofs show a wrong value through which
	// restore may still open the right file.
	fatal bool
	// byName is set when the proof stats CRIU's name inside the task's
	// root (it does not exist, or is another inode), unset when it rests
	// on the mount table alone. A name may have changed once the tasks
	// were resumed: a check after the freeze never fails the dump on it.
	byName bool
	// confirmed says how a stat inside the task's root confirmed the
	// resolver's value (confirmedName, confirmedMnt; -1: the mount was not
	// checked because the dump records no mount ids); "" when it was not
	// confirmed, unconfirmed then says why ("" when there was nothing to
	// confirm: the resolver agrees with CRIU, or has no value).
	confirmed, unconfirmed string
	confirmedName          []byte
	confirmedMnt           int
}

// proveEntry checks CRIU's entry reg against one live object: o its kind,
// kernelMnt the mount id the kernel gives for the object's own open file
// (-1: none), res the resolver's result, st the live file's stat (nil:
// unknown). mntOf reads the mount id of a file opened inside the root.
// inDump tells the mount ids of the dump's mountpoints images (nil: none).
func proveEntry(reg *proto.RegFileEntry, t *mountns.Table, inDump func(int) bool, root resolve.Stater, kind fdinfo.Kind, kernelMnt int, res *resolve.Result, st *fdinfo.Stat, mntOf func(*os.File) (int, error)) proof {
	var p proof
	p.wrong, p.fatal, p.byName = proveWrongBy(reg, t, inDump, root, kind, kernelMnt, st)
	criuMnt := -1
	if reg.MntId != nil {
		criuMnt = int(reg.GetMntId())
	}
	switch res.Verdict {
	case resolve.OK, resolve.Fixed, resolve.Ambiguous:
	default:
		return p // no value to confirm
	}
	if res.Path == nil || res.Deleted {
		if res.Deleted && res.MntID >= 0 && criuMnt >= 0 && res.MntID != criuMnt {
			p.unconfirmed = "the file is deleted: its name cannot be statted inside the task's root"
		}
		return p
	}
	mnt := res.MntID
	if criuMnt < 0 || mnt < 0 {
		mnt = -1 // the dump records no mount ids: only the name is written
	}
	if bytes.Equal(res.Path, []byte(reg.GetName())) && (mnt < 0 || mnt == criuMnt) {
		return p // the resolver agrees with CRIU: nothing to confirm
	}
	p.confirmed, p.unconfirmed = confirmValue(root, res.Path, mnt, st, mntOf)
	if p.confirmed != "" {
		p.confirmedName, p.confirmedMnt = res.Path, mnt
	}
	return p
}

// proveWrong returns why CRIU's entry cannot be right, or "", and whether
// that proof shows restore would fail. The proofs depend only on the
// kernel's view, never on the resolver:
//
//   - the recorded mnt_id is in no mountinfo of the task and in none of
//     the dump's mountpoints images (inDump; nil: the dump has none):
//     restore cannot find the mount (CRIU's lookup_nsid_by_mnt_id fails;
//     fatal). A mount of the dump that is not the task's is another
//     namespace of the tree (the task moved, unshare(CLONE_NEWNS), after
//     opening the file: a forked service, a sandbox): restore finds it
//     there, and CRIU's name is a path of that namespace, not of the
//     task's root, so nothing is proven at all;
//   - the recorded name does not exist inside the task's root while the
//     live file is not deleted: restore's open would fail (fatal); not for
//     procfs and devpts files, whose names CRIU treats apart
//     (specialNames);
//   - the recorded name exists but is another inode than the live file:
//     restore would open another file (or fail its size check);
//   - the recorded mnt_id is a mount of another superblock than the mount
//     the kernel holds the file on (docs/kernel-quirks.md §13: fdinfo mnt_id
//     says B, CRIU wrote the root overlay A). A file lives on exactly one
//     superblock and every mount of a superblock shows its major:minor in
//     mountinfo, so no mount of A's superblock holds a file of B's.
//     kernelMnt is fdinfo mnt_id (fds), map_files' mount id (mappings) or
//     statx STATX_MNT_ID of /proc/<pid>/{cwd,root,exe}; it counts only
//     when it is in the task's mountinfo. While the task is frozen and
//     holds the file, its mount cannot be freed, so no other mount has
//     that id (docs/kernel-quirks.md §7). On 3.18–4.1 the id of an overlay fd
//     is a private layer mount in no mountinfo, and Ubuntu's map_files bug
//     gives such ids too: no proof then. Bind mounts of one superblock
//     share major:minor: no proof between them either.
//
// st_dev is not compared with mountinfo: for overlay files it is a pseudo
// dev (layers on different filesystems, xino off) or a layer's dev (before
// 4.12), which is exactly what misled CRIU.
func proveWrong(reg *proto.RegFileEntry, t *mountns.Table, inDump func(int) bool, root resolve.Stater, kind fdinfo.Kind, kernelMnt int, st *fdinfo.Stat) (string, bool) {
	why, fatal, _ := proveWrongBy(reg, t, inDump, root, kind, kernelMnt, st)
	return why, fatal
}

// proveWrongBy is proveWrong that also says whether the proof is a stat
// of CRIU's name inside the task's root (byName), not the mount table.
func proveWrongBy(reg *proto.RegFileEntry, t *mountns.Table, inDump func(int) bool, root resolve.Stater, kind fdinfo.Kind, kernelMnt int, st *fdinfo.Stat) (why string, fatal, byName bool) {
	var criuMount *mountns.Mount
	if reg.MntId != nil && reg.GetMntId() >= 0 {
		if criuMount = t.ByID(int(reg.GetMntId())); criuMount == nil {
			if inDump != nil && inDump(int(reg.GetMntId())) {
				return "", false, false
			}
			return fmt.Sprintf("CRIU's mnt_id %d is in no mountinfo of the task: restore cannot find that mount", reg.GetMntId()), true, false
		}
	}
	if st != nil && st.Nlink > 0 && !specialNames(t, criuMount, kernelMnt) {
		got, err := root.Stat(reg.GetName())
		switch {
		case errors.Is(err, unix.ENOENT):
			return fmt.Sprintf("CRIU's name %q does not exist inside the task's root and the file is not deleted: restore would fail", reg.GetName()), true, true
		case err == nil && (got.Dev != st.Dev || got.Ino != st.Ino):
			return fmt.Sprintf("CRIU's name %q is inode %s inside the task's root, the live file is %s: restore would open another file",
				reg.GetName(), devIno(got.Dev, got.Ino), devIno(st.Dev, st.Ino)), false, true
		}
	}
	if criuMount == nil || kernelMnt < 0 || kernelMnt == criuMount.ID {
		return "", false, false
	}
	held := t.ByID(kernelMnt)
	if held == nil || held.Major == criuMount.Major && held.Minor == criuMount.Minor {
		return "", false, false
	}
	return fmt.Sprintf("CRIU's mnt_id %d is %s on %q (superblock %d:%d), but the kernel holds the %s on mount %d, %s on %q (superblock %d:%d): no mount of one superblock reaches a file of another",
		criuMount.ID, criuMount.FSType, criuMount.Mountpoint, criuMount.Major, criuMount.Minor,
		objectNoun(kind), held.ID, held.FSType, held.Mountpoint, held.Major, held.Minor), false, false
}

// specialNames reports whether the file is on procfs or devpts (CRIU's
// mount, else the kernel's): check_path_remap in criu/files-reg.c gives
// their names a meaning of their own, and restore needs no such name to
// exist. /proc/<pid>/... of a process that has died since it was opened
// (nlink 1, the name gone) is dumped with a dead-process remap and
// restored through a helper task of that pid; devpts names are the
// kernel's. So the name proofs do not apply to them.
func specialNames(t *mountns.Table, criuMount *mountns.Mount, kernelMnt int) bool {
	m := criuMount
	if m == nil && kernelMnt >= 0 {
		m = t.ByID(kernelMnt)
	}
	return m != nil && (m.FSType == "proc" || m.FSType == "devpts")
}

func objectNoun(k fdinfo.Kind) string {
	switch k {
	case fdinfo.KindFD:
		return "open file"
	case fdinfo.KindMap:
		return "mapped file"
	}
	return k.String()
}

// confirmValue confirms that name, looked up inside the task's root, is
// the live file (same dev:ino as st) and is reached through mount mnt
// (skipped when mnt < 0). The final component is not followed; the root
// is never left (mountns.Root, RESOLVE_IN_ROOT).
func confirmValue(root resolve.Stater, name []byte, mnt int, st *fdinfo.Stat, mntOf func(*os.File) (int, error)) (confirmed, why string) {
	if st == nil {
		return "", "the live file's stat is unknown, so nothing can be compared"
	}
	f, err := root.Open(string(name), unix.O_PATH)
	if err != nil {
		return "", fmt.Sprintf("%q inside the task's root: %v", name, err)
	}
	defer f.Close()
	var got unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &got); err != nil {
		return "", fmt.Sprintf("fstat of %q: %v", name, err)
	}
	if got.Dev != st.Dev || got.Ino != st.Ino {
		return "", fmt.Sprintf("%q inside the task's root is %s, the live file is %s", name, devIno(got.Dev, got.Ino), devIno(st.Dev, st.Ino))
	}
	if mnt < 0 {
		return fmt.Sprintf("stat of %q inside the task's root is the live file %s", name, devIno(st.Dev, st.Ino)), ""
	}
	id, err := mntOf(f)
	if err != nil {
		return "", fmt.Sprintf("mount id of %q: %v", name, err)
	}
	if id != mnt {
		return "", fmt.Sprintf("%q inside the task's root is reached through mount %d, not %d", name, id, mnt)
	}
	return fmt.Sprintf("stat of %q inside the task's root is the live file %s, reached through mount %d", name, devIno(st.Dev, st.Ino), mnt), ""
}

// mountIDOf is the mount id of an open file: statx STATX_MNT_ID (5.8+),
// else the mnt_id line of our own /proc/self/fdinfo (3.15+), as CRIU reads it.
func mountIDOf(f *os.File) (int, error) {
	var stx unix.Statx_t
	if err := unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &stx); err == nil && stx.Mask&unix.STATX_MNT_ID != 0 {
		return int(stx.Mnt_id), nil
	}
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		return -1, err
	}
	info, err := fdinfo.ParseFdinfoBytes(b)
	if err != nil {
		return -1, err
	}
	if info.MntID < 0 {
		return -1, errors.New("this kernel reports no mount id (before 3.15)")
	}
	return info.MntID, nil
}

// kernelMntID is the mount id the kernel gives for the object's own file:
// fdinfo mnt_id for an fd, map_files' mount id for a mapping, and for
// cwd, root and exe the mount id statx reports through the /proc/<pid>
// magic link (what CRIU reads from an O_PATH open of it); -1 when none.
func kernelMntID(host int, o *fdinfo.Object) int {
	switch o.Kind {
	case fdinfo.KindFD:
		if o.Info != nil {
			return o.Info.MntID
		}
	case fdinfo.KindMap:
		if o.Map != nil {
			return o.Map.MapFilesMntID
		}
	case fdinfo.KindCwd, fdinfo.KindRoot, fdinfo.KindExe:
		f, err := os.OpenFile("/proc/"+strconv.Itoa(host)+"/"+o.Kind.String(), unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1
		}
		defer f.Close()
		if id, err := mountIDOf(f); err == nil {
			return id
		}
	}
	return -1
}

func devIno(dev, ino uint64) string {
	return fmt.Sprintf("%d:%d/%d", unix.Major(dev), unix.Minor(dev), ino)
}
