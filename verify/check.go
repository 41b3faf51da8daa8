package verify

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"strings"
	"unicode"

	"github.com/ovlfix/ovlfix/checkpoint"
	"github.com/ovlfix/ovlfix/inspect"
	"github.com/ovlfix/ovlfix/manifest"
	"github.com/ovlfix/ovlfix/mountns"
	"golang.org/x/sys/unix"
)

// maxSymlinks is the kernel's MAXSYMLINKS: CRIU's openat gets ELOOP past it.
const maxSymlinks = 40

// Check compares every file of l that the restore will reopen with root
// (rootName names it in the result), with diff applied over it when the
// checkpoint is an archive that has one (nil otherwise). It stops with
// ctx's error when ctx is cancelled; other errors are lookups that failed
// for a reason that is not an answer (EIO, a root that went away).
func Check(ctx context.Context, l *inspect.Listing, root *mountns.Root, rootName string, diff *checkpoint.RootfsDiff, opts Options) (*Result, error) {
	var t tree = rootTree{root: root}
	if diff != nil {
		t = newDiffTree(diff, t)
	}
	return check(ctx, l, t, rootName, diff, opts)
}

func check(ctx context.Context, l *inspect.Listing, t tree, rootName string, diff *checkpoint.RootfsDiff, opts Options) (*Result, error) {
	r := &Result{Root: rootName, Problems: []Problem{}, Skipped: []Skip{}}
	for _, f := range l.Files {
		if err := ctx.Err(); err != nil {
			return nil, context.Cause(ctx)
		}
		if why := skipReason(f, opts); why != "" {
			r.Skipped = append(r.Skipped, Skip{FileID: f.ID, Name: f.Name, Why: why})
			continue
		}
		p, err := checkFile(f, t, opts)
		if err != nil {
			return nil, fmt.Errorf("file id %d %q: %w", f.ID, f.Name, err)
		}
		r.Checked++
		if diff != nil {
			if p, err = checkUpper(f, t, diff, p); err != nil {
				return nil, fmt.Errorf("file id %d %q: %w", f.ID, f.Name, err)
			}
		}
		if p != nil {
			p.FileID, p.Name, p.Holders = f.ID, f.Name, f.Holders
			r.Problems = append(r.Problems, *p)
		}
	}
	return r, nil
}

// skipReason says why f is not compared with the root, "" when it is.
func skipReason(f *inspect.File, opts Options) string {
	switch {
	case f.Ext:
		return "external file: restored from an inherited fd (--inherit-fd), not opened in the root"
	case len(f.Holders) == 0 && len(f.RemapTargetOf) > 0:
		return "link remap target: checked with the file it restores"
	case len(f.Holders) == 0:
		return "no task holds it: the restore does not open it"
	case f.MntID >= 0 && f.Mount == nil:
		return "" // CheckMount
	case f.Remap != nil && f.Remap.Type == inspect.RemapProcfs:
		return "a dead task's /proc directory: the restore forks a helper task for it"
	case !opts.AllMounts && f.Mount != nil && !isNamespaceRoot(f.Mount):
		return fmt.Sprintf("on mount %d (%s at %s), which the restore's runtime provides; not part of the root given (--all-mounts checks it there)",
			f.Mount.ID, f.Mount.FSType, f.Mount.Mountpoint)
	}
	return ""
}

// isNamespaceRoot: m is mounted on its namespace's "/".
func isNamespaceRoot(m *inspect.Mount) bool { return path.Clean("/"+m.Mountpoint) == "/" }

