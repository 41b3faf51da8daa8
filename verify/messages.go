package verify

import (
	"fmt"
	"strings"
)

// Checks, each named by what it compares. A Problem has exactly one: the
// first that fails, as CRIU stops at the first failure of a file.
const (
	CheckOpen        = "open"          // the file cannot be opened (missing, wrong type for the flags)
	CheckSize        = "size"          // reg.size differs
	CheckBuildID     = "build-id"      // reg.build_id differs
	CheckBuildIDLen  = "build-id-len"  // reg.build_id has another length
	CheckMode        = "mode"          // reg.mode (type and permission bits) differs
	CheckGhost       = "ghost"         // an unlinked file's ghost-file-N.img is missing or unreadable
	CheckLinkRemap   = "link-remap"    // a link remap's target is missing
	CheckMount       = "mount"         // reg.mnt_id is in no mountpoints image
	CheckUpperInDiff = "upper-in-diff" // an upper-layer file is not in the archive's rootfs-diff.tar
	CheckFIFO        = "fifo"          // the root has a FIFO there: CRIU's open blocks
)

// criuMessage is one error line of CRIU 4.2's restore log, as printf
// formats it after pr_err's "Error (file:line): " prefix; pr_perror adds
// ": " and strerror(errno).
type criuMessage struct {
	Format string // the printf format, verbatim from the source
	Source string // CRIU 4.2 source file and line of the pr_err/pr_perror
}

// The messages a failed reopen gives, verbatim from CRIU v4.2 (git tag
// v4.2), by check. The line numbers are those of that tag.
//
//	check          CRIU source                 CRIU message
//	open           criu/files-reg.c:2353       pr_perror("Can't open file %s on restore", rfi->path)
//	               criu/files-reg.c:2267       pr_perror("Can't open file %s", rfi->path)   (logged after it)
//	size           criu/files-reg.c:2175       pr_err("File %s has bad size %" PRIu64 " (expect %" PRIu64 ")\n", ...)
//	build-id-len   criu/files-reg.c:2146       pr_err("File %s has bad build-ID length %d (expect %d)\n", ...)
//	build-id       criu/files-reg.c:2153       pr_err("File %s has bad build-ID\n", rfi->path)
//	mode           criu/files-reg.c:2294       pr_err("File %s has bad mode 0%o (expect 0%o)\n" "File r/w/x checks can be skipped with the --skip-file-rwx-check option\n", ...)
//	ghost          criu/protobuf.c:72          pr_err("Unexpected EOF on %s\n", image_name(img))   (a missing image reads as "(empty-image)")
//	link-remap     criu/files-reg.c:2258       pr_perror("Can't link %s -> %s", rfi->remap->rpath, rfi->path)
//	               criu/files-reg.c:651        pr_err("Can't find target file %x\n", rpe->remap_id)   (remap_id not in files.img)
//	mount          criu/mount.c:3953           BUG_ON(mntns == NULL) in mntns_get_root_by_mnt_id: "BUG at %s:%d"
//
// rfi->path is reg.name without its leading "/" ("." for "/"),
// collect_one_regfile (criu/files-reg.c:2606-2611).
func message(check string) (criuMessage, bool) {
	switch check {
	case CheckOpen:
		return criuMessage{"Can't open file %s on restore: %s", "criu/files-reg.c:2353"}, true
	case CheckSize:
		return criuMessage{"File %s has bad size %d (expect %d)", "criu/files-reg.c:2175"}, true
	case CheckBuildIDLen:
		return criuMessage{"File %s has bad build-ID length %d (expect %d)", "criu/files-reg.c:2146"}, true
	case CheckBuildID:
		return criuMessage{"File %s has bad build-ID", "criu/files-reg.c:2153"}, true
	case CheckMode:
		return criuMessage{"File %s has bad mode 0%o (expect 0%o)", "criu/files-reg.c:2294"}, true
	case CheckGhost:
		return criuMessage{"Unexpected EOF on %s", "criu/protobuf.c:72"}, true
	case CheckLinkRemap:
		return criuMessage{"Can't link %s -> %s: %s", "criu/files-reg.c:2258"}, true
	case linkRemapID:
		return criuMessage{"Can't find target file %x", "criu/files-reg.c:651"}, true
	case CheckMount:
		return criuMessage{"BUG at %s:%d", "criu/mount.c:3953"}, true
	}
	return criuMessage{}, false
}

// linkRemapID is the message of a link remap whose target id is not in
// files.img; its Problem's check is CheckLinkRemap.
const linkRemapID = "link-remap-id"

// predict formats the message of check with args.
func predict(check string, args ...any) (msg, source string) {
	m, ok := message(check)
	if !ok {
		return "", ""
	}
	return fmt.Sprintf(m.Format, args...), m.Source
}

// criuPath is rfi->path: the name without its leading "/", "." for "/",
// as C sees it (up to the first NUL: cString).
func criuPath(name string) string {
	name = cString(name)
	if len(name) <= 1 {
		return "."
	}
	return name[1:]
}

// cString is name as CRIU's C code uses it: protobuf-c keeps the bytes of
// a string field, NUL included, but every open(2) and printf stops at the
// first NUL. A hostile image may put one there ("/a\x00/../x"): the file
// CRIU reopens is "/a".
func cString(name string) string {
	if i := strings.IndexByte(name, 0); i >= 0 {
		return name[:i]
	}
	return name
}
