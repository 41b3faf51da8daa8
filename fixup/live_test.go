package fixup

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/ovlfix/ovlfix/internal/testenv"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/internal/fixuptest"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/proto"
)

// TestRunRepairsNestedOverlay is the §13 case on a live target: fixup
// must correct exactly the entries CRIU got wrong, leave every other
// entry byte for byte, keep the original, and be idempotent.
func TestRunRepairsNestedOverlay(t *testing.T) {
	c := scenariotest.StartT(t, "", fixuptest.NestedSpec)
	f := fixuptest.Build(t, c)
	var log bytes.Buffer
	rep, err := Run(context.Background(), f.Dir, Options{RootPID: f.RootPID, Log: &log})
	if err != nil {
		t.Fatalf("Run: %v\nlog:\n%s", err, log.String())
	}
	t.Logf("log:\n%s", log.String())

	// The report lists exactly the wrong entries, with the true values.
	got := map[uint32]Change{}
	for _, ch := range rep.Changes {
		got[ch.FileID] = ch
	}
	if len(rep.Changes) != len(f.Wrong) {
		t.Errorf("%d changes, want %d (ids %v): %+v", len(rep.Changes), len(f.Wrong), keys(f.Wrong), rep.Changes)
	}
	for id := range f.Wrong {
		ch, ok := got[id]
		if !ok {
			t.Errorf("files.img id %d was wrong and is not in the changes", id)
			continue
		}
		if tr := f.Truth[id]; string(ch.NewName) != tr.Name || ch.NewMntID != tr.Mnt {
			t.Errorf("id %d: changed to %q mnt %d, want %q mnt %d", id, ch.NewName, ch.NewMntID, tr.Name, tr.Mnt)
		}
	}
	if len(rep.Problems) != 0 {
		t.Errorf("problems: %+v", rep.Problems)
	}
	if want := len(f.Truth); rep.Checked != want {
		t.Errorf("checked %d entries, want %d", rep.Checked, want)
	}

	// files.img: the true values everywhere, other entries byte-identical.
	orig := readImage(t, f.Original)
	now := readFile(t, f.Dir, proto.FilesImg)
	fixed := readImage(t, now)
	if len(fixed.Entries) != len(orig.Entries) {
		t.Fatalf("%d entries after, %d before", len(fixed.Entries), len(orig.Entries))
	}
	for i := range orig.Entries {
		fe := &proto.FileEntry{}
		if err := fixed.Decode(i, fe); err != nil {
			t.Fatal(err)
		}
		id := fe.GetId()
		if !f.Wrong[id] {
			if !bytes.Equal(fixed.Entries[i], orig.Entries[i]) {
				t.Errorf("entry %d (id %d) changed but was right", i, id)
			}
			continue
		}
		tr := f.Truth[id]
		if fe.GetReg().GetName() != tr.Name || fe.GetReg().GetMntId() != tr.Mnt {
			t.Errorf("id %d in files.img: %q mnt %d, want %q mnt %d", id, fe.GetReg().GetName(), fe.GetReg().GetMntId(), tr.Name, tr.Mnt)
		}
	}
	for _, role := range []string{"good", "map"} { // unchanged and changed entries keep field 1000
		fe := entryByID(t, fixed, f.IDs[role])
		if unk := fe.GetReg().ProtoReflect().GetUnknown(); !bytes.Equal(unk, fixuptest.UnknownField()) {
			t.Errorf("%s entry: unknown fields %x, want %x", role, unk, fixuptest.UnknownField())
		}
	}

	// The backup is the original; the report file is the report.
	if b := readFile(t, f.Dir, BackupFile); !bytes.Equal(b, f.Original) {
		t.Error("backup differs from the original files.img")
	}
	if rep.Backup != filepath.Join(f.Dir, BackupFile) {
		t.Errorf("report backup %q", rep.Backup)
	}
	var onDisk Report
	if err := json.Unmarshal(readFile(t, f.Dir, ReportFile), &onDisk); err != nil {
		t.Fatal(err)
	}
	if len(onDisk.Changes) != len(rep.Changes) || !bytes.Equal(onDisk.Changes[0].NewName, rep.Changes[0].NewName) {
		t.Errorf("report file: %+v", onDisk.Changes)
	}

	// A second run changes nothing and keeps the original backup.
	rep2, err := Run(context.Background(), f.Dir, Options{RootPID: f.RootPID})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep2.Changes) != 0 || rep2.Backup != "" {
		t.Errorf("second run: %d changes, backup %q", len(rep2.Changes), rep2.Backup)
	}
	if !bytes.Equal(readFile(t, f.Dir, proto.FilesImg), now) {
		t.Error("second run rewrote files.img")
	}
	if !bytes.Equal(readFile(t, f.Dir, BackupFile), f.Original) {
		t.Error("second run replaced the backup")
	}

	// The digests tie the backup to files.img: the first run recorded
	// CRIU's original, what it found (the same) and what it wrote; the
	// second keeps CRIU's original, not the repaired file it found.
	origSum, nowSum := sha256Hex(f.Original), sha256Hex(now)
	if rep.OriginalSHA256 != origSum || rep.FoundSHA256 != origSum || rep.FilesSHA256 != nowSum {
		t.Errorf("first run digests %s %s %s, want %s %s %s", rep.OriginalSHA256, rep.FoundSHA256, rep.FilesSHA256, origSum, origSum, nowSum)
	}
	if rep2.OriginalSHA256 != origSum || rep2.FoundSHA256 != nowSum || rep2.FilesSHA256 != nowSum {
		t.Errorf("second run digests %s %s %s, want %s %s %s", rep2.OriginalSHA256, rep2.FoundSHA256, rep2.FilesSHA256, origSum, nowSum, nowSum)
	}
	if rd := readDigests(t, f.Dir); rd.Original != origSum || rd.Files != nowSum {
		t.Errorf("report file digests %+v", rd)
	}
}