// checkFile runs CRIU's checks on f, in CRIU's order, and returns the
// first failure (nil: CRIU reopens it).
func checkFile(f *inspect.File, t tree, opts Options) (*Problem, error) {
	if f.MntID >= 0 && f.Mount == nil {
		msg, src := predict(CheckMount, "criu/mount.c", 3953)
		return &Problem{Check: CheckMount, Found: fmt.Sprintf("mnt_id %d is in no mountpoints image of the checkpoint", f.MntID), CRIU: msg, CRIUSource: src}, nil
	}
	name := cleanName(f.Name)
	if rm := f.Remap; rm != nil {
		switch rm.Type {
		case inspect.RemapGhost:
			return checkGhost(f, rm, opts), nil
		case inspect.RemapLinked:
			return checkLinked(f, rm, t, opts)
		}
	}
	n, err := resolve(t, name, f.Flags&unix.O_NOFOLLOW == 0)
	if err != nil {
		return nil, err
	}
	if p := checkOpen(f, n); p != nil {
		return p, nil
	}
	return validate(f, n, opts)
}

// cleanName is reg.name as a clean absolute path: CRIU opens it relative
// to the mount namespace's root, where ".." cannot climb higher; so here
// too ("/../../etc/x" is "/etc/x" in the root). Like CRIU, it ends at the
// first NUL (cString).
func cleanName(name string) string { return path.Clean("/" + cString(name)) }

// resolve looks p up, following a final symlink inside the tree when
// follow is set (CRIU's openat follows it unless the fd had O_NOFOLLOW),
// as the kernel would, up to maxSymlinks links.
func resolve(t tree, p string, follow bool) (node, error) {
	for i := 0; ; i++ {
		n, err := t.lookup(p)
		if err != nil || !follow || !n.Exists || !n.isType(unix.S_IFLNK) {
			return n, err
		}
		if i == maxSymlinks {
			return node{From: n.From, Errno: unix.ELOOP}, nil
		}
		if n.At != "" {
			p = n.At // where the ancestors led: the link's own directory
		}
		if strings.HasPrefix(n.Link, "/") {
			p = path.Clean(n.Link)
		} else {
			p = path.Join(path.Dir(p), n.Link)
		}
	}
}

// checkOpen predicts openat(2) of n with f's flags (O_TMPFILE dropped,
// as do_open_reg_noseek_flags does).
func checkOpen(f *inspect.File, n node) *Problem {
	errno := openErrno(n, f.Flags)
	if errno == 0 {
		if n.isType(unix.S_IFIFO) && f.Flags&unix.O_PATH == 0 && f.Flags&unix.O_ACCMODE != unix.O_RDWR && f.Flags&unix.O_NONBLOCK == 0 {
			return &Problem{Check: CheckFIFO, Found: "a FIFO in " + n.From + ": CRIU's open of it blocks until a peer opens it (the restore hangs)"}
		}
		return nil
	}
	msg, src := predict(CheckOpen, criuPath(f.Name), strerror(errno))
	found := "missing in " + n.From
	if n.Exists {
		found = fmt.Sprintf("%s in %s (%s)", typeName(n.Mode), n.From, strerror(errno))
	} else if errno != unix.ENOENT {
		found = fmt.Sprintf("not reachable in %s (%s)", n.From, strerror(errno))
	}
	return &Problem{Check: CheckOpen, Found: found, CRIU: msg, CRIUSource: src}
}

func openErrno(n node, flags uint32) unix.Errno {
	switch {
	case !n.Exists && n.Errno != 0:
		return n.Errno
	case !n.Exists:
		return unix.ENOENT
	case n.isType(unix.S_IFLNK): // only with O_NOFOLLOW
		if flags&unix.O_PATH != 0 {
			return 0
		}
		return unix.ELOOP
	case flags&unix.O_DIRECTORY != 0 && !n.isType(unix.S_IFDIR):
		return unix.ENOTDIR
	case flags&unix.O_PATH != 0:
		return 0
	case n.isType(unix.S_IFDIR) && flags&unix.O_ACCMODE != unix.O_RDONLY:
		return unix.EISDIR
	case n.isType(unix.S_IFSOCK):
		return unix.ENXIO
	case n.isType(unix.S_IFIFO) && flags&unix.O_NONBLOCK != 0 && flags&unix.O_ACCMODE == unix.O_WRONLY:
		return unix.ENXIO
	}
	return 0
}

