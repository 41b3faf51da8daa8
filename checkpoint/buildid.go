package checkpoint

import (
	"bytes"
	"encoding/binary"
)

const (
	ptNote       = 4
	ntGNUBuildID = 3
)

// elfBuildID returns the descriptor of the first NT_GNU_BUILD_ID note
// ("GNU" owner) in the PT_NOTE segments of an ELF file, ELF32 or ELF64 of
// either byte order, of which b is a prefix; nil when b is not ELF, has
// no such note, or the note lies beyond b. b is untrusted: every offset is
// bounds-checked, nothing is allocated from a size it claims.
func elfBuildID(b []byte) []byte {
	if len(b) < 16 || string(b[:4]) != "\x7fELF" {
		return nil
	}
	var bo binary.ByteOrder
	switch b[5] {
	case 1:
		bo = binary.LittleEndian
	case 2:
		bo = binary.BigEndian
	default:
		return nil
	}
	var phoff, entsize, phnum uint64
	var phdr func(h []byte) (typ, off, size, align uint64)
	minEnt := uint64(0)
	switch b[4] {
	case 1: // ELF32
		if len(b) < 52 {
			return nil
		}
		phoff = uint64(bo.Uint32(b[28:]))
		entsize, phnum = uint64(bo.Uint16(b[42:])), uint64(bo.Uint16(b[44:]))
		minEnt = 32
		phdr = func(h []byte) (uint64, uint64, uint64, uint64) {
			return uint64(bo.Uint32(h[0:])), uint64(bo.Uint32(h[4:])), uint64(bo.Uint32(h[16:])), uint64(bo.Uint32(h[28:]))
		}
	case 2: // ELF64
		if len(b) < 64 {
			return nil
		}
		phoff = bo.Uint64(b[32:])
		entsize, phnum = uint64(bo.Uint16(b[54:])), uint64(bo.Uint16(b[56:]))
		minEnt = 56
		phdr = func(h []byte) (uint64, uint64, uint64, uint64) {
			return uint64(bo.Uint32(h[0:])), bo.Uint64(h[8:]), bo.Uint64(h[32:]), bo.Uint64(h[48:])
		}
	default:
		return nil
	}
	if entsize < minEnt {
		return nil
	}
	n := uint64(len(b))
	for i := uint64(0); i < phnum; i++ {
		off := phoff + i*entsize // phnum, entsize < 1<<16: no overflow past phoff's
		if off < phoff || off > n || n-off < minEnt {
			return nil
		}
		typ, segOff, segSize, align := phdr(b[off:])
		if typ != ptNote || segOff > n || segSize > n-segOff {
			continue
		}
		if id := gnuBuildIDNote(b[segOff:segOff+segSize], bo, align); id != nil {
			return id
		}
	}
	return nil
}

// gnuBuildIDNote walks the notes of one PT_NOTE segment: name and
// descriptor are padded to 4 bytes, or to 8 in a segment aligned to 8
// (the gABI's rule, which .note.gnu.property segments use).
func gnuBuildIDNote(seg []byte, bo binary.ByteOrder, align uint64) []byte {
	pad := uint64(4)
	if align == 8 {
		pad = 8
	}
	up := func(x uint64) uint64 { return (x + pad - 1) &^ (pad - 1) }
	for uint64(len(seg)) >= 12 {
		namesz, descsz, typ := uint64(bo.Uint32(seg[0:])), uint64(bo.Uint32(seg[4:])), bo.Uint32(seg[8:])
		rest := seg[12:]
		nameEnd := up(namesz)
		if nameEnd < namesz || nameEnd > uint64(len(rest)) {
			return nil
		}
		descEnd := up(descsz)
		if descEnd < descsz || descEnd > uint64(len(rest))-nameEnd {
			if typ == ntGNUBuildID && descsz <= uint64(len(rest))-nameEnd {
				descEnd = descsz // last note, unpadded
			} else {
				return nil
			}
		}
		name, desc := rest[:namesz], rest[nameEnd:nameEnd+descsz]
		if typ == ntGNUBuildID && bytes.Equal(name, []byte("GNU\x00")) && descsz > 0 {
			return bytes.Clone(desc)
		}
		seg = rest[nameEnd+descEnd:]
	}
	return nil
}
