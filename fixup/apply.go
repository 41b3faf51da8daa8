package fixup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ovlfix/ovlfix/proto"
)

// writeRepair makes the changes durable, in an order that is safe at every
// instant (docs/fixup.md § Crash safety):
//
//  1. the backup files.img.ovlfix-orig gets the exact bytes read, written
//     atomically (temp file, fsync, rename, fsync of the directory), unless
//     a backup already exists: an earlier run made it from the true
//     original, and it is never replaced;
//  2. files.img is replaced atomically by the patched image.
//
// A crash before step 2's rename leaves CRIU's files.img; after it, the
// complete repaired one. A temp file left by a crash has a name CRIU
// never reads (".files.img.tmp-*").
func writeRepair(dir string, d *dumpImages, pause func(string)) (backup string, err error) {
	backup = filepath.Join(dir, BackupFile)
	pause("backup")
	st, err := os.Lstat(backup)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := proto.WriteFileAtomic(dir, BackupFile, d.Perm, func(w io.Writer) error {
			_, err := w.Write(d.Raw)
			return err
		}); err != nil {
			return "", fmt.Errorf("backup of %s: %w", proto.FilesImg, err)
		}
	case err != nil:
		return "", fmt.Errorf("backup of %s: %w", proto.FilesImg, err)
	case !st.Mode().IsRegular():
		return "", fmt.Errorf("backup of %s: %s exists and is not a regular file; refusing to touch the dump", proto.FilesImg, backup)
	}
	pause(proto.FilesImg)
	// The file must still be what was checked: another writer in between
	// would otherwise be silently undone.
	now, err := os.ReadFile(filepath.Join(dir, proto.FilesImg))
	if err != nil {
		return "", err
	}
	if !bytes.Equal(now, d.Raw) {
		return "", fmt.Errorf("%s changed while it was being checked; nothing written", proto.FilesImg)
	}
	if err := proto.WriteImageAtomic(dir, proto.FilesImg, d.Perm, d.Files); err != nil {
		return "", err
	}
	return backup, nil
}

// writeReport writes the JSON report into dir atomically.
func writeReport(dir string, rep *Report) error {
	return proto.WriteFileAtomic(dir, ReportFile, 0o644, rep.WriteJSON)
}

// leftovers lists temp files of interrupted writes of the files fixup
// writes (proto.WriteFileAtomic names them ".<name>.tmp-<random>").
func leftovers(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		for _, f := range []string{proto.FilesImg, BackupFile, ReportFile} {
			if strings.HasPrefix(n, "."+f+".tmp-") {
				out = append(out, n)
			}
		}
	}
	return out
}
