package checkpoint

import (
	"bytes"
	"fmt"
)

// Magic bytes; the file name never decides the format (Podman writes a
// zstd stream into "checkpoint.tar" by default).
var (
	magicGzip  = []byte{0x1f, 0x8b}
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicXz    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	magicBzip2 = []byte("BZh")
	magicZip   = []byte("PK\x03\x04")
)

// isZstdSkippable reports a zstd skippable frame (magic 0x184D2A5?, little
// endian), which a zstd stream may start with.
func isZstdSkippable(b []byte) bool {
	return len(b) >= 4 && b[0]&0xf0 == 0x50 && b[1] == 0x2a && b[2] == 0x4d && b[3] == 0x18
}

// isTar reports whether a 512-byte block is a ustar or GNU tar header.
func isTar(block []byte) bool {
	if len(block) < 512 {
		return false
	}
	m := block[257:265]
	return bytes.Equal(m[:6], []byte("ustar\x00")) || bytes.Equal(m, []byte("ustar  \x00"))
}

// detectFormat tells the format from the first bytes of a file (up to 512).
func detectFormat(head []byte) (Format, error) {
	switch {
	case len(head) == 0:
		return "", fmt.Errorf("empty file: %w", ErrNotArchive)
	case bytes.HasPrefix(head, magicGzip):
		return FormatTarGzip, nil
	case bytes.HasPrefix(head, magicZstd) || isZstdSkippable(head):
		return FormatTarZstd, nil
	case isTar(head):
		return FormatTar, nil
	case bytes.HasPrefix(head, magicXz):
		return "", fmt.Errorf("xz-compressed: no checkpoint engine writes that; decompress it (xz -d) first: %w", ErrNotArchive)
	case bytes.HasPrefix(head, magicBzip2):
		return "", fmt.Errorf("bzip2-compressed: no checkpoint engine writes that; decompress it (bzip2 -d) first: %w", ErrNotArchive)
	case bytes.HasPrefix(head, magicZip):
		return "", fmt.Errorf("a zip file, not a tar archive: %w", ErrNotArchive)
	}
	n := min(len(head), 8)
	return "", fmt.Errorf("neither tar, gzip nor zstd (first bytes % x): %w", head[:n], ErrNotArchive)
}
