package proto

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxEntrySize caps the size of one entry when reading (64 MiB). CRIU's largest
// entries (core images with big xsave areas, mm with many VMAs) are far below this; a
// larger size field means a corrupt or hostile file, not a real entry.
const DefaultMaxEntrySize = 64 << 20

// Image is one CRIU image file held as raw entries.
type Image struct {
	// Name is the file name used in error messages ("files.img"); it is not a path to open.
	Name string
	// Common is the head magic: IMG_COMMON, IMG_SERVICE (irmap-cache, stats), or 0 for
	// inventory.img, which has none.
	Common uint32
	// Magic is the type magic (FILES, FDINFO, ...).
	Magic uint32
	// Entries are the raw protobuf payloads, without their u32 size prefix.
	Entries [][]byte
}

// FormatError is an error in the framing of an image file. Entry is -1 for the file
// header; Offset is the byte offset of the header or of the entry's size field.
type FormatError struct {
	Name   string
	Entry  int
	Offset int64
	Err    error
}

func (e *FormatError) Error() string {
	if e.Entry < 0 {
		return fmt.Sprintf("%s: header at offset %d: %v", e.Name, e.Offset, e.Err)
	}
	return fmt.Sprintf("%s: entry %d at offset %d: %v", e.Name, e.Entry, e.Offset, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }

// ReadOption configures ReadImage.
type ReadOption func(*readConfig)

type readConfig struct {
	maxEntry uint32
	want     Kind
}

// MaxEntrySize sets the largest entry ReadImage accepts, in bytes (default
// DefaultMaxEntrySize). A size field above it is an error, and nothing is allocated for it.
func MaxEntrySize(n uint32) ReadOption {
	return func(c *readConfig) { c.maxEntry = n }
}

// WantKind makes ReadImage fail unless the file is an image of kind k (both magics).
func WantKind(k Kind) ReadOption {
	return func(c *readConfig) { c.want = k }
}

// ReadImage reads a whole image from r. name is used only in error messages. Any error
// is a *FormatError (wrapping the underlying read error, if any).
func ReadImage(r io.Reader, name string, opts ...ReadOption) (*Image, error) {
	cfg := readConfig{maxEntry: DefaultMaxEntrySize}
	for _, o := range opts {
		o(&cfg)
	}
	t := loadMagicTable()
	br := bufio.NewReader(r)
	img := &Image{Name: name}
	hdrErr := func(off int64, err error) error { return &FormatError{Name: name, Entry: -1, Offset: off, Err: err} }

	var word [4]byte
	first, err := readWord(br, word[:])
	if err != nil {
		return nil, hdrErr(0, fmt.Errorf("reading head magic: %w", err))
	}
	off := int64(4)
	switch first {
	case t.byName[headCommon], t.byName[headService]:
		img.Common = first
		img.Magic, err = readWord(br, word[:])
		if err != nil {
			return nil, hdrErr(4, fmt.Errorf("reading type magic: %w", err))
		}
		off = 8
	case t.byName[string(KindInventory)]:
		img.Magic = first
	default:
		return nil, hdrErr(0, fmt.Errorf("unknown head magic %s, want IMG_COMMON %#08x, IMG_SERVICE %#08x or INVENTORY %#08x",
			t.magicName(first), t.byName[headCommon], t.byName[headService], t.byName[string(KindInventory)]))
	}
	if err := checkMagics(t, img.Common, img.Magic, cfg.want); err != nil {
		return nil, hdrErr(0, err)
	}

	for i := 0; ; i++ {
		entryOff := off
		entryErr := func(err error) error { return &FormatError{Name: name, Entry: i, Offset: entryOff, Err: err} }
		n, err := io.ReadFull(br, word[:])
		if err == io.EOF {
			return img, nil // clean end: no partial size field
		}
		if err == io.ErrUnexpectedEOF {
			return nil, entryErr(fmt.Errorf("truncated size field: %d of 4 bytes", n))
		}
		if err != nil {
			return nil, entryErr(fmt.Errorf("reading size: %w", err))
		}
		size := binary.LittleEndian.Uint32(word[:])
		if size > cfg.maxEntry {
			return nil, entryErr(fmt.Errorf("size %d exceeds cap %d", size, cfg.maxEntry))
		}
		body := make([]byte, size)
		if n, err := io.ReadFull(br, body); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, entryErr(fmt.Errorf("truncated body: %d of %d bytes", n, size))
			}
			return nil, entryErr(fmt.Errorf("reading body: %w", err))
		}
		img.Entries = append(img.Entries, body)
		off += 4 + int64(size)
	}
}

// readWord reads one little-endian u32, turning a short read into io.ErrUnexpectedEOF
// and an empty one into io.EOF.
func readWord(r io.Reader, buf []byte) (uint32, error) {
	n, err := io.ReadFull(r, buf[:4])
	if err == io.ErrUnexpectedEOF {
		return 0, fmt.Errorf("truncated: %d of 4 bytes: %w", n, err)
	}
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(buf), nil
}

// checkMagics checks that magic is a known image type behind the right head magic, and that
// it is the wanted kind if one was asked for.
func checkMagics(t magicTable, common, magic uint32, want Kind) error {
	name, ok := t.byValue[magic]
	if !ok || magic == 0 || name == headCommon || name == headService {
		return fmt.Errorf("unknown type magic %#08x", magic)
	}
	if head := t.head(Kind(name)); head != common {
		return fmt.Errorf("type magic %s behind head magic %s, want %s", t.magicName(magic), t.magicName(common), t.magicName(head))
	}
	if want == "" {
		return nil
	}
	wantHead, wantMagic, err := t.magics(want)
	if err != nil {
		return err
	}
	if magic != wantMagic || common != wantHead {
		return fmt.Errorf("image is %s, want %s", t.magicName(magic), t.magicName(wantMagic))
	}
	return nil
}

// Kind returns the image's kind from its type magic ("" if unknown).
func (img *Image) Kind() Kind {
	return Kind(loadMagicTable().byValue[img.Magic])
}

// Encode writes the image: head magic (unless 0), type magic, then each entry as a
// u32 little-endian size and its bytes. An image read by ReadImage encodes to the same bytes.
func (img *Image) Encode(w io.Writer) error {
	bw := bufio.NewWriter(w)
	var word [4]byte
	put := func(v uint32) error {
		binary.LittleEndian.PutUint32(word[:], v)
		_, err := bw.Write(word[:])
		return err
	}
	if img.Common != 0 {
		if err := put(img.Common); err != nil {
			return fmt.Errorf("%s: writing head magic: %w", img.Name, err)
		}
	}
	if err := put(img.Magic); err != nil {
		return fmt.Errorf("%s: writing type magic: %w", img.Name, err)
	}
	for i, e := range img.Entries {
		if uint64(len(e)) > 0xffffffff {
			return fmt.Errorf("%s: entry %d: size %d does not fit in 32 bits", img.Name, i, len(e))
		}
		if err := put(uint32(len(e))); err != nil {
			return fmt.Errorf("%s: entry %d: writing size: %w", img.Name, i, err)
		}
		if _, err := bw.Write(e); err != nil {
			return fmt.Errorf("%s: entry %d: writing body: %w", img.Name, i, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("%s: %w", img.Name, err)
	}
	return nil
}
