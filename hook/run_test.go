package hook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/fixup"
	"github.com/ovlfix/ovlfix/quirks"
)

func noQuirks(context.Context) (*quirks.Set, error) {
	return nil, errors.New("not probed in this test")
}

// The exit policy: only an unrepairable dump fails it.
func TestRunPostDumpExitPolicy(t *testing.T) {
	env := Env{Action: ActionPostDump, ImageDir: "/proc/1/fd/3", CRIUPID: 1, InitPID: 42}
	tests := []struct {
		name     string
		rep      *fixup.Report
		err      error
		wantFail bool
		logHas   string
		logLacks string
	}{
		{name: "right dump", rep: &fixup.Report{Checked: 3}, logHas: "files.img is right"},
		{name: "repaired", rep: &fixup.Report{Checked: 3, Changes: []fixup.Change{{FileID: 5, Object: "fd 3", OldMntID: 30, NewMntID: 41}}, Backup: "/proc/1/fd/3/" + fixup.BackupFile},
			logHas: "1 repaired in files.img (original kept as " + fixup.BackupFile},
		{name: "cannot check", err: errors.New("files.img: no such file"), logHas: "cannot help, the dump is left as CRIU wrote it"},
		{name: "unrepairable", rep: &fixup.Report{Checked: 1, Problems: []fixup.Problem{{FileID: 5, Object: "fd 3", What: "no confirmed path"}}},
			err: fmt.Errorf("files.img: 1 entry: %w", fixup.ErrUnrepairable), wantFail: true, logHas: "FAILING THE DUMP", logLacks: "files.img is right"},
		{name: "not all checked", rep: &fixup.Report{Checked: 2, Problems: []fixup.Problem{{FileID: 5, Object: "pid 1 cwd", What: "could not check: unresolved"}}},
			logHas: "2 REG entries checked, none changed, 1 problem(s)", logLacks: "files.img is right"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			var gotDir string
			var gotOpts fixup.Options
			fake := func(_ context.Context, dir string, o fixup.Options) (*fixup.Report, error) {
				gotDir, gotOpts = dir, o
				return tc.rep, tc.err
			}
			err := Run(context.Background(), env, Options{Log: &log, LoadQuirks: noQuirks, fixupRun: fake})
			if (err != nil) != tc.wantFail {
				t.Fatalf("Run = %v, want failure %v", err, tc.wantFail)
			}
			if tc.wantFail && !errors.Is(err, fixup.ErrUnrepairable) {
				t.Errorf("error %v does not wrap ErrUnrepairable", err)
			}
			if gotDir != env.ImageDir || gotOpts.RootPID != 42 || gotOpts.DryRun || gotOpts.Log == nil || gotOpts.TreeTime != DefaultTreeTime {
				t.Errorf("fixup.Run(%q, %+v), want the image dir, root pid 42, not a dry run, a log, the tree's time bound", gotDir, gotOpts)
			}
			out := log.String()
			if !strings.Contains(out, tc.logHas) {
				t.Errorf("log lacks %q:\n%s", tc.logHas, out)
			}
			if tc.logLacks != "" && strings.Contains(out, tc.logLacks) {
				t.Errorf("log says %q:\n%s", tc.logLacks, out)
			}
			if strings.Contains(out, "/proc/1/fd/3") {
				t.Errorf("log names the image dir link as a path:\n%s", out)
			}
			for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
				if !strings.HasPrefix(l, LogPrefix) {
					t.Errorf("log line without the prefix: %q", l)
				}
			}
		})
	}
}

func TestRunOtherActionsDoNothing(t *testing.T) {
	for _, a := range []string{"pre-restore", "post-restore", "network-lock", "network-unlock", "setup-namespaces", "post-resume", "no-such-action"} {
		var log bytes.Buffer
		called := false
		fake := func(context.Context, string, fixup.Options) (*fixup.Report, error) { called = true; return nil, nil }
		if err := Run(context.Background(), Env{Action: a}, Options{Log: &log, fixupRun: fake}); err != nil {
			t.Errorf("%s: %v", a, err)
		}
		if called || log.Len() > 0 {
			t.Errorf("%s: did work (fixup called %v, log %q)", a, called, log.String())
		}
	}
}