// validate is open_path's check of the opened file: validate_file (size,
// then build-ID) and the mode, each only where recorded.
func validate(f *inspect.File, n node, opts Options) (*Problem, error) {
	if f.HasSize && uint64(n.Size) != f.Size {
		msg, src := predict(CheckSize, criuPath(f.Name), n.Size, f.Size)
		return &Problem{Check: CheckSize, Found: fmt.Sprintf("size %d in %s", n.Size, n.From), CRIU: msg, CRIUSource: src}, nil
	}
	if !opts.SizeOnly && f.HasSize && len(f.BuildID) > 0 && n.buildID != nil {
		got, err := n.buildID()
		if err != nil {
			return nil, err
		}
		if p := compareBuildID(f, got, n.From); p != nil {
			return p, nil
		}
	}
	if f.HasMode {
		cur, saved := n.Mode, f.Mode
		if opts.SkipFileRWXCheck {
			cur, saved = cur&^0o777, saved&^0o777
		}
		if cur != saved {
			msg, src := predict(CheckMode, criuPath(f.Name), cur, saved)
			return &Problem{Check: CheckMode, Found: fmt.Sprintf("mode 0%o in %s", n.Mode, n.From), CRIU: msg, CRIUSource: src}, nil
		}
	}
	return nil, nil
}

// compareBuildID is validate_with_build_id: a file without a build-ID now
// passes (CRIU falls back to the size); otherwise the length rounded up
// to 4 and then the bytes must match.
func compareBuildID(f *inspect.File, got []byte, from string) *Problem {
	if got == nil {
		return nil
	}
	if l := int(align4(uint64(len(got)))); l != len(f.BuildID) {
		msg, src := predict(CheckBuildIDLen, criuPath(f.Name), l, len(f.BuildID))
		return &Problem{Check: CheckBuildIDLen, Found: fmt.Sprintf("a %d-byte build-ID in %s", len(got), from), CRIU: msg, CRIUSource: src}
	}
	if !bytes.Equal(got, f.BuildID[:len(got)]) {
		msg, src := predict(CheckBuildID, criuPath(f.Name))
		return &Problem{Check: CheckBuildID, Found: fmt.Sprintf("build-ID %x in %s, recorded %x", got, from, f.BuildID[:len(got)]), CRIU: msg, CRIUSource: src}
	}
	return nil
}

// checkGhost: an unlinked file comes back from its ghost image, which must
// be in the checkpoint; the file CRIU makes from it has the ghost's mode
// (and size), which CRIU then validates like any other.
func checkGhost(f *inspect.File, rm *inspect.Remap, opts Options) *Problem {
	if !rm.ImagePresent {
		msg, src := predict(CheckGhost, "(empty-image)")
		return &Problem{Check: CheckGhost, Found: rm.Image + " is not in the checkpoint", CRIU: msg, CRIUSource: src}
	}
	if rm.Ghost == nil {
		return &Problem{Check: CheckGhost, Found: rm.Image + " cannot be read: " + rm.GhostProblem}
	}
	n := node{Exists: true, Mode: rm.Ghost.Mode, Size: int64(f.Size), From: rm.Image}
	if rm.Ghost.HasSize {
		n.Size = int64(rm.Ghost.Size)
	}
	p, _ := validate(f, n, opts) // no build-ID reader: never an error
	return p
}

