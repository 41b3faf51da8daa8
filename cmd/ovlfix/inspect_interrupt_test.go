package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// slowArchive writes a gzip multistream tar (one gzip stream per part, as
// `cat a.gz b.gz` makes) whose checkpoint/pages-1.img is n×64 MiB of
// zeros: reading it to its end decompresses all of that. The 64 MiB part
// is compressed once and repeated.
func slowArchive(t *testing.T, n int) string {
	t.Helper()
	const chunk = 64 << 20
	gz := func(b []byte) []byte {
		var out bytes.Buffer
		w, _ := gzip.NewWriterLevel(&out, gzip.BestSpeed)
		w.Write(b)
		w.Close()
		return out.Bytes()
	}
	var head bytes.Buffer
	tw := tar.NewWriter(&head)
	tw.WriteHeader(&tar.Header{Name: "checkpoint/", Typeflag: tar.TypeDir, Mode: 0o755})
	inv := []byte("inv")
	tw.WriteHeader(&tar.Header{Name: "checkpoint/inventory.img", Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(len(inv))})
	tw.Write(inv)
	tw.WriteHeader(&tar.Header{Name: "checkpoint/pages-1.img", Typeflag: tar.TypeReg, Mode: 0o600, Size: int64(n) * chunk})
	tw.Flush() // the header only: the zeros follow in their own streams
	var tail bytes.Buffer
	tw = tar.NewWriter(&tail)
	tw.Close()
	f, err := os.Create(filepath.Join(t.TempDir(), "slow.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(gz(head.Bytes()))
	zeros := gz(make([]byte, chunk))
	for range n {
		f.Write(zeros)
	}
	f.Write(gz(tail.Bytes()))
	return f.Name()
}

// TestInspectInterruptedMidArchive: SIGTERM and SIGINT while inspect
// decompresses a large archive end it well within a second (the reader
// checks its context every 4 MiB; interruptGrace is the backstop), with
// the documented code and one line saying so.
func TestInspectInterruptedMidArchive(t *testing.T) {
	archive := slowArchive(t, 64) // 4 GiB decompressed
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(signalName(sig), func(t *testing.T) {
			cmd := exec.Command(binary, "inspect", archive)
			var so, se bytes.Buffer
			cmd.Stdout, cmd.Stderr = &so, &se
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			sent := time.Now()
			cmd.Process.Signal(sig)
			cmd.Wait()
			took := time.Since(sent)
			code := cmd.ProcessState.ExitCode()
			t.Logf("%v: exit %d %v after the signal; stderr %q", sig, code, took, se.String())
			if code != signalExitCode(sig) || !strings.Contains(se.String(), "interrupted by "+signalName(sig)) {
				t.Errorf("exit %d, stderr %q; want %d and the interrupt line", code, se.String(), signalExitCode(sig))
			}
			if took > time.Second {
				t.Errorf("took %v after the signal, want < 1 s", took)
			}
			if strings.Contains(se.String(), "did not return") {
				t.Errorf("the reader did not stop on its context; the grace timer ended it: %q", se.String())
			}
		})
	}
	// Uninterrupted, the multistream archive reads to its end: gzip
	// multistream is one archive.
	start := time.Now()
	r := ovlfix(t, "inspect", archive)
	whole := time.Since(start)
	t.Logf("whole read: exit %d in %v, stderr %q", r.code, whole, r.stderr)
	if whole < 300*time.Millisecond {
		t.Errorf("the whole read took %v: the signals above did not land mid-read; make the archive larger", whole)
	}
	if r.code != exitFailure || !strings.Contains(r.stderr, "files.img: not in the checkpoint") {
		t.Errorf("multistream gzip not read as one archive: exit %d %q", r.code, r.stderr)
	}
}
