package verify

import "github.com/ovlfix/ovlfix/manifest"

// Options are the CRIU restore options that change what CRIU checks.
type Options struct {
	// SkipFileRWXCheck is criu restore --skip-file-rwx-check: the mode
	// comparison ignores the r/w/x bits (set-id, sticky and type still
	// count).
	SkipFileRWXCheck bool
	// SizeOnly is --file-validation=filesize: no build-ID comparison
	// (CRIU's default, buildid, compares it where recorded).
	SizeOnly bool
	// AllMounts checks files on every mount of the dump in the root,
	// not only those on a mount namespace's root mount. Without it a file
	// on another mount (a bind mount of the runtime such as /etc/hosts, a
	// tmpfs, a volume) is Skipped: the root given is not where the restore
	// finds it. For a root that shows every mount (a live /proc/PID/root).
	AllMounts bool
}

// Result is the verdict on one checkpoint against one root.
type Result struct {
	Root    string `json:"root"`
	Checked int    `json:"checked"` // files compared with the root (or their ghost)
	// Problems, in files.img order: each a file CRIU will fail to reopen
	// (or, for CheckUpperInDiff, reopen with the wrong content).
	Problems []Problem `json:"problems"`
	Skipped  []Skip    `json:"skipped"`
}

// Restorable reports whether no problem was found.
func (r *Result) Restorable() bool { return len(r.Problems) == 0 }

// Problem is one file the restore will not reopen as it was.
type Problem struct {
	Check   string            `json:"check"` // Check* constant
	FileID  uint32            `json:"file_id"`
	Name    string            `json:"name"` // reg.name
	Holders []manifest.Holder `json:"holders"`
	// Found is what the root (or the archive's diff) has instead, in
	// words: "size 12 in root", "missing (deleted.files)".
	Found string `json:"found"`
	// CRIU is the error line CRIU's restore will log (without its
	// "Error (file:line): " prefix), "" when CRIU logs none (it hangs on
	// a FIFO, or restores wrong content silently); CRIUSource is the
	// CRIU 4.2 source line that logs it.
	CRIU       string `json:"criu"`
	CRIUSource string `json:"criu_source,omitempty"`
}

// Skip is a file verify did not compare, and why.
type Skip struct {
	FileID uint32 `json:"file_id"`
	Name   string `json:"name"`
	Why    string `json:"why"`
}