// checkLinked: CRIU links the remap file (link_remap.N, another files.img
// entry) to the name, then opens the name: the remap file must be in the
// root, and it is the inode CRIU validates.
func checkLinked(f *inspect.File, rm *inspect.Remap, t tree, opts Options) (*Problem, error) {
	if rm.LinkedName == "" {
		msg, src := predict(linkRemapID, rm.RemapID)
		return &Problem{Check: CheckLinkRemap, Found: fmt.Sprintf("link remap target id %d is not in files.img", rm.RemapID), CRIU: msg, CRIUSource: src}, nil
	}
	n, err := t.lookup(cleanName(rm.LinkedName)) // linkat(2) without AT_SYMLINK_FOLLOW
	if err != nil {
		return nil, err
	}
	if !n.Exists {
		errno := n.Errno
		if errno == 0 {
			errno = unix.ENOENT
		}
		msg, src := predict(CheckLinkRemap, criuPath(rm.LinkedName), criuPath(f.Name), strerror(errno))
		return &Problem{Check: CheckLinkRemap, Found: fmt.Sprintf("link remap %q missing in %s", rm.LinkedName, n.From), CRIU: msg, CRIUSource: src}, nil
	}
	if p := checkOpen(f, n); p != nil {
		return p, nil
	}
	return validate(f, n, opts)
}

// checkUpper adds what an archive's diff lacks: a file the manifest says
// lives in the container's upper layer must come from rootfs-diff.tar, or
// the restore finds the image's (lower) version or nothing. The problem
// CRIU will meet, if any, is kept as the predicted message.
//
// Only regular files: a copied-up directory's own content is not what
// CRIU reopens. And one exception: a copied-up (or metacopy) file that CRIU's checks pass
// in the root and whose size, mode and mtime there are the ones the
// manifest recorded of the held inode is the image's content still.
// Overlay copy-up keeps the lower's mtime and any write changes it, and
// Podman 4.3's rootfs-diff.tar carries added files only, so every file
// merely opened for writing (O_RDWR, O_APPEND) would otherwise be flagged.
func checkUpper(f *inspect.File, t tree, diff *checkpoint.RootfsDiff, p *Problem) (*Problem, error) {
	prov := f.Provenance
	if prov == nil || prov.Overlay == nil || f.Remap != nil {
		return p, nil
	}
	mode := prov.Mode // the manifest's stat; else what CRIU recorded
	if mode == 0 && f.HasMode {
		mode = f.Mode
	}
	if mode != 0 && mode&unix.S_IFMT != unix.S_IFREG {
		// A directory (cwd, root) copied up because something in it
		// changed: CRIU reopens it by name and checks nothing of it but
		// that it opens, which checkFile did; what changed inside it is
		// each file's own entry.
		return p, nil
	}
	switch prov.Overlay.Where {
	case manifest.UpperOnly, manifest.CopiedUp, manifest.Metacopy:
	default:
		return p, nil
	}
	if _, ok := diff.Entries[cleanName(f.Name)]; ok {
		return p, nil
	}
	if p == nil && prov.MtimeNs != 0 && prov.Overlay.Where != manifest.UpperOnly {
		n, err := t.lookup(cleanName(f.Name))
		if err != nil {
			return nil, err
		}
		if n.Exists && n.From == "root" && n.MtimeNs == prov.MtimeNs && n.Size == prov.Size && n.Mode == prov.Mode {
			return nil, nil
		}
	}
	up := &Problem{Check: CheckUpperInDiff, Found: fmt.Sprintf("%s in the container's upper layer at dump time, not in rootfs-diff.tar", prov.Overlay.Where)}
	if p != nil {
		up.Found += "; the root has: " + p.Found
		up.CRIU, up.CRIUSource = p.CRIU, p.CRIUSource
	} else {
		up.Found += "; the root's version passes CRIU's checks, so the restore reopens other content silently"
	}
	return up, nil
}

// strerror is glibc's message for errno, as pr_perror prints it (Go's
// table is glibc's, lower-cased).
func strerror(e unix.Errno) string {
	s := e.Error()
	for i, r := range s {
		return string(unicode.ToUpper(r)) + s[i+len(string(r)):]
	}
	return s
}

func typeName(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "a regular file"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFLNK:
		return "a symlink"
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	}
	return fmt.Sprintf("type 0%o", mode&unix.S_IFMT)
}
