package proto

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	criucore "github.com/checkpoint-restore/go-criu/v7/crit/images/criu-core"
	"github.com/checkpoint-restore/go-criu/v7/crit/images/stats"
	gproto "google.golang.org/protobuf/proto"
)

// criuTestdata holds real images dumped by CRIU 3.17.1 on Linux 6.1
// (see ../testdata/criu/README.md and make-images.sh there).
const criuTestdata = "../testdata/criu"

// realImages returns the paths of every image file under testdata/criu.
func realImages(t testing.TB) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(criuTestdata, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || strings.HasSuffix(p, ".md") || strings.HasSuffix(p, ".sh") || strings.HasSuffix(p, ".log") {
			return nil
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 10 {
		t.Fatalf("only %d images under %s", len(paths), criuTestdata)
	}
	return paths
}

func readTestFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newMessage returns an empty message of the type kind's entries have, or nil.
func newMessage(kind Kind) gproto.Message {
	switch kind {
	case KindInventory:
		return &InventoryEntry{}
	case KindFiles:
		return &FileEntry{}
	case KindFdinfo:
		return &FdinfoEntry{}
	case KindMnts:
		return &MntEntry{}
	case KindIds:
		return &TaskKobjIdsEntry{}
	case KindPstree:
		return &PstreeEntry{}
	case KindFs:
		return &FsEntry{}
	case KindMm:
		return &MmEntry{}
	case KindIrmapCache:
		return &IrmapCacheEntry{}
	case KindStats:
		return &stats.StatsEntry{}
	case "CORE":
		return &criucore.CoreEntry{}
	}
	return nil
}
