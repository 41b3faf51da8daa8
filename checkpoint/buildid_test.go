package checkpoint

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// synthELF lays out an ELF file of the given class and byte order: the
// header, one PT_NOTE program header, and a note segment holding a
// NT_GNU_PROPERTY note (which must be skipped) then the build-ID note.
func synthELF(class byte, bo binary.ByteOrder, id []byte) []byte {
	var b bytes.Buffer
	ehsize, phsize := 52, 32
	if class == 2 {
		ehsize, phsize = 64, 56
	}
	hdr := make([]byte, ehsize)
	copy(hdr, "\x7fELF")
	hdr[4], hdr[5], hdr[6] = class, map[binary.ByteOrder]byte{binary.LittleEndian: 1, binary.BigEndian: 2}[bo], 1
	notes := note(bo, 5, "GNU\x00", []byte{1, 2, 3, 4, 5, 6, 7, 8})
	notes = append(notes, note(bo, ntGNUBuildID, "GNU\x00", id)...)
	noteOff := uint64(ehsize + phsize)
	ph := make([]byte, phsize)
	if class == 1 {
		bo.PutUint32(hdr[28:], uint32(ehsize))
		bo.PutUint16(hdr[42:], uint16(phsize))
		bo.PutUint16(hdr[44:], 1)
		bo.PutUint32(ph[0:], ptNote)
		bo.PutUint32(ph[4:], uint32(noteOff))
		bo.PutUint32(ph[16:], uint32(len(notes)))
		bo.PutUint32(ph[28:], 4)
	} else {
		bo.PutUint64(hdr[32:], uint64(ehsize))
		bo.PutUint16(hdr[54:], uint16(phsize))
		bo.PutUint16(hdr[56:], 1)
		bo.PutUint32(ph[0:], ptNote)
		bo.PutUint64(ph[8:], noteOff)
		bo.PutUint64(ph[32:], uint64(len(notes)))
		bo.PutUint64(ph[48:], 4)
	}
	b.Write(hdr)
	b.Write(ph)
	b.Write(notes)
	return b.Bytes()
}

func note(bo binary.ByteOrder, typ uint32, name string, desc []byte) []byte {
	pad := func(b []byte) []byte { return append(b, make([]byte, (4-len(b)%4)%4)...) }
	h := make([]byte, 12)
	bo.PutUint32(h[0:], uint32(len(name)))
	bo.PutUint32(h[4:], uint32(len(desc)))
	bo.PutUint32(h[8:], typ)
	return append(append(h, pad([]byte(name))...), pad(bytes.Clone(desc))...)
}

func TestELFBuildID(t *testing.T) {
	bin, want := realELF(t)
	if got := elfBuildID(bin[:min(len(bin), buildIDPrefix)]); !bytes.Equal(got, want) {
		t.Errorf("/usr/bin/true: %x, want %x (debug/elf's .note.gnu.build-id)", got, want)
	}
	id := []byte{0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03}
	for _, class := range []byte{1, 2} {
		for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			f := synthELF(class, bo, id)
			if got := elfBuildID(f); !bytes.Equal(got, id) {
				t.Errorf("ELF class %d %v: %x, want %x", class, bo, got, id)
			}
			// Every prefix shorter than the whole note finds nothing and
			// never reads out of bounds.
			for n := range len(f) - 1 {
				if got := elfBuildID(f[:n]); got != nil && n < len(f)-len(id) {
					t.Errorf("ELF class %d %v cut at %d: %x, want nil", class, bo, n, got)
				}
			}
		}
	}
	for _, b := range [][]byte{nil, []byte("\x7fELF"), []byte("#!/bin/sh\n"), append([]byte("\x7fELF\x03\x01"), make([]byte, 100)...)} {
		if got := elfBuildID(b); got != nil {
			t.Errorf("elfBuildID(%q) = %x, want nil", b, got)
		}
	}
}
