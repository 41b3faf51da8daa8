package hook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/fixup"
	"github.com/ovlfix/ovlfix/internal/fixuptest"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/internal/testenv"
	"github.com/ovlfix/ovlfix/manifest"
	"github.com/ovlfix/ovlfix/proto"
)

// TestPostDumpDefersTheCheck: with Options.DeferCheck, post-dump (as the
// CRIU proxy runs it, inside the freeze) only observes the tasks: files.img
// is CRIU's and no report or manifest exists when it returns. The check
// it hands over, run after the tasks have exited (as after a checkpoint
// that ends them), repairs files.img as the one-step post-dump does and
// writes the report and the manifest; dropped (the dump failed), it
// writes nothing.
func TestPostDumpDefersTheCheck(t *testing.T) {
	c := scenariotest.StartT(t, "", fixuptest.NestedSpec)
	f := fixuptest.Build(t, c)
	ref, dropped := testenv.CopyFiles(t, f.Dir), testenv.CopyFiles(t, f.Dir)
	run := func(dir string, deferCheck func(LateCheck)) string {
		var log bytes.Buffer
		env := Env{Action: ActionPostDump, ImageDir: dir, InitPID: f.RootPID}
		if err := Run(context.Background(), env, Options{Log: &log, LoadQuirks: noQuirks, DeferCheck: deferCheck}); err != nil {
			t.Fatalf("post-dump: %v\n%s", err, log.String())
		}
		return log.String()
	}
	run(ref, nil) // the one-step post-dump, tasks alive
	var late, drop []LateCheck
	logged := run(f.Dir, func(l LateCheck) { late = append(late, l) })
	run(dropped, func(l LateCheck) { drop = append(drop, l) })
	if len(late) != 1 || len(drop) != 1 {
		t.Fatalf("%d and %d checks handed over, want 1 each; log:\n%s", len(late), len(drop), logged)
	}
	if !strings.Contains(logged, "files.img is checked once CRIU has finished the dump") {
		t.Errorf("post-dump does not say it handed the check over:\n%s", logged)
	}
	if got := testenv.DirNames(t, f.Dir); len(got) != len(testenv.DirNames(t, dropped)) ||
		!bytes.Equal(testenv.ReadFile(t, filepath.Join(f.Dir, proto.FilesImg)), f.Original) {
		t.Fatalf("post-dump wrote during the freeze: %v", got)
	}
	if err := c.Exit(); err != nil {
		t.Fatal(err)
	}
	late[0](context.Background(), true)
	drop[0](context.Background(), false)
	if a, b := testenv.ReadFile(t, filepath.Join(f.Dir, proto.FilesImg)), testenv.ReadFile(t, filepath.Join(ref, proto.FilesImg)); !bytes.Equal(a, b) || bytes.Equal(a, f.Original) {
		t.Errorf("files.img after the late check: repaired as the one-step check did: %v; unchanged from CRIU's: %v", bytes.Equal(a, b), bytes.Equal(a, f.Original))
	}
	for _, name := range []string{fixup.BackupFile, fixup.ReportFile, manifest.FileName} {
		if _, err := os.Stat(filepath.Join(f.Dir, name)); err != nil {
			t.Errorf("after the late check: %s: %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(dropped, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a dropped check left %s (%v)", name, err)
		}
	}
	var rep fixup.Report
	if err := json.Unmarshal(testenv.ReadFile(t, filepath.Join(f.Dir, fixup.ReportFile)), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.ImagesDir != f.Dir || rep.Backup != filepath.Join(f.Dir, fixup.BackupFile) {
		t.Errorf("the late report names the directory %q and the backup %q, want the images dir post-dump was given (%q), not the fd it held", rep.ImagesDir, rep.Backup, f.Dir)
	}
	if !bytes.Equal(testenv.ReadFile(t, filepath.Join(dropped, proto.FilesImg)), f.Original) {
		t.Errorf("a dropped check changed files.img")
	}
}

// TestLateCheckKeepsAnEarlierRepair: a careless user has both routes (an
// action-script line in runc.conf and the proxy). CRIU ≥ 3.19 in RPC mode
// sends the notification first and then runs the config file's scripts
// (criu/action-scripts.c run_scripts: SCRIPTS_RPC falls through to
// SCRIPTS_SHELL), so the proxy's post-dump observes and hands its check
// over, and the config script's post-dump then repairs files.img and
// writes the report and the manifest inside the same freeze. The late check finds files.img changed
// since it read it and writes nothing: every file, the manifest too, must
// stay as the script's run left them.
func TestLateCheckKeepsAnEarlierRepair(t *testing.T) {
	c := scenariotest.StartT(t, "", fixuptest.NestedSpec)
	f := fixuptest.Build(t, c)
	env := Env{Action: ActionPostDump, ImageDir: f.Dir, InitPID: f.RootPID}
	var late []LateCheck
	var log bytes.Buffer
	if err := Run(context.Background(), env, Options{Log: &log, LoadQuirks: noQuirks, DeferCheck: func(l LateCheck) { late = append(late, l) }}); err != nil {
		t.Fatalf("the proxy's post-dump: %v\n%s", err, log.String())
	}
	if len(late) != 1 {
		t.Fatalf("%d checks handed over, want 1:\n%s", len(late), log.String())
	}
	if err := Run(context.Background(), env, Options{Log: &log, LoadQuirks: noQuirks}); err != nil {
		t.Fatalf("the config script's post-dump: %v\n%s", err, log.String())
	}
	before := testenv.DirFiles(t, f.Dir)
	if _, ok := before[manifest.FileName]; !ok || bytes.Equal(before[proto.FilesImg], f.Original) {
		t.Fatalf("the config script's post-dump did not repair and write the manifest: %v\n%s", testenv.DirNames(t, f.Dir), log.String())
	}
	if err := c.Exit(); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	late[0](context.Background(), true)
	after := testenv.DirFiles(t, f.Dir)
	for name, b := range before {
		if a, ok := after[name]; !ok || !bytes.Equal(a, b) {
			t.Errorf("the late check changed or removed %s (still there: %v)", name, ok)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("the late check added %s", name)
		}
	}
	if !strings.Contains(log.String(), "files.img changed while it was being checked; nothing written") {
		t.Errorf("the late check does not say files.img changed under it:\n%s", log.String())
	}
	t.Logf("late check:\n%s", log.String())
}
