package verify

import (
	"bytes"
	"encoding/binary"
)

// buildIDMapSize is BUILD_ID_MAP_SIZE of criu/files-reg.c: CRIU maps at
// most the first MiB of a file to look for its build-ID.
const buildIDMapSize = 1 << 20

// ELF constants (elf.h).
const (
	ptNote        = 4
	ntGNUBuildID  = 3
	elfClass32    = 1
	elfClass64    = 2
	maxBuildIDLen = 512 // get_build_id_{32,64}: n_descsz must be in (0, 512]
)

// elfBuildID is the build-ID CRIU's get_build_id finds in b (the file's
// first MiB): the first note of type NT_GNU_BUILD_ID in a PT_NOTE segment,
// walked with CRIU's bounds (criu/files-reg.c get_build_id_32/_64; the
// note's name is not compared, as there). nil where CRIU gets none (not
// ELF, no program headers, no such note, a bad size): CRIU then validates
// by size only. Offsets are bounds-checked against b, never trusted.
func elfBuildID(b []byte) []byte {
	if len(b) < 5 || !bytes.Equal(b[:4], []byte("\x7fELF")) {
		return nil
	}
	le := binary.LittleEndian
	var phoff, phnum, ehsize, phsize uint64
	switch b[4] {
	case elfClass32:
		ehsize, phsize = 52, 32
		if uint64(len(b)) < ehsize {
			return nil
		}
		phoff, phnum = uint64(le.Uint32(b[28:])), uint64(le.Uint16(b[44:]))
	case elfClass64:
		ehsize, phsize = 64, 56
		if uint64(len(b)) < ehsize {
			return nil
		}
		phoff, phnum = le.Uint64(b[32:]), uint64(le.Uint16(b[56:]))
	default:
		return nil
	}
	size := uint64(len(b))
	if phnum == 0 || phoff == 0 || phoff >= size || size < phsize {
		return nil
	}
	const nhdr = 12
	for i := uint64(0); i < phnum; i++ {
		ph := phoff + i*phsize
		if ph > size-phsize {
			break
		}
		var typ uint32
		var off, filesz uint64
		if b[4] == elfClass32 {
			typ, off, filesz = le.Uint32(b[ph:]), uint64(le.Uint32(b[ph+4:])), uint64(le.Uint32(b[ph+16:]))
		} else {
			typ, off, filesz = le.Uint32(b[ph:]), le.Uint64(b[ph+8:]), le.Uint64(b[ph+32:])
		}
		if typ != ptNote || off == 0 || off >= size || size < nhdr {
			continue
		}
		end := min(off+filesz, size-nhdr) // the last note header that fits
		if off+filesz < off {             // overflow
			end = size - nhdr
		}
		n := off
		for n <= end && le.Uint32(b[n+8:]) != ntGNUBuildID {
			namesz, descsz := uint64(le.Uint32(b[n:])), uint64(le.Uint32(b[n+4:]))
			n += nhdr + align4(namesz) + align4(descsz)
		}
		if n > end {
			continue
		}
		namesz, descsz := uint64(le.Uint32(b[n:])), uint64(le.Uint32(b[n+4:]))
		if descsz == 0 || descsz > maxBuildIDLen {
			return nil
		}
		desc := n + nhdr + align4(namesz)
		if desc < n || descsz > size || desc > size-descsz {
			return nil
		}
		return bytes.Clone(b[desc : desc+descsz])
	}
	return nil
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }
