// Package resolve decides what is TRUE about each file object of a process:
// given what the kernel said (an fdinfo.Object), the target's mount table
// and a handle on its root, it returns the true path, mount and inode of
// the file, a verdict, and the evidence for it.
//
// Threat model: the link text, the mount table and everything inside the
// target's root are untrusted. Paths of the target are only ever resolved
// inside the target's root (mountns.Root, RESOLVE_IN_ROOT), never following
// a final symlink, and a candidate is accepted only when stat(2) of it
// inside the target gives the very inode the kernel holds. The one thing
// opened through ovlfix's own root is the layer directories of an overlay
// whose superblock is mounted in ovlfix's own namespace (a runtime's
// overlay), and paths inside them are again resolved with the layer as the
// root; the layers of an overlay the target mounted itself are opened from
// the target's root only (Layers). Every lookup whose cost a container
// controls is bounded: mount lookups are near-linear in the mount table
// (mountns), and watch resolution spends a per-process WatchBudget.
package resolve

import (
	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/mountns"
)

// Verdict is the outcome for one object.
type Verdict string

const (
	// OK: the kernel told the truth; Path and MntID are what it said.
	OK Verdict = "ok"
	// Fixed: the kernel's report was wrong; Path/MntID/Dev/Ino are the
	// corrected values and Evidence says how they were confirmed.
	Fixed Verdict = "fixed"
	// Ambiguous: several candidates match; one was chosen deterministically
	// and Candidates lists them all.
	Ambiguous Verdict = "ambiguous"
	// Unresolved: no confirmed answer; Reason says why.
	Unresolved Verdict = "unresolved"
	// Skipped: not a path object (socket, pipe, anon inode, memfd).
	Skipped Verdict = "skipped"
)

// Result is the resolver's answer for one object.
type Result struct {
	Object  *fdinfo.Object
	Verdict Verdict
	// Path is the file's absolute path in the target's mount namespace
	// (raw bytes), nil when unknown. When Deleted it is the name the file
	// was unlinked from, " (deleted)" removed, as CRIU names it; a name
	// that really ends in " (deleted)" (confirmed by a stat) keeps it.
	Path []byte
	// MntID is the id of the mount the file is reached through, as in the
	// target's mountinfo; -1 when unknown. Mount is that mount.
	//
	// For an Unresolved result MntID is only what the kernel itself
	// reported, unconfirmed: fdinfo's mnt_id of an fd, the map_files mount
	// id of a mapping. It is -1 when the kernel gave none (cwd, root, exe,
	// maps-only mappings, watches), when that id is in no mountinfo of the
	// target, or when the mount identity check showed that it names
	// another mount. Never a mount the resolver found on the way (the
	// mount covering a path, a candidate): a guess the checks refuted.
	// Mount is nil.
	MntID int
	Mount *mountns.Mount
	// Dev and Ino are the true stat(2) st_dev/st_ino of the file.
	Dev, Ino uint64
	// Deleted is set when the file was unlinked while held, whatever its
	// link count: with nlink 0 CRIU dumps it as a ghost file, with links
	// left (a hard link elsewhere; a lower-layer file whited out through
	// an overlay) as a link remap. Either way CRIU's image names it by
	// the remap, which no consumer may rename.
	Deleted bool
	// Reason is a one-line explanation for unresolved/skipped verdicts and
	// for fixes.
	Reason string
	// Route is the route that found the path of a watch (KindWatch with
	// verdict OK), "" for every other result. Evidence says the same for
	// people, in a line that is never read back.
	Route WatchRoute
	// Evidence lists the checks that ran, in order.
	Evidence []string
	// Candidates lists every candidate considered when there were several.
	Candidates []Candidate
}

// Candidate is one possible (path, mount) for an object.
type Candidate struct {
	Path    []byte
	MntID   int
	Matched bool
}
