package quirks

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/ovlfix/ovlfix/internal/quote"
)

// version is a kernel release's major.minor.
type version struct{ major, minor int }

func (v version) atLeast(major, minor int) bool {
	return v.major > major || (v.major == major && v.minor >= minor)
}

func (v version) String() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

var releaseRE = regexp.MustCompile(`^(\d+)\.(\d+)`)

// parseRelease reads the major.minor of a uname -r string such as
// "6.1.0-56-amd64", "6.12.117+deb12-amd64" or "5.15.0-1046-azure".
func parseRelease(release string) (version, bool) {
	m := releaseRE.FindStringSubmatch(release)
	if m == nil {
		return version{}, false
	}
	maj, err1 := strconv.Atoi(m[1])
	min, err2 := strconv.Atoi(m[2])
	if err1 != nil || err2 != nil {
		return version{}, false
	}
	return version{maj, min}, true
}

// ubuntuRE matches Ubuntu's kernel release scheme, "X.Y.0-ABI-FLAVOUR"
// with one of its flavours. Debian uses "-amd64", "-arm64", "-cloud-amd64"
// and "+debNN", which do not match.
var ubuntuRE = regexp.MustCompile(`^\d+\.\d+\.0-\d+(\.\d+)?-(generic|lowlatency|azure|aws|gcp|gke|oracle|kvm|ibm|oem|raspi|nvidia|hwe)`)

// Fallback returns what docs/kernel-quirks.md's version table predicts for
// release, with Probed=false: a guess for when the probe cannot run (not
// root, no mount rights). Each Evidence line names the table row used.
//
// The table (docs/kernel-quirks.md §1–§5):
//   - fd links and fdinfo mnt_id are the overlay's from 4.2 (4bacc9c);
//   - pseudo st_dev for layers on different fs from 4.15 (a0c5ad307ac0);
//   - maps dev:ino are the overlay's from 6.8 (3efdc78fdc21);
//   - STATX_MNT_ID_UNIQUE from 6.8;
//   - inotify handles are type 1 up to 6.5 and 0xf8 from 6.6, decodable
//     only with nfs_export=on, which is not the module default;
//   - map_files mount ids are right upstream from 4.2, wrong on Ubuntu
//     kernels carrying the shiftfs SAUCE patches (several releases broke
//     and fixed it, so every Ubuntu-looking release is assumed broken).
//
// An unreadable release gives every flag false and FhandleType -1: the
// resolver then verifies everything.
func Fallback(release string) *Set {
	s := &Set{Kernel: release, FhandleType: -1}
	v, ok := parseRelease(release)
	if !ok {
		s.Evidence = []string{fmt.Sprintf("version table: cannot read a version from release %s; assuming nothing (unverified)", quote.String(release))}
		return s
	}
	s.FdPathOK = v.atLeast(4, 2)
	s.StatDevPseudo = v.atLeast(4, 15)
	s.MapsInoOK = v.atLeast(6, 8)
	s.MapsDevIsSbDev = v.atLeast(6, 8)
	s.UniqueMntID = v.atLeast(6, 8)
	s.MapFilesMntIDOK = v.atLeast(4, 2)
	s.FhandleType = 1
	if v.atLeast(6, 6) {
		s.FhandleType = 0xf8
	}
	note := func(format string, args ...any) {
		s.Evidence = append(s.Evidence, "version table ("+v.String()+", unverified): "+fmt.Sprintf(format, args...))
	}
	switch {
	case s.FdPathOK:
		note("4.2+ (4bacc9c): fd links and fdinfo mnt_id name the overlay → fd_path_ok=true")
	default:
		note("before 4.2: fd links are layer-relative, fdinfo mnt_id is a private layer mount → fd_path_ok=false (a stable backport of 4bacc9c would make this wrong)")
	}
	if s.MapsInoOK {
		note("6.8+ (3efdc78fdc21): maps shows the overlay sb dev and st_ino → maps_dev_is_sbdev=true maps_ino_ok=true")
	} else {
		note("before 6.8: maps shows the layer fs dev and the layer inode → maps_dev_is_sbdev=false maps_ino_ok=false")
	}
	note("layers on different fs, xino=off: st_dev is %s → stat_dev_pseudo=%v",
		map[bool]string{true: "a pseudo dev in no mountinfo (4.15+, a0c5ad307ac0)", false: "the real layer dev (before 4.15)"}[s.StatDevPseudo], s.StatDevPseudo)
	if ubuntuRE.MatchString(release) {
		s.MapFilesMntIDOK = false
		note("Ubuntu-style release: SAUCE overlay patches gave map_files fds a mnt_id in no mountinfo (CRIU #860, LP#1857257, CRIU PR #2268) → mapfiles_mntid_ok=false")
	} else {
		note("upstream: fds opened via map_files carry the mapping file's mount → mapfiles_mntid_ok=%v", s.MapFilesMntIDOK)
	}
	note("inotify fhandle-type %#x (%s); default mounts have nfs_export=off → fid_decodable=false",
		s.FhandleType, map[bool]string{true: "6.6+: overlay FID, encode-only", false: "generic FILEID_INO32_GEN, up to 6.5"}[v.atLeast(6, 6)])
	note("STATX_MNT_ID_UNIQUE %s → unique_mnt_id=%v", map[bool]string{true: "exists (6.8+)", false: "does not exist before 6.8"}[s.UniqueMntID], s.UniqueMntID)
	return s
}
