package fixup

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/internal/fixuptest"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/proto"
	gproto "google.golang.org/protobuf/proto"
)

// TestRunLeavesUnprovenEntries: an entry the resolver disagrees with but
// nothing proves wrong is left as CRIU wrote it, with a note. Here CRIU's
// mnt_id for the fd on B's lower file is a bind mount of B: the same
// superblock, the name exists and is the held inode, so restore opens the
// right file; the resolver says B. Before the positive-proof rule fixup
// rewrote it to B.
func TestRunLeavesUnprovenEntries(t *testing.T) {
	c := scenariotest.StartT(t, "", nestedWithBind)
	f := fixuptest.Build(t, c)
	bind := int32(c.Mounts["Bbind"].ID)
	lowerID := f.IDs["lower"]
	setEntryMnt(t, f.Dir, lowerID, bind)

	rep, err := Run(context.Background(), f.Dir, Options{RootPID: f.RootPID})
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range rep.Changes {
		if ch.FileID == lowerID {
			t.Fatalf("entry %d changed without a proof that CRIU's value is wrong: %+v", lowerID, ch)
		}
	}
	noted := false
	for _, n := range rep.Notes {
		noted = noted || n.FileID == lowerID && strings.Contains(n.What, "nothing proves CRIU's value wrong")
	}
	if !noted {
		t.Errorf("no note for entry %d: notes %+v", lowerID, rep.Notes)
	}
	if got := entryByID(t, readImage(t, readFile(t, f.Dir, proto.FilesImg)), lowerID).GetReg().GetMntId(); got != bind {
		t.Errorf("entry %d now has mnt_id %d, want CRIU's %d", lowerID, got, bind)
	}
	// The proven mistakes are still repaired.
	changed := map[uint32]bool{}
	for _, ch := range rep.Changes {
		changed[ch.FileID] = true
	}
	for _, role := range []string{"upper", "map"} {
		if !changed[f.IDs[role]] {
			t.Errorf("%s entry (proven wrong) not repaired: %+v", role, rep.Changes)
		}
	}
}

// setEntryMnt rewrites the mnt_id of one files.img entry in dir, as if
// CRIU had written it so.
func setEntryMnt(t *testing.T, dir string, id uint32, mnt int32) {
	t.Helper()
	img, err := proto.ReadImageFile(filepath.Join(dir, proto.FilesImg))
	if err != nil {
		t.Fatal(err)
	}
	for i := range img.Entries {
		fe := &proto.FileEntry{}
		if err := img.Decode(i, fe); err != nil {
			t.Fatal(err)
		}
		if fe.GetId() != id {
			continue
		}
		fe.GetReg().MntId = gproto.Int32(mnt)
		if err := img.SetEntry(i, fe); err != nil {
			t.Fatal(err)
		}
		if err := proto.WriteImageAtomic(dir, proto.FilesImg, 0o600, img); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("no entry %d", id)
}
