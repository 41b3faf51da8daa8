package fixup

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ovlfix/ovlfix/proto"
)

// writeRepair makes the changes durable, in an order that leaves a state
// the next run recognises at every instant (docs/fixup.md § Crash safety),
// each file written atomically (temp file, fsync, rename, fsync of the
// directory):
//
//  1. the report, with rep.Backup and the digests: original_sha256 (the
//     backup's bytes, or files.img as found when there is no backup yet),
//     found_sha256 (files.img as found) and files_sha256 (the repaired
//     bytes about to be written);
//  2. the backup files.img.ovlfix-orig with the exact bytes read, unless a
//     verified backup exists: it is the true original and is never
//     replaced;
//  3. files.img, replaced by the repaired image.
//
// A crash before 2 leaves no backup and CRIU's files.img (the report's
// claims are then moot: without a backup the next run starts afresh); a
// crash before 3 leaves a backup the report vouches for and files.img
// byte-identical to it; after 3, files.img is the report's files_sha256.
// checkBackup accepts exactly these. A temp file left by a crash has a
// name CRIU never reads (".files.img.tmp-*").
func writeRepair(dir string, d *dumpImages, rep *Report, pause func(string)) error {
	// files.img and the backup must still be what was checked: another
	// writer in between would otherwise be silently undone.
	if err := d.stillFound(dir); err != nil {
		return err
	}
	now, err := checkBackup(dir, d.Raw)
	if err != nil {
		return err
	}
	if now != d.Backup {
		return fmt.Errorf("%s appeared, went or changed while %s was being checked; nothing written", BackupFile, proto.FilesImg)
	}
	var buf bytes.Buffer
	if err := d.Files.Encode(&buf); err != nil {
		return err
	}
	repaired := buf.Bytes()
	d.stamp(rep)
	rep.FilesSHA256 = sha256Hex(repaired)
	rep.Backup = filepath.Join(rep.ImagesDir, BackupFile) // the name the report gives the directory

	pause(ReportFile)
	if err := writeReport(dir, rep); err != nil {
		return err
	}
	if !d.Backup.exists {
		pause("backup")
		if err := proto.WriteFileAtomic(dir, BackupFile, d.Perm, writeBytes(d.Raw)); err != nil {
			return fmt.Errorf("backup of %s: %w", proto.FilesImg, err)
		}
	}
	pause(proto.FilesImg)
	if err := d.stillFound(dir); err != nil {
		return err
	}
	return proto.WriteFileAtomic(dir, proto.FilesImg, d.Perm, writeBytes(repaired))
}

// stillFound checks that files.img still holds the bytes that were checked.
func (d *dumpImages) stillFound(dir string) error {
	now, _, err := proto.ReadFileCapped(filepath.Join(dir, proto.FilesImg), proto.MaxImageFileSize)
	if err != nil {
		return err
	}
	if !bytes.Equal(now, d.Raw) {
		return fmt.Errorf("%s changed while it was being checked; nothing written", proto.FilesImg)
	}
	return nil
}

// stamp records in rep the digests of files.img: CRIU's original, as this
// run found it, and as it leaves it (as found, unless writeRepair
// replaces it).
func (d *dumpImages) stamp(rep *Report) {
	rep.OriginalSHA256 = d.Backup.originalSHA
	rep.FoundSHA256 = sha256Hex(d.Raw)
	rep.FilesSHA256 = rep.FoundSHA256
}

func writeBytes(b []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}
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
