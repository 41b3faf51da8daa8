// Package quirks says how the running kernel reports overlay files in /proc,
// measured rather than guessed from the version number (docs/kernel-quirks.md
// §0.8, §11.1): distro kernels backport fixes (4bacc9c went to old stable
// trees) and regress (Ubuntu broke map_files mount ids with several
// rebases), so uname is only a fallback.
//
// Probe re-executes this program in a new, private mount namespace (the
// program must call MaybeRunProbeChild first thing in main or TestMain).
// The child mounts tmpfs instances on a temporary directory, builds two
// overlays, holds files on them (open fds, mmaps, inotify watches) and
// compares what /proc says with stat(2) and mountinfo. Nothing it mounts is
// visible outside its namespace, and everything vanishes when it exits.
//
// Load caches the result per boot (the kernel cannot change without a
// reboot, short of a module reload) and falls back to the version table of
// docs/kernel-quirks.md, marked unverified, when the probe cannot run.
//
// Threat model: the probe runs only on files it created itself, in a
// namespace nobody else can see, so its measurements are trusted. The cache
// file is trusted only if it belongs to root or the current user and nobody
// else may write to it: a forged cache could make the resolver skip checks (see
// TrustFdLinks).
package quirks

import (
	"fmt"
	"time"
)

// Set is what the running kernel does with overlay files. Every bool is
// true when the kernel tells the truth (or, for StatDevPseudo, when it
// shows the documented pseudo device); a false value means ovlfix must
// verify or correct that view. The JSON names are a stable interface
// (docs/check.md).
type Set struct {
	Kernel string `json:"kernel"`  // uname -r, for the record only
	BootID string `json:"boot_id"` // /proc/sys/kernel/random/boot_id
	// Probed is false when the values come from the version table
	// (Fallback): unverified, and TrustFdLinks is then false.
	Probed bool `json:"probed"`
	// ProbedAt is when the probe ran (zero for the fallback). A cached set
	// keeps the time of the probe that produced it.
	ProbedAt time.Time `json:"probed_at,omitzero"`

	// FdPathOK: the fd link is the overlay path and fdinfo mnt_id is the
	// overlay's (4.2+). False is the 3.18–4.1 behaviour: layer-relative
	// link, mnt_id of a private mount in no mountinfo (Matrix A).
	FdPathOK bool `json:"fd_path_ok"`
	// MapsInoOK: the maps inode of an mmapped overlay file equals its st_ino
	// (6.8+, 3efdc78fdc21); before, maps showed the layer inode, which
	// differs for copied-up files (Matrix B).
	MapsInoOK bool `json:"maps_ino_ok"`
	// MapsDevIsSbDev: the maps dev is the overlay superblock's, the
	// major:minor of its mountinfo line (6.8+); before, the layer fs's.
	MapsDevIsSbDev bool `json:"maps_dev_is_sbdev"`
	// StatDevPseudo: stat(2) of a non-directory on an overlay whose layers
	// are on different filesystems (xino=off) gives a pseudo st_dev that is
	// in no mountinfo (4.15+, Matrix C), so st_dev cannot find the mount.
	StatDevPseudo bool `json:"stat_dev_pseudo"`
	// MapFilesMntIDOK: an fd opened through /proc/pid/map_files/… has the
	// overlay's mnt_id (upstream 4.2+; false on Ubuntu SAUCE kernels, CRIU
	// #860).
	MapFilesMntIDOK bool `json:"mapfiles_mntid_ok"`
	// FidDecodable: the file handle in inotify fdinfo of an overlay file
	// opens with open_by_handle_at on the overlay (only with nfs_export=on;
	// false for default mounts).
	FidDecodable bool `json:"fid_decodable"`
	// FhandleType is the inotify fhandle-type printed for an overlay file:
	// 1 (FILEID_INO32_GEN, up to 6.5), 0xf8 (overlay's own, 6.6+), -1 when
	// the kernel printed none or it was not measured.
	FhandleType int `json:"fhandle_type"`
	// UniqueMntID: statx(STATX_MNT_ID_UNIQUE) works (6.8+): 64-bit mount
	// ids that are never reused.
	UniqueMntID bool `json:"unique_mnt_id"`

	// Evidence has one line per measurement (or, for the fallback, per
	// table row used): what was seen and which flag it set.
	Evidence []string `json:"evidence"`
}

// TrustFdLinks reports whether the resolver may accept an fd without a
// stat (docs/design.md §3.1 fast accept): on a kernel whose behaviour was probed
// and found to give overlay paths and overlay mount ids for fds (4.2+),
// an fd whose fdinfo mnt_id is in the target's mountinfo and whose link
// lies under that mount's mountpoint names the file the kernel holds, so
// stat of the link inside the target root adds nothing. It is false for
// version-table guesses: a backport or a distro patch could make them wrong.
func (s *Set) TrustFdLinks() bool {
	return s != nil && s.Probed && s.FdPathOK
}

// Flag is one entry of the set for display: its JSON name, value and a
// one-line meaning for people.
type Flag struct {
	Name    string
	Value   string
	Meaning string
}

// Flags lists the flags in a fixed order, for `ovlfix check`.
func (s *Set) Flags() []Flag {
	b := func(v bool) string { return fmt.Sprint(v) }
	ft := fmt.Sprint(s.FhandleType)
	if s.FhandleType >= 0 {
		ft = fmt.Sprintf("%#x", s.FhandleType)
	}
	return []Flag{
		{"fd_path_ok", b(s.FdPathOK), "fd links and fdinfo mnt_id name the overlay (4.2+); false: layer-relative links and hidden mounts (3.18-4.1)"},
		{"maps_ino_ok", b(s.MapsInoOK), "maps inode of an mmapped overlay file = st_ino (6.8+); false: the layer inode"},
		{"maps_dev_is_sbdev", b(s.MapsDevIsSbDev), "maps dev = overlay superblock dev in mountinfo (6.8+); false: the layer fs's dev"},
		{"stat_dev_pseudo", b(s.StatDevPseudo), "st_dev of a file on an overlay with layers on different fs (xino=off) is a pseudo dev in no mountinfo (4.15+)"},
		{"mapfiles_mntid_ok", b(s.MapFilesMntIDOK), "fds opened via map_files carry the overlay's mnt_id; false: Ubuntu SAUCE kernels (CRIU #860)"},
		{"fid_decodable", b(s.FidDecodable), "inotify file handles of overlay files open with open_by_handle_at (needs nfs_export=on)"},
		{"fhandle_type", ft, "inotify fhandle-type of an overlay file: 0x1 generic (<=6.5), 0xf8 overlay (6.6+), -1 none"},
		{"unique_mnt_id", b(s.UniqueMntID), "statx(STATX_MNT_ID_UNIQUE) gives never-reused 64-bit mount ids (6.8+)"},
		{"trust_fd_links", b(s.TrustFdLinks()), "probed and fd_path_ok: the resolver accepts an fd on its mountinfo entry without a stat"},
	}
}
