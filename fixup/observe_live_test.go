package fixup

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/internal/fixuptest"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/internal/testenv"
	"github.com/ovlfix/ovlfix/proto"
)

// exitTree ends the scenario child (and with it, by its death signal, the
// grandchild) and waits until /proc has neither: its private mount
// namespace then has no task.
func exitTree(t *testing.T, c *scenario.Child, f *fixuptest.Fixture) {
	t.Helper()
	if err := c.Exit(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range []int{f.RootPID, f.GCPID} {
		for {
			b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
			if err != nil || bytes.Contains(b, []byte(") Z ")) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pid %d still there after the child exited", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// TestFinishAfterTheTasksExit: the check's second step (Observed.Finish)
// needs nothing of the tasks but what Observe captured. Observed while
// they live, finished after they were killed (their private mount
// namespace has no task left, only Observe's pin holds it), the nested
// case gets exactly the repair the one-step Run makes while they live:
// the same files.img, byte for byte, and the same changes.
func TestFinishAfterTheTasksExit(t *testing.T) {
	c := scenariotest.StartT(t, "", fixuptest.NestedSpec)
	f := fixuptest.Build(t, c)
	ref := testenv.CopyFiles(t, f.Dir)
	want, err := Run(context.Background(), ref, Options{RootPID: f.RootPID})
	if err != nil {
		t.Fatalf("Run (reference, tasks alive): %v", err)
	}
	var log bytes.Buffer
	o, err := Observe(context.Background(), f.Dir, Options{RootPID: f.RootPID, Log: &log})
	if err != nil {
		t.Fatalf("Observe: %v", err)
	}
	defer o.Close()
	if why := o.FrozenOnly(); why != "" {
		t.Fatalf("FrozenOnly = %q for the nested case, whose mount ids are all in mountinfo", why)
	}
	if b := testenv.ReadFile(t, filepath.Join(f.Dir, proto.FilesImg)); !bytes.Equal(b, f.Original) {
		t.Fatal("Observe changed files.img")
	}
	exitTree(t, c, f)
	got, err := o.Finish(context.Background(), true)
	if err != nil {
		t.Fatalf("Finish after the tasks exited: %v\nlog:\n%s", err, log.String())
	}
	if len(got.Changes) == 0 || len(got.Changes) != len(want.Changes) || len(got.Problems) != len(want.Problems) {
		t.Errorf("after the exit: %d changes, %d problems %+v; while alive: %d changes, %d problems",
			len(got.Changes), len(got.Problems), got.Problems, len(want.Changes), len(want.Problems))
	}
	a, b := testenv.ReadFile(t, filepath.Join(f.Dir, proto.FilesImg)), testenv.ReadFile(t, filepath.Join(ref, proto.FilesImg))
	if !bytes.Equal(a, b) {
		t.Errorf("files.img repaired after the exit differs from the one repaired while the tasks lived")
	}
	if got.Manifest == nil || len(got.Manifest.Files) != len(want.Manifest.Files) {
		t.Errorf("manifest after the exit %v, want %d files", got.Manifest, len(want.Manifest.Files))
	}
	t.Logf("%d changes after the tasks exited, as while they lived", len(got.Changes))
}

// TestFrozenOnlyOnMissingMount: an entry whose mount id is in no mountinfo
// may make the dump unrepairable, which only a check during the freeze
// can still turn into a failed dump with the tasks resumed: FrozenOnly
// names it.
func TestFrozenOnlyOnMissingMount(t *testing.T) {
	c := scenariotest.StartT(t, "", fixuptest.NestedSpec)
	f := fixuptest.Build(t, c)
	setEntryMnt(t, f.Dir, f.IDs["good"], 999999)
	o, err := Observe(context.Background(), f.Dir, Options{RootPID: f.RootPID, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	why := o.FrozenOnly()
	if !strings.Contains(why, "names mount 999999, which is in no mountinfo of the task") {
		t.Errorf("FrozenOnly = %q, want the entry with mount 999999 named", why)
	}
}

// TestLateCheckNeverFailsOnAName: after the freeze a resumed task may have
// renamed its files, so a proof by a name inside the root (CRIU's name no
// longer exists) is a problem then, never a failed dump; the same
// observation finished as during the freeze fails it. Here the held
// /etc/app.conf is renamed between Observe and Finish.
func TestLateCheckNeverFailsOnAName(t *testing.T) {
	c := scenariotest.StartT(t, "", fixuptest.NestedSpec)
	f := fixuptest.Build(t, c)
	frozenDir := testenv.CopyFiles(t, f.Dir)
	late, err := Observe(context.Background(), f.Dir, Options{RootPID: f.RootPID, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	frozen, err := Observe(context.Background(), frozenDir, Options{RootPID: f.RootPID, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	defer frozen.Close()
	conf := heldPath(t, c, "good")
	root := "/proc/" + strconv.Itoa(f.RootPID) + "/root"
	if err := os.Rename(root+conf, root+conf+".moved"); err != nil {
		t.Fatal(err)
	}
	rep, err := late.Finish(context.Background(), true)
	if err != nil {
		t.Fatalf("the late check failed the dump on a renamed file: %v", err)
	}
	found := false
	for _, p := range rep.Problems {
		if p.FileID == f.IDs["good"] {
			found = true
		}
	}
	if !found {
		t.Errorf("no problem for the renamed file; problems %+v", rep.Problems)
	}
	if _, err := frozen.Finish(context.Background(), false); !errors.Is(err, ErrUnrepairable) {
		t.Errorf("the same observation checked as during the freeze: %v, want ErrUnrepairable", err)
	}
}

// heldPath is the path (inside the child's root) of the held object label.
func heldPath(t *testing.T, c *scenario.Child, label string) string {
	t.Helper()
	for _, h := range c.Held {
		if h.Label == label {
			return string(h.Path)
		}
	}
	t.Fatalf("no held object %q", label)
	return ""
}

// TestObserveReleasesWhatItHolds: every way out of the two steps gives
// back the root fds and the namespace pins of the captures (a pin keeps a
// container's mounts busy): Observe stopped after it captured a task
// (ctx cancelled before the next), Close without Finish (a dropped
// check), Finish then Close, and FrozenOnly's in-freeze Finish.
func TestObserveReleasesWhatItHolds(t *testing.T) {
	c := scenariotest.StartT(t, "", fixuptest.NestedSpec)
	f := fixuptest.Build(t, c)
	before := testenv.OpenFDs(t)

	// The tree clock is read once at the start and once per task scanned:
	// its second reading (the first task's scan) cancels, so the second
	// task is not observed.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reads := 0
	clock := func() time.Time {
		if reads++; reads == 2 {
			cancel()
		}
		return time.Now()
	}
	if _, err := Observe(ctx, testenv.CopyFiles(t, f.Dir), Options{RootPID: f.RootPID, TreeTime: time.Hour, now: clock}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Observe cancelled after its first task: %v, want context.Canceled", err)
	}
	if reads < 2 {
		t.Fatalf("the clock was read %d times: the first task was not scanned", reads)
	}
	if n := testenv.OpenFDs(t) - before; n != 0 {
		t.Errorf("Observe stopped midway left %d fds open", n)
	}

	o, err := Observe(context.Background(), testenv.CopyFiles(t, f.Dir), Options{RootPID: f.RootPID, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if testenv.OpenFDs(t) == before {
		t.Fatal("Observe holds no fd: nothing captured?")
	}
	o.Close()
	if n := testenv.OpenFDs(t) - before; n != 0 {
		t.Errorf("a dropped observation left %d fds open", n)
	}

	o, err = Observe(context.Background(), testenv.CopyFiles(t, f.Dir), Options{RootPID: f.RootPID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Finish(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	o.Close()
	if n := testenv.OpenFDs(t) - before; n != 0 {
		t.Errorf("Finish and Close left %d fds open", n)
	}

	dir := testenv.CopyFiles(t, f.Dir)
	setEntryMnt(t, dir, f.IDs["good"], 999999)
	o, err = Observe(context.Background(), dir, Options{RootPID: f.RootPID})
	if err != nil {
		t.Fatal(err)
	}
	if why := o.FrozenOnly(); why == "" {
		t.Fatal("FrozenOnly is empty for a mount in no mountinfo")
	}
	if _, err := o.Finish(context.Background(), false); err != nil {
		t.Errorf("in-freeze Finish (mount 999999 repaired from the live fd): %v", err)
	}
	o.Close()
	if n := testenv.OpenFDs(t) - before; n != 0 {
		t.Errorf("the in-freeze Finish and Close left %d fds open", n)
	}
}

// TestFinishStoppedWritesNothing: a check after the freeze whose context
// ends while it runs (the proxy's budget, SIGTERM to the proxy) writes
// nothing: files.img stays CRIU's, and no backup or report appears. Here
// the context ends while the first task is checked, after the tasks
// exited.
func TestFinishStoppedWritesNothing(t *testing.T) {
	c := scenariotest.StartT(t, "", fixuptest.NestedSpec)
	f := fixuptest.Build(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	checking := false
	reads := 0
	clock := func() time.Time {
		if checking {
			if reads++; reads == 1 {
				cancel() // the first task's check: the second one sees it
			}
		}
		return time.Now()
	}
	o, err := Observe(context.Background(), f.Dir, Options{RootPID: f.RootPID, TreeTime: time.Hour, now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	before := testenv.DirFiles(t, f.Dir)
	exitTree(t, c, f)
	checking = true
	if _, err := o.Finish(ctx, true); !errors.Is(err, context.Canceled) {
		t.Fatalf("Finish stopped midway: %v, want context.Canceled", err)
	}
	after := testenv.DirFiles(t, f.Dir)
	if len(after) != len(before) {
		t.Errorf("a stopped check left %v, the images were %v", testenv.Names(after), testenv.Names(before))
	}
	if !bytes.Equal(after[proto.FilesImg], f.Original) {
		t.Error("a stopped check changed files.img")
	}
}