func TestLoggerPrefixesEveryLine(t *testing.T) {
	var out bytes.Buffer
	l := NewLogger(&out)
	fmt.Fprint(l, "one\ntw")
	fmt.Fprint(l, "o\n\nthree")
	l.Printf("four %d", 4)
	l.Flush()
	want := "ovlfix-hook: one\novlfix-hook: two\novlfix-hook: \novlfix-hook: threefour 4\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// The images dir is a /proc/<criu-pid>/fd/N link: fixup's errors and
// paths that embed it are shown with ImageDirLabel, never as a name.
func TestRunPostDumpHidesTheImageDirLink(t *testing.T) {
	images, env := criuLinkEnv(t)
	link := env.ImageDir
	fake := func(_ context.Context, dir string, o fixup.Options) (*fixup.Report, error) {
		fmt.Fprintf(o.Log, "ovlfix fixup: reading %s/pstree.img and %s1\n", dir, dir)
		return nil, fmt.Errorf("images in %s: open %s/files.img: no such file or directory", dir, dir)
	}
	var log bytes.Buffer
	if err := Run(context.Background(), env, Options{Log: &log, LoadQuirks: noQuirks, fixupRun: fake}); err != nil {
		t.Fatal(err)
	}
	out := log.String()
	t.Logf("log:\n%s", out)
	if strings.Contains(strings.ReplaceAll(out, link+"1", ""), link) {
		t.Errorf("log names the image dir link as a path:\n%s", out)
	}
	for _, want := range []string{
		fmt.Sprintf("<images dir> is fd %s of CRIU (pid %d), open on the directory CRIU calls %q", link[strings.LastIndexByte(link, '/')+1:], os.Getpid(), images),
		"reading <images dir>/pstree.img and " + link + "1",
		`cannot help, the dump is left as CRIU wrote it: "images in <images dir>: open <images dir>/files.img: no such file or directory"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// pre-dump says "nothing to do" only when the scan worked and found no
// overlay watch; a failed scan says why it cannot help, and only that.
func TestRunPreDumpNothingToDoOnlyAfterAScan(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		pid      int
		has, not string
	}{
		{"no watch", os.Getpid(), "pre-dump: no inotify/fanotify watch on an overlay: nothing to do", "cannot help"},
		{"scan failed", gone.Process.Pid, "pre-dump: cannot help, irmap-cache not written: ", "nothing to do"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			env := Env{Action: ActionPreDump, InitPID: tc.pid, CRIUPID: os.Getpid()} // our cwd is the work dir
			if err := Run(context.Background(), env, Options{Log: &log, WorkDir: "."}); err != nil {
				t.Fatal(err)
			}
			out := log.String()
			t.Logf("log:\n%s", out)
			if !strings.Contains(out, tc.has) || strings.Contains(out, tc.not) {
				t.Errorf("log lacks %q or has %q:\n%s", tc.has, tc.not, out)
			}
		})
	}
}

// Untrusted strings in pre-dump lines (paths, reasons, notes) are quoted:
// one logged line stays one line of the log.
func TestLogSeedQuotesUntrustedStrings(t *testing.T) {
	forged := "x\novlfix-hook: pre-dump: wrote irmap-cache in CRIU's work dir (9 overlay watch(es))"
	s := &Seed{
		Notes:    []string{"note " + forged},
		Skipped:  []SkippedWatch{{PID: 1, Name: "watch 3:1", Reason: "resolved to " + forged}},
		Outcomes: []MergeOutcome{{Entry: IrmapEntry{Dev: 1, Ino: 2, Path: forged}, What: KeptExisting, Existing: IrmapEntry{Path: forged}}},
	}
	var out bytes.Buffer
	log := NewLogger(&out)
	logSeed(s, nil, log)
	log.Flush()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	t.Logf("log:\n%s", out.String())
	if len(lines) != 4 { // note, skipped, outcome, summary
		t.Errorf("%d lines, want 4: a name added lines", len(lines))
	}
	for _, l := range lines {
		if strings.Contains(l, "(9 overlay watch(es))") && !strings.Contains(l, `\n`) {
			t.Errorf("forged line: %q", l)
		}
	}
}

func TestLoggerHidesOnlyTheWholeLink(t *testing.T) {
	var out bytes.Buffer
	l := NewLogger(&out)
	l.hideDir("/proc/7/fd/3", ImageDirLabel)
	l.Printf("a /proc/7/fd/3 b /proc/7/fd/3/files.img c /proc/7/fd/31 d /proc/7/fd/3")
	want := LogPrefix + "a <images dir> b <images dir>/files.img c /proc/7/fd/31 d <images dir>\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// A cancelled context (SIGINT/SIGTERM in `ovlfix hook`) stops the work;
// Run says so, says what is left, and lets the dump stand.
func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("interrupted by SIGTERM"))
	fake := func(ctx context.Context, _ string, _ fixup.Options) (*fixup.Report, error) { return nil, ctx.Err() }
	for _, tc := range []struct {
		env  Env
		want string
	}{
		{Env{Action: ActionPostDump, ImageDir: "/images", InitPID: 42}, "post-dump: interrupted by SIGTERM: the dump is left as CRIU wrote it; the dump goes on with it"},
		{Env{Action: ActionPreDump, InitPID: os.Getpid(), CRIUPID: os.Getpid()}, "pre-dump: interrupted by SIGTERM: irmap-cache not written; the dump goes on without it"},
	} {
		var log bytes.Buffer
		if err := Run(ctx, tc.env, Options{Log: &log, WorkDir: ".", LoadQuirks: noQuirks, fixupRun: fake}); err != nil {
			t.Errorf("%s: %v, want nil (the dump stands)", tc.env.Action, err)
		}
		if !strings.Contains(log.String(), tc.want) || strings.Contains(log.String(), "cannot help") {
			t.Errorf("%s: log lacks %q (or says cannot help):\n%s", tc.env.Action, tc.want, log.String())
		}
	}
}

// criuLinkEnv is a post-dump's environment as CRIU gives it: the images
// directory (a new temp dir, returned too) named by this process's fd on
// it, /proc/<pid>/fd/N, with this process as CRIU; root task 42.
func criuLinkEnv(t *testing.T) (images string, env Env) {
	t.Helper()
	images = t.TempDir()
	d, err := os.Open(images)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	link := fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), d.Fd())
	return images, Env{Action: ActionPostDump, ImageDir: link, CRIUPID: os.Getpid(), InitPID: 42}
}
