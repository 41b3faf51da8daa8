package fixup

import (
	"errors"
	"io"
	"time"

	"github.com/ovlfix/ovlfix/manifest"
	"github.com/ovlfix/ovlfix/quirks"
)

// ReportVersion is the version of the fixup report schema (docs/fixup.md).
// It changes only when a field changes meaning or disappears.
const ReportVersion = 1

// File names fixup writes into the images directory.
const (
	// BackupFile is the byte-exact copy of files.img as CRIU wrote it,
	// made before the first change and never overwritten afterwards. It
	// is trusted only when ReportFile records its SHA-256 (docs/fixup.md
	// § The backup belongs to its files.img).
	BackupFile = "files.img.ovlfix-orig"
	// ReportFile is the JSON report of the last run that was not a dry run.
	ReportFile = "ovlfix-fixup.json"
)

// ErrUnrepairable means some files.img entry is proven wrong (restore
// would open another file, or fail) and ovlfix found no confirmed
// replacement. Run wraps it with the entries concerned. The post-dump
// hook exits non-zero only for this error, which makes CRIU fail the dump
// and resume the tasks (docs/fixup.md § Exit policy).
var ErrUnrepairable = errors.New("dump is wrong and cannot be repaired")

// ErrBackupMismatch means the images directory holds a backup
// (BackupFile) that nothing proves to be the original of its files.img:
// no report records its SHA-256, or files.img is not one ovlfix wrote from
// it (a second dump into a reused directory). Run then writes nothing;
// the error names the files and what to do.
var ErrBackupMismatch = errors.New("the backup of files.img in the images directory does not belong to this files.img")

// Options tune Run.
type Options struct {
	// RootPID is the host pid of the dump's root task (CRIU's
	// CRTOOLS_INIT_PID). Required, also for DryRun: every check compares
	// the images with the live, frozen tasks, so without them nothing can
	// be checked and Run fails.
	RootPID int
	// DryRun plans and reports but writes nothing at all.
	DryRun bool
	// Quirks is the probed behaviour of this kernel (quirks.Load); nil
	// means every object is confirmed by a stat.
	Quirks *quirks.Set
	// Log receives human-readable progress lines (the hook sends them to
	// CRIU's log); nil discards them.
	Log io.Writer

	// TreeTime bounds the resolution of the whole tree (0: no bound but
	// each task's own, resolve.DefaultWatchBudgetTime): each task gets
	// what is left of it, and once it is spent the tasks not yet checked
	// are problems ("budget: ..."), never changes. The post-dump hook
	// sets it: CRIU waits with the tasks frozen, and a container chooses
	// how many tasks it has, each of which may spend its own budget
	// (candidate searches, resolve.WatchBudget).
	TreeTime time.Duration

	// ImagesDirName is the name the report records for the images
	// directory (Report.ImagesDir); "" records dir itself. The hook's
	// check after the freeze reads and writes through an fd it holds on
	// the directory and records CRIU's link (CRTOOLS_IMAGE_DIR), as the
	// check during the freeze does.
	ImagesDirName string

	// pause, when set, is called between the steps of a rewrite with the
	// name of the next step: a seam for the crash-safety test.
	pause func(step string)
	// now is TreeTime's clock (nil: time.Now), a seam for tests.
	now func() time.Time
}

// Change is one files.img entry rewritten (or, in a dry run, to be).
type Change struct {
	FileID  uint32 `json:"file_id"`
	VPID    uint32 `json:"vpid"`     // the task, in the dump's pid namespace
	HostPID int    `json:"host_pid"` // the same task on this host
	Object  string `json:"object"`   // "fd 3", "cwd", "root", "exe", "vma 7f12…-7f13…"

	OldName  []byte `json:"-"`
	NewName  []byte `json:"-"`
	OldMntID int32  `json:"old_mnt_id"`
	NewMntID int32  `json:"new_mnt_id"`

	Verdict  string   `json:"verdict"` // the resolver's verdict: ok, fixed or ambiguous
	Reason   string   `json:"reason"`
	Evidence []string `json:"evidence,omitempty"`
}

// Problem is an entry ovlfix thinks wrong but could not fix, or could not
// check. FileID is 0 when the problem is not about one entry (a task that
// could not be found).
type Problem struct {
	FileID uint32 `json:"file_id"`
	Object string `json:"object"`
	What   string `json:"what"`
}

// Report is the outcome of one run.
type Report struct {
	Version   int    `json:"version"`
	ImagesDir string `json:"images_dir"`
	RootPID   int    `json:"root_pid"`
	DryRun    bool   `json:"dry_run"`
	// Checked counts the REG entries compared with a live object.
	Checked  int       `json:"checked"`
	Changes  []Change  `json:"changes"`
	Problems []Problem `json:"problems"`
	// Notes are entries left alone on purpose: ambiguous objects whose
	// CRIU value is one of the confirmed candidates.
	Notes []Problem `json:"notes,omitempty"`
	// Backup is the path of the backup of the original files.img, ""
	// when this run changed nothing.
	Backup string `json:"backup"`
	// OriginalSHA256 is the SHA-256 (hex) of CRIU's files.img as dumped:
	// the backup's bytes when a backup exists, else files.img as this run
	// found it. FoundSHA256 is files.img as this run found it,
	// FilesSHA256 as this run leaves it (the repaired file, or
	// FoundSHA256 when nothing is written). A later run trusts the backup
	// only through these (docs/fixup.md § The backup belongs to its
	// files.img).
	OriginalSHA256 string `json:"original_sha256"`
	FoundSHA256    string `json:"found_sha256"`
	FilesSHA256    string `json:"files_sha256"`
	// Leftovers are temporary files of an interrupted earlier write found
	// in the directory (harmless: CRIU ignores unknown files).
	Leftovers []string `json:"leftovers,omitempty"`
	// Manifest is the provenance of every REG entry of files.img as this
	// run leaves it (ovlfix-manifest.json, docs/manifest.md), made from
	// the same scan; not part of the report's JSON. Run does not write
	// it: the post-dump hook does, and a failure there never fails the
	// dump. nil when Run returned no report.
	Manifest *manifest.Manifest `json:"-"`
}
