package checkpoint

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// readBuffer is the size of the reads Open makes of a compressed file.
const readBuffer = 1 << 20

// zstdMaxWindow caps the window a zstd frame may ask the decoder to hold
// (the frame header is untrusted): 128 MiB, zstd --long's, above any level
// Podman or CRI-O use.
const zstdMaxWindow = 128 << 20

// Open opens a checkpoint: a CRIU images directory (OpenDir) or a
// container checkpoint archive as Podman, CRI-O (the kubelet checkpoint
// API) and checkpointctl know it: a tar, plain, gzip or zstd, told by its
// first bytes, never by its name. An archive is streamed in one pass and
// nothing is written anywhere: its checkpoint/ images (page data listed
// only) and small top-level files are kept in memory within opts' caps,
// rootfs-diff.tar is read as a nested stream for its headers and ELF
// build-IDs. ctx is honoured between members and every few MiB inside
// one. A FIFO, device or socket at path is refused without blocking.
func Open(ctx context.Context, path string, opts Options) (*Checkpoint, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	switch {
	case st.IsDir():
		return OpenDir(path)
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("checkpoint %s: a %s, neither a directory nor an archive file (not opened): %w", path, fileTypeName(st.Mode()), ErrNotArchive)
	}
	cp, err := readArchive(ctx, f, opts)
	if err != nil {
		return nil, fmt.Errorf("checkpoint archive %s: %w", path, err)
	}
	cp.Path = path
	return cp, nil
}

// readArchive reads an archive from the start of src.
func readArchive(ctx context.Context, src io.ReadSeeker, opts Options) (*Checkpoint, error) {
	opts = opts.withDefaults()
	head := make([]byte, 512)
	n, err := io.ReadFull(src, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	format, err := detectFormat(head[:n])
	if err != nil {
		return nil, err
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	m := newMeter(ctx, nil, opts.MaxTotal)
	var tarStream io.Reader = m
	switch format {
	case FormatTar:
		m.r = src
		tarStream = seekMeter{meter: m, s: src}
	case FormatTarGzip:
		// klauspost's gzip, not compress/gzip: the standard library's
		// inflater allocates Huffman tables per block, so its garbage
		// grows with the archive (TestOpenMemoryFlat); klauspost reuses
		// them, and is faster.
		zr, err := gzip.NewReader(bufio.NewReaderSize(src, readBuffer))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", streamError("", err))
		}
		defer zr.Close()
		m.r = zr
	case FormatTarZstd:
		zr, err := zstd.NewReader(bufio.NewReaderSize(src, readBuffer),
			zstd.WithDecoderConcurrency(zstdConcurrency()),
			zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		m.r = zr
	}
	if format != FormatTar {
		br := bufio.NewReaderSize(m, readBuffer)
		block, err := br.Peek(512)
		if err != nil {
			return nil, fmt.Errorf("%s stream: %w", format, streamError("", err))
		}
		if !isTar(block) {
			return nil, fmt.Errorf("%s stream does not hold a tar archive: %w", format, ErrNotArchive)
		}
		tarStream = br
	}
	cp, err := newArchiveReader(ctx, opts, format == FormatTar).read(tarStream)
	if err != nil {
		return nil, err
	}
	cp.Format = format
	return cp, nil
}

// zstdConcurrency is the zstd decoder's goroutines. 1 decodes in the
// reader's own goroutine: measured with bench/archivebench on a 100 MB
// archive of half-compressible pages, 0.06 s and 11 MB RSS against 0.18 s
// and 15 MB with 2 (the hand-off between goroutines costs more than it
// overlaps on one stream) and 0.17 s, 17 MB with 4.
func zstdConcurrency() int { return 1 }

// fileTypeName names the type of a file that is not a regular file or a
// directory, in words.
func fileTypeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	}
	return fmt.Sprintf("file of type %v", m.Type())
}
