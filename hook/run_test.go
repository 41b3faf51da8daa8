package hook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	}{
		{name: "right dump", rep: &fixup.Report{Checked: 3}, logHas: "files.img is right"},
		{name: "repaired", rep: &fixup.Report{Checked: 3, Changes: []fixup.Change{{FileID: 5, Object: "fd 3", OldMntID: 30, NewMntID: 41}}, Backup: "/proc/1/fd/3/" + fixup.BackupFile},
			logHas: "1 repaired in files.img (original kept as " + fixup.BackupFile},
		{name: "cannot check", err: errors.New("files.img: no such file"), logHas: "cannot help, the dump is left as CRIU wrote it"},
		{name: "unrepairable", rep: &fixup.Report{Checked: 1, Problems: []fixup.Problem{{FileID: 5, Object: "fd 3", What: "no confirmed path"}}},
			err: fmt.Errorf("files.img: 1 entry: %w", fixup.ErrUnrepairable), wantFail: true, logHas: "FAILING THE DUMP"},
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
			if gotDir != env.ImageDir || gotOpts.RootPID != 42 || gotOpts.DryRun || gotOpts.Log == nil {
				t.Errorf("fixup.Run(%q, %+v), want the image dir, root pid 42, not a dry run, a log", gotDir, gotOpts)
			}
			out := log.String()
			if !strings.Contains(out, tc.logHas) {
				t.Errorf("log lacks %q:\n%s", tc.logHas, out)
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
