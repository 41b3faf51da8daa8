package verify

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"testing"
)

// gnuBuildID is the reference: debug/elf's view of the file's
// .note.gnu.build-id section.
func gnuBuildID(t *testing.T, path string) []byte {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Skipf("%s: %v", path, err)
	}
	defer f.Close()
	s := f.Section(".note.gnu.build-id")
	if s == nil {
		return nil
	}
	b, err := s.Data()
	if err != nil || len(b) < 16 {
		t.Fatalf("%s: note: %v", path, err)
	}
	namesz, descsz := binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
	off := 12 + align4(uint64(namesz))
	return b[off : off+uint64(descsz)]
}

// TestELFBuildIDOfRealBinaries: the build-ID read as CRIU reads it (first
// MiB, PT_NOTE segments) is the one debug/elf finds in the section, for
// the system's own binaries.
func TestELFBuildIDOfRealBinaries(t *testing.T) {
	found := 0
	for _, p := range []string{"/bin/sh", "/usr/bin/env", "/usr/bin/ls", "/lib/x86_64-linux-gnu/libc.so.6"} {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		want := gnuBuildID(t, p)
		if want == nil {
			continue
		}
		found++
		got := elfBuildID(raw[:min(len(raw), buildIDMapSize)])
		if !bytes.Equal(got, want) {
			t.Errorf("%s: build-ID %x, debug/elf says %x", p, got, want)
		}
	}
	if found == 0 {
		t.Skip("no system binary with a GNU build-ID")
	}
}

// TestELFBuildIDHostile: truncated and forged headers give no build-ID
// (CRIU then validates by size), never a panic or a read out of bounds.
func TestELFBuildIDHostile(t *testing.T) {
	raw, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Skip(err)
	}
	raw = raw[:min(len(raw), 8192)]
	for n := 0; n <= len(raw); n += 7 {
		_ = elfBuildID(raw[:n])
	}
	forged := bytes.Clone(raw)
	binary.LittleEndian.PutUint64(forged[32:], 1<<62) // e_phoff far away
	if got := elfBuildID(forged); got != nil {
		t.Errorf("e_phoff out of the file: got %x", got)
	}
	forged = bytes.Clone(raw)
	binary.LittleEndian.PutUint16(forged[56:], 0xffff) // e_phnum huge
	_ = elfBuildID(forged)
	if got := elfBuildID([]byte("#!/bin/sh\necho not elf\n")); got != nil {
		t.Errorf("a script: got %x", got)
	}
}
