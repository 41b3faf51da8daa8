package hook

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovlfix/ovlfix/fixup"
	"github.com/ovlfix/ovlfix/internal/testenv"
	"github.com/ovlfix/ovlfix/manifest"
)

// TestPostDumpDefersManifest: with Options.DeferManifest, post-dump
// writes nothing of the manifest itself, removes an earlier dump's, and
// hands over one write, which later writes this dump's manifest (with
// files.img's digest) through the directory it held, logging as the
// in-freeze write does; an images directory it cannot open is written now.
func TestPostDumpDefersManifest(t *testing.T) {
	dir := t.TempDir()
	files := []byte("files.img as the repair left it")
	if err := os.WriteFile(filepath.Join(dir, "files.img"), files, 0o600); err != nil {
		t.Fatal(err)
	}
	old := manifest.New(manifest.WriterPostDump)
	if err := manifest.Write(dir, old); err != nil {
		t.Fatal(err)
	}
	m := manifest.New(manifest.WriterPostDump)
	m.Files = append(m.Files, manifest.File{ID: 1, Name: "/etc/x", MntID: 30, Dev: "0:40", Ino: 7,
		Holders: []manifest.Holder{{PID: 1, Kind: "fd", FD: 3}}})
	fake := func(context.Context, string, fixup.Options) (*fixup.Report, error) {
		return &fixup.Report{Checked: 1, Manifest: m}, nil
	}
	var writes []LateCheck
	opts := Options{LoadQuirks: noQuirks, fixupRun: fake, DeferManifest: func(w LateCheck) { writes = append(writes, w) }}
	var log bytes.Buffer
	opts.Log = &log
	env := Env{Action: ActionPostDump, ImageDir: dir, InitPID: 42}
	if err := Run(context.Background(), env, opts); err != nil {
		t.Fatal(err)
	}
	if len(writes) != 1 {
		t.Fatalf("%d writes deferred, want 1", len(writes))
	}
	if _, err := os.Lstat(filepath.Join(dir, manifest.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("before the deferred write, the images dir has a manifest (%v): the earlier dump's must be gone, this one's not yet written", err)
	}
	writes[0](context.Background(), true)
	got, err := manifest.ReadFile(testenv.ReadFile(t, filepath.Join(dir, manifest.FileName)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Files) != 1 || got.Files[0].Name != "/etc/x" || got.FilesImgSHA256 != manifest.Digest(files) {
		t.Errorf("deferred manifest %+v, want this dump's one file and files.img's digest", got)
	}
	if s := log.String(); !strings.Contains(s, "provenance of 1 REG entries written to "+manifest.FileName) || strings.Contains(s, "/proc/self/fd/") {
		t.Errorf("log of the deferred write (must say it, and show the held fd as %s):\n%s", ImageDirLabel, s)
	}

	// Dropped (the dump failed): nothing written, the held directory closed.
	writes = nil
	if err := os.Remove(filepath.Join(dir, manifest.FileName)); err != nil {
		t.Fatal(err)
	}
	before := testenv.OpenFDs(t)
	if err := Run(context.Background(), env, opts); err != nil {
		t.Fatal(err)
	}
	if len(writes) != 1 || testenv.OpenFDs(t) != before+1 {
		t.Fatalf("%d writes deferred holding %d fds, want 1 holding the images directory", len(writes), testenv.OpenFDs(t)-before)
	}
	writes[0](context.Background(), false)
	if _, err := os.Lstat(filepath.Join(dir, manifest.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a dropped write wrote the manifest (%v)", err)
	}
	if n := testenv.OpenFDs(t) - before; n != 0 {
		t.Errorf("a dropped write left %d fds open", n)
	}

	// A directory post-dump cannot hold open: written during the freeze.
	writes = nil
	log.Reset()
	env.ImageDir = filepath.Join(t.TempDir(), "gone")
	if err := Run(context.Background(), env, opts); err != nil {
		t.Fatal(err)
	}
	if len(writes) != 0 || !strings.Contains(log.String(), "not held for a later write") {
		t.Errorf("%d writes deferred for a directory that cannot be opened; log:\n%s", len(writes), log.String())
	}
}
