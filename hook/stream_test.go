package hook

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/fixup"
	"github.com/ovlfix/ovlfix/proto"
	"github.com/ovlfix/ovlfix/quirks"
)

// streamDir is a fake images dir of `criu dump --stream`: a listening unix
// socket named streamer-capture.sock, as criu-image-streamer creates it
// (under /tmp: sun_path holds 108 bytes).
func streamDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "ovlfix-stream-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l, err := net.Listen("unix", filepath.Join(dir, StreamerSocket))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return dir
}

// post-dump of a streamed dump: one clear line, success, and neither the
// quirks cache nor fixup is touched; the directory is left as it was.
func TestRunPostDumpStreamed(t *testing.T) {
	if p, err := exec.LookPath("criu-image-streamer"); err == nil {
		t.Logf("criu-image-streamer is installed (%s), but this test fakes its socket", p)
	} else {
		t.Logf("criu-image-streamer is not installed: the socket is faked, no real --stream dump is made")
	}
	dir := streamDir(t)
	var log bytes.Buffer
	calledFixup, calledQuirks := false, false
	err := Run(context.Background(), Env{Action: ActionPostDump, ImageDir: dir, InitPID: os.Getpid()}, Options{Log: &log,
		LoadQuirks: func(context.Context) (*quirks.Set, error) { calledQuirks = true; return nil, nil },
		fixupRun: func(context.Context, string, fixup.Options) (*fixup.Report, error) {
			calledFixup = true
			return nil, nil
		}})
	if err != nil {
		t.Fatalf("Run = %v, want nil: a streamed dump is not an error", err)
	}
	if calledFixup || calledQuirks {
		t.Errorf("fixup called %v, quirks loaded %v: a streamed dump has nothing to check", calledFixup, calledQuirks)
	}
	if want := LogPrefix + postDumpStreamedLine + "\n"; !strings.Contains(log.String(), want) {
		t.Errorf("log %q lacks %q", log.String(), want)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("the images dir holds %d entries, want only the socket", len(ents))
	}
}

// Not streamed: a regular file named streamer-capture.sock (CRIU connects
// only to a socket), and a socket next to a files.img (one is another
// dump's): post-dump checks files.img as always.
func TestRunPostDumpNotStreamed(t *testing.T) {
	plain := t.TempDir()
	if err := os.WriteFile(filepath.Join(plain, StreamerSocket), []byte("not a socket"), 0o600); err != nil {
		t.Fatal(err)
	}
	both := streamDir(t)
	if err := os.WriteFile(filepath.Join(both, proto.FilesImg), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ dir, logHas string }{
		"regular file":         {plain, "files.img is right"},
		"socket and files.img": {both, "holds both " + StreamerSocket + " and files.img"},
	} {
		var log bytes.Buffer
		called := false
		err := Run(context.Background(), Env{Action: ActionPostDump, ImageDir: tc.dir, InitPID: os.Getpid()}, Options{Log: &log, LoadQuirks: noQuirks,
			fixupRun: func(context.Context, string, fixup.Options) (*fixup.Report, error) {
				called = true
				return &fixup.Report{Checked: 1}, nil
			}})
		if err != nil || !called {
			t.Errorf("%s: Run = %v, fixup called %v; want nil and a check", name, err, called)
		}
		if out := log.String(); !strings.Contains(out, tc.logHas) || strings.Contains(out, "streamed") {
			t.Errorf("%s: log %q, want %q and no streaming claim", name, out, tc.logHas)
		}
	}
}

// pre-dump of a streamed dump notes it and seeds irmap-cache as always:
// here the work dir is not CRIU's (no CRIU), so seeding stops at the work
// dir check, after the note, and Run still succeeds.
func TestRunPreDumpStreamedStillSeeds(t *testing.T) {
	dir := streamDir(t)
	var log bytes.Buffer
	err := Run(context.Background(), Env{Action: ActionPreDump, ImageDir: dir, InitPID: os.Getpid()}, Options{Log: &log, WorkDir: t.TempDir()})
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	out := log.String()
	note := strings.Index(out, preDumpStreamedLine)
	seed := strings.Index(out, "work dir")
	if note < 0 || seed < note {
		t.Errorf("log %q: want %q, then the seeding's work dir check", out, preDumpStreamedLine)
	}
}
