package proto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Mutations of a real files.img give a FormatError with the expected text, never a panic.
func TestCorruptImages(t *testing.T) {
	orig := readTestFile(t, filepath.Join(criuTestdata, "basic/files.img"))
	firstSize := int(binary.LittleEndian.Uint32(orig[8:12]))
	secondOff := 12 + firstSize // offset of entry 1's size field
	le := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	for _, tc := range []struct {
		name string
		data []byte
		opts []ReadOption
		want string
	}{
		{"empty file", nil, nil, "files.img: header at offset 0: reading head magic: EOF"},
		{"truncated head magic", orig[:3], nil, "files.img: header at offset 0: reading head magic: truncated: 3 of 4 bytes"},
		{"truncated type magic", orig[:6], nil, "files.img: header at offset 4: reading type magic: truncated: 2 of 4 bytes"},
		{"wrong head magic", cat(le(0xdeadbeef), orig[4:]), nil, "files.img: header at offset 0: unknown head magic 0xdeadbeef"},
		{"unknown type magic", cat(orig[:4], le(0x12345678), orig[8:]), nil, "unknown type magic 0x12345678"},
		{"service head on a common image", cat(le(0x55105940), orig[4:]), nil, "type magic 0x56303138 (FILES) behind head magic 0x55105940 (IMG_SERVICE)"},
		{"not the wanted kind", orig, []ReadOption{WantKind(KindFdinfo)}, "image is 0x56303138 (FILES), want 0x56213732 (FDINFO)"},
		{"truncated size", orig[:secondOff+2], nil, "files.img: entry 1 at offset " + itoa(secondOff) + ": truncated size field: 2 of 4 bytes"},
		{"truncated body", orig[:secondOff+4+3], nil, "files.img: entry 1 at offset " + itoa(secondOff) + ": truncated body: 3 of "},
		{"truncated last body", orig[:len(orig)-1], nil, "truncated body"},
		{"huge size", cat(orig[:secondOff], le(0xffffffff), orig[secondOff+4:]), nil,
			"files.img: entry 1 at offset " + itoa(secondOff) + ": size 4294967295 exceeds cap 67108864"},
		{"size over a small cap", orig, []ReadOption{MaxEntrySize(16)}, "files.img: entry 0 at offset 8: size " + itoa(firstSize) + " exceeds cap 16"},
		{"size one past the end", cat(orig[:secondOff], le(uint32(len(orig)-secondOff-4+1)), orig[secondOff+4:]), nil, "truncated body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := ReadImage(bytes.NewReader(tc.data), "files.img", tc.opts...)
			if err == nil {
				t.Fatalf("no error; %d entries", len(img.Entries))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\nwant it to contain %q", err, tc.want)
			}
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Name != "files.img" {
				t.Fatalf("error %T is not a *FormatError for files.img", err)
			}
		})
	}
	// The decoded entries of files.img fail to decode as another message type's required
	// fields, rather than being silently misread (a files.img passed to ReadFdinfo).
	if _, err := ReadFdinfo(bytes.NewReader(orig), "files.img"); err == nil {
		t.Fatal("ReadFdinfo accepted files.img")
	}
}

// A read error other than EOF is reported with the entry and offset.
func TestReadErrorWrapped(t *testing.T) {
	orig := readTestFile(t, filepath.Join(criuTestdata, "basic/fdinfo-2.img"))
	boom := errors.New("disk on fire")
	_, err := ReadImage(&failingReader{data: orig[:10], err: boom}, "fdinfo-2.img")
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "fdinfo-2.img: entry 0 at offset 8") {
		t.Fatalf("err = %v", err)
	}
}

type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
