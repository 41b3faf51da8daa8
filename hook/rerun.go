package hook

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/ovlfix/ovlfix/fixup"
	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/proto"
)

// A second post-dump in the same CRIU run.
//
// CRIU 3.19–4.1 registers an action script from the config file of an
// RPC dump (runc's runc.conf or org.criu.config annotation) twice and runs
// it twice per action, both times inside the freeze (criu#2727, fixed in
// 4.2; tests/criuhost TestHookTwiceCRIU411ConfigFile). The first
// post-dump repairs files.img; a second full check would find nothing to
// change, but it would spend the scan's time again with the tasks frozen
// and fixup would rewrite ovlfix-fixup.json as a report of "nothing
// changed", losing the record of the repair the backup belongs to. So the
// hook recognises the dump it has just handled and does nothing.
//
// Threat model: an images directory reused for another dump keeps the old
// report and backup. The earlier run is recognised only when its report
// names the same CRTOOLS_IMAGE_DIR link (/proc/<criu-pid>/fd/N: the same
// CRIU process) and the same root task, records a completed outcome (a
// repair with its backup, or a check with nothing to change and no
// problem), and files.img (and the backup) hash to what it recorded. An
// unrepairable or incomplete first run is never skipped: the second run
// reaches the same verdict the same way.

// earlierRun says whether the report in env.ImageDir is this post-dump's
// own, from an earlier run in the same CRIU process, with files.img as it
// left it. what describes that run for the log. A missing report is not
// an error; an unreadable one is (the caller then runs the check).
func earlierRun(env Env) (done bool, what string, err error) {
	if env.CRIUPID <= 0 {
		return false, "", nil // not a CRIU link: no way to tell one CRIU run from another
	}
	raw, _, err := proto.ReadFileCapped(filepath.Join(env.ImageDir, fixup.ReportFile), proto.MaxImageFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return false, "", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("%s: %w", fixup.ReportFile, err)
	}
	var rep fixup.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		return false, "", fmt.Errorf("%s: %w", fixup.ReportFile, err)
	}
	if rep.Version != fixup.ReportVersion || rep.DryRun || rep.ImagesDir != env.ImageDir || rep.RootPID != env.InitPID {
		return false, "", nil
	}
	files, err := fileSHA(env.ImageDir, proto.FilesImg)
	if err != nil || files != rep.FilesSHA256 {
		return false, "", err
	}
	switch {
	case len(rep.Changes) > 0 && rep.Backup != "":
		orig, err := fileSHA(env.ImageDir, fixup.BackupFile)
		if err != nil || orig != rep.OriginalSHA256 {
			return false, "", err
		}
		return true, fmt.Sprintf("files.img is already ovlfix's repair (%d entr(y/ies), CRIU's original kept as %s)", len(rep.Changes), fixup.BackupFile), nil
	case len(rep.Changes) == 0 && len(rep.Problems) == 0 && rep.FoundSHA256 == files:
		return true, "files.img was already checked and is right", nil
	}
	return false, "", nil
}

// fileSHA is the SHA-256 of dir/name, read with the image caps (never a
// FIFO, a device or a symlink).
func fileSHA(dir, name string) (string, error) {
	b, _, err := proto.ReadFileCapped(filepath.Join(dir, name), proto.MaxImageFileSize)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), nil
}

// repeatedPostDump reports whether post-dump has nothing to do because an
// earlier run in this CRIU process handled this dump, logging it. Any
// doubt runs the check.
func repeatedPostDump(env Env, log *Logger) bool {
	done, what, err := earlierRun(env)
	switch {
	case err != nil:
		log.Printf("post-dump: an earlier run's report cannot be used (%s): checking", quote.Error(err))
	case done:
		log.Printf("post-dump: %s by an earlier run of this post-dump in the same CRIU (pid %d; CRIU 3.19-4.1 runs a config-file script twice): a no-op, nothing checked or written", what, env.CRIUPID)
		return true
	}
	return false
}
