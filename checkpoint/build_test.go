package checkpoint

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// member is one member of an archive a test builds.
type member struct {
	name     string
	typ      byte // 0: regular
	body     []byte
	linkname string
	size     int64 // header size when it must lie (body shorter); 0: len(body)
}

// tarBytes builds a tar of ms. A member whose size lies ends the archive
// right after its body: the tar is truncated there, as a hostile one is.
func tarBytes(t testing.TB, ms ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range ms {
		typ := m.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		size := int64(len(m.body))
		if typ != tar.TypeReg {
			size = 0
		}
		lies := m.size != 0
		if lies {
			size = m.size
		}
		h := &tar.Header{Name: m.name, Typeflag: typ, Size: size, Mode: 0o644, Linkname: m.linkname, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %q: %v", m.name, err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write(m.body); err != nil {
				t.Fatalf("tar body %q: %v", m.name, err)
			}
		}
		if lies {
			tw.Flush()
			return buf.Bytes()
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	return zw.EncodeAll(b, nil)
}

// compressors turn a tar into each format Open reads.
var compressors = []struct {
	format Format
	pack   func(testing.TB, []byte) []byte
}{
	{FormatTar, func(_ testing.TB, b []byte) []byte { return b }},
	{FormatTarGzip, gzipBytes},
	{FormatTarZstd, zstdBytes},
}
