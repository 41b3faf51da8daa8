package fixup

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/ovlfix/ovlfix/proto"
)

// The backup's identity (docs/fixup.md § The backup belongs to its
// files.img).
//
// Threat: an images directory reused for a second dump keeps the first
// dump's files.img.ovlfix-orig and ovlfix-fixup.json; CRIU overwrites only
// files.img. Taking that backup for the original of the new files.img and
// rewriting files.img would leave the second dump's CRIU original nowhere.
// So a backup is accepted only when the report beside it records its
// SHA-256 and files.img is one that ovlfix wrote from it; anything else
// stops the run before anything is written.

// backupState is what the images directory holds of CRIU's original
// files.img.
type backupState struct {
	// exists: files.img.ovlfix-orig exists (and was verified).
	exists bool
	// originalSHA is the SHA-256 of CRIU's files.img: the backup's bytes
	// when it exists, else files.img as found (nothing was ever changed).
	originalSHA string
}

// reportDigests is the part of an earlier ovlfix-fixup.json that ties the
// backup to files.img.
type reportDigests struct {
	Version  int    `json:"version"`
	Original string `json:"original_sha256"`
	Found    string `json:"found_sha256"`
	Files    string `json:"files_sha256"`
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// checkBackup decides whether dir's backup (if any) is the original of
// files, the bytes of files.img just read. The error wraps
// ErrBackupMismatch (or proto.ErrBadImageFile) and says what to do.
//
// Accepted: no backup (files is CRIU's original); or a backup whose
// SHA-256 the report records as original_sha256, with files either
// byte-identical to it (a run stopped before replacing files.img) or
// recorded in that report as found_sha256 or files_sha256 (a files.img
// ovlfix wrote, or was about to replace, in the run that wrote the
// report; writeRepair writes the report first, so every state a crash
// leaves is one of these).
func checkBackup(dir string, files []byte) (backupState, error) {
	backupPath := filepath.Join(dir, BackupFile)
	backup, _, err := proto.ReadFileCapped(backupPath, proto.MaxImageFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return backupState{originalSHA: sha256Hex(files)}, nil
	}
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s; nothing written. Compare %s with %s, then remove %s and %s if they belong to another dump, or dump into a fresh images directory",
			ErrBackupMismatch, fmt.Sprintf(format, args...), BackupFile, proto.FilesImg, BackupFile, ReportFile)
	}
	if err != nil {
		return backupState{}, fmt.Errorf("%w (%w)", refuse("the backup cannot be read"), err)
	}
	bsum := sha256Hex(backup)
	raw, _, err := proto.ReadFileCapped(filepath.Join(dir, ReportFile), proto.MaxImageFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return backupState{}, refuse("%s exists but %s does not, so nothing records which files.img it is the original of", BackupFile, ReportFile)
	}
	if err != nil {
		return backupState{}, fmt.Errorf("%w (%w)", refuse("%s cannot be read", ReportFile), err)
	}
	var rd reportDigests
	if err := json.Unmarshal(raw, &rd); err != nil {
		return backupState{}, refuse("%s is not a fixup report (%v)", ReportFile, err)
	}
	if rd.Original == "" {
		return backupState{}, refuse("%s (version %d) records no original_sha256 (written by an older ovlfix?), so it does not vouch for %s", ReportFile, rd.Version, BackupFile)
	}
	if rd.Original != bsum {
		return backupState{}, refuse("%s has SHA-256 %s, but %s records the original as %s", BackupFile, bsum, ReportFile, rd.Original)
	}
	fsum := sha256Hex(files)
	if !bytes.Equal(files, backup) && fsum != rd.Found && fsum != rd.Files {
		return backupState{}, refuse("%s (SHA-256 %s) is neither %s nor a files.img ovlfix wrote from it (%s records %s and %s): most likely a new dump was written into this directory, and %s is now its only copy of CRIU's files.img",
			proto.FilesImg, fsum, BackupFile, ReportFile, rd.Found, rd.Files, proto.FilesImg)
	}
	return backupState{exists: true, originalSHA: bsum}, nil
}
