package dump

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ovlfix/ovlfix/manifest"
	"github.com/ovlfix/ovlfix/proto"
)

// TestWriteDirManifestDigest: `dump -D` writes the manifest with the
// digest of the files.img it writes beside it (inspect refuses it next
// to another files.img, as in a reused images directory).
func TestWriteDirManifestDigest(t *testing.T) {
	table := selfTable(t)
	d := syntheticDump(table, 3, table.Mounts()[0].ID)
	dir := t.TempDir()
	if _, err := d.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.ReadFile(filepath.Join(dir, proto.FilesImg))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, manifest.FileName))
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.ReadFile(b)
	if err != nil || m.FilesImgSHA256 != manifest.Digest(fi) || len(m.Files) != 3 {
		t.Errorf("manifest digest %q, %d files (%v); want %q and 3", m.FilesImgSHA256, len(m.Files), err, manifest.Digest(fi))
	}
}
