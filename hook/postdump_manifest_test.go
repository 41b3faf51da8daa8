package hook

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/fixup"
	"github.com/ovlfix/ovlfix/internal/testenv"
	"github.com/ovlfix/ovlfix/manifest"
)

// TestPostDumpWritesManifest: post-dump writes the manifest fixup made
// into the images directory; a second run rewrites the same bytes; a
// manifest that cannot be written (its name taken by a directory) is
// logged and the dump stands.
func TestPostDumpWritesManifest(t *testing.T) {
	dir := t.TempDir()
	m := manifest.New(manifest.WriterPostDump)
	m.Files = append(m.Files, manifest.File{ID: 1, Name: "/etc/x", MntID: 30, Dev: "0:40", Ino: 7,
		Holders: []manifest.Holder{{PID: 1, Kind: "fd", FD: 3}},
		Overlay: &manifest.Overlay{Where: manifest.Lower, Layer: 0, LayerDir: "/l0"}})
	fake := func(context.Context, string, fixup.Options) (*fixup.Report, error) {
		return &fixup.Report{Checked: 1, Manifest: m}, nil
	}
	env := Env{Action: ActionPostDump, ImageDir: dir, CRIUPID: 1, InitPID: 42}
	var first []byte
	for run := range 2 {
		var log bytes.Buffer
		if err := Run(context.Background(), env, Options{Log: &log, LoadQuirks: noQuirks, fixupRun: fake}); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if !strings.Contains(log.String(), "provenance of 1 REG entries written to "+manifest.FileName) {
			t.Errorf("run %d log:\n%s", run, log.String())
		}
		got := testenv.ReadFile(t, filepath.Join(dir, manifest.FileName))
		if _, err := manifest.ReadFile(got); err != nil {
			t.Fatal(err)
		}
		if run == 0 {
			first = got
		} else if !bytes.Equal(got, first) {
			t.Errorf("the second run wrote another manifest:\n%s\nthen\n%s", first, got)
		}
	}
	if names := testenv.DirNames(t, dir); len(names) != 1 {
		t.Errorf("images dir holds %v, want the manifest only", names)
	}

	bad := t.TempDir()
	if err := os.Mkdir(filepath.Join(bad, manifest.FileName), 0o755); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	env.ImageDir = bad
	if err := Run(context.Background(), env, Options{Log: &log, LoadQuirks: noQuirks, fixupRun: fake}); err != nil {
		t.Fatalf("a manifest that cannot be written failed the dump: %v", err)
	}
	if !strings.Contains(log.String(), manifest.FileName+" not written (the dump is not affected)") {
		t.Errorf("log does not say the manifest was not written:\n%s", log.String())
	}
}