// TestDryRunWritesNothing: the plan is the same as a real run's, and the
// directory is byte-identical afterwards.
func TestDryRunWritesNothing(t *testing.T) {
	c := scenariotest.StartT(t, "", fixuptest.NestedSpec)
	f := fixuptest.Build(t, c)
	before := testenv.DirFiles(t, f.Dir)
	rep, err := Run(context.Background(), f.Dir, Options{RootPID: f.RootPID, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Changes) != len(f.Wrong) || !rep.DryRun || rep.Backup != "" {
		t.Errorf("dry run: %d changes (want %d), dry_run %v, backup %q", len(rep.Changes), len(f.Wrong), rep.DryRun, rep.Backup)
	}
	assertSameDir(t, f.Dir, before)
}

func keys(m map[uint32]bool) []uint32 {
	var out []uint32
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func readFile(t testing.TB, dir, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readImage(t testing.TB, b []byte) *proto.Image {
	t.Helper()
	img, err := proto.ReadImage(bytes.NewReader(b), proto.FilesImg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func entryByID(t testing.TB, img *proto.Image, id uint32) *proto.FileEntry {
	t.Helper()
	for i := range img.Entries {
		fe := &proto.FileEntry{}
		if err := img.Decode(i, fe); err != nil {
			t.Fatal(err)
		}
		if fe.GetId() == id {
			return fe
		}
	}
	t.Fatalf("no entry with id %d", id)
	return nil
}

func assertSameDir(t testing.TB, dir string, before map[string][]byte) {
	t.Helper()
	after := testenv.DirFiles(t, dir)
	var diffs []string
	for n, b := range before {
		if a, ok := after[n]; !ok {
			diffs = append(diffs, n+" removed")
		} else if !bytes.Equal(a, b) {
			diffs = append(diffs, n+" changed")
		}
	}
	for n := range after {
		if _, ok := before[n]; !ok {
			diffs = append(diffs, n+" added")
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		t.Errorf("directory changed: %s", strings.Join(diffs, ", "))
	}
}
