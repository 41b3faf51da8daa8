package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// cancelAfter reads src and cancels a context once it has passed n bytes.
type cancelAfter struct {
	*bytes.Reader
	n      int64
	read   int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.Reader.Read(p)
	c.read += int64(n)
	if c.read >= c.n {
		c.cancel()
	}
	return n, err
}

// TestOpenCancelInsideBigMember cancels while the reader is in the middle
// of a 32 MiB page image: Open returns context.Canceled having read little
// more than ctxCheckEvery past the cancel, not the whole member.
func TestOpenCancelInsideBigMember(t *testing.T) {
	pages := make([]byte, 32<<20)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(pages) // incompressible: compressed size ≈ decompressed size
	raw := tarBytes(t, with(member{name: "checkpoint/pages-1.img", body: pages}, member{name: "checkpoint/files.img", body: []byte("f")})...)
	for _, c := range compressors {
		t.Run(string(c.format), func(t *testing.T) {
			b := c.pack(t, raw)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			src := &cancelAfter{Reader: bytes.NewReader(b), n: 8 << 20, cancel: cancel}
			_, err := readArchive(ctx, src, Options{})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("readArchive = %v, want context.Canceled", err)
			}
			// The plain tar skips the member by a seek, which looks at ctx
			// too; a compressed one is read through, ctx seen every 4 MiB
			// (plus the decoder's read-ahead).
			limit := int64(8<<20 + ctxCheckEvery + 3*readBuffer + 8<<20)
			if c.format == FormatTar {
				limit = int64(len(b)) - 1 // the one seek past the member, no more
			}
			if src.read > limit {
				t.Errorf("read %d bytes after cancelling at %d: more than %d", src.read, 8<<20, limit)
			}
			t.Logf("%s: cancelled at 8 MiB, stopped after reading %d of %d bytes: %v", c.format, src.read, len(b), err)
		})
	}
}

func TestOpenCancelledBeforehand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	raw := tarBytes(t, base...)
	for _, c := range compressors {
		_, err := readArchive(ctx, bytes.NewReader(c.pack(t, raw)), Options{})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: readArchive = %v, want context.Canceled", c.format, err)
		}
	}
}

// Seek counts the bytes a plain tar's reader skips by seeking.
func (c *cancelAfter) Seek(off int64, whence int) (int64, error) {
	pos, err := c.Reader.Seek(off, whence)
	if pos > c.read {
		c.read = pos
	}
	if c.read >= c.n {
		c.cancel()
	}
	return pos, err
}

var _ io.ReadSeeker = (*cancelAfter)(nil)
