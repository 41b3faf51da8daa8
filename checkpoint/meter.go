package checkpoint

import (
	"context"
	"fmt"
	"io"
)

// ctxCheckEvery is how many bytes a meter passes between two looks at its
// context: a cancelled Open stops within this much of a big member.
const ctxCheckEvery = 4 << 20

// meter sits between the decompressor and the tar reader: it counts the
// decompressed bytes against Options.MaxTotal (the zip-bomb cap, which no
// sequence of headers can get round) and honours ctx every ctxCheckEvery
// bytes, inside the skip of a big member too.
type meter struct {
	ctx       context.Context
	r         io.Reader
	n, max    int64
	nextCheck int64
}

func newMeter(ctx context.Context, r io.Reader, max int64) *meter {
	return &meter{ctx: ctx, r: r, max: max, nextCheck: ctxCheckEvery}
}

func (m *meter) Read(p []byte) (int, error) {
	if m.n >= m.nextCheck {
		if err := m.ctx.Err(); err != nil {
			return 0, err
		}
		m.nextCheck = m.n + ctxCheckEvery
	}
	if rest := m.max - m.n + 1; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := m.r.Read(p)
	m.n += int64(n)
	if m.n > m.max {
		return n, fmt.Errorf("archive decompresses to more than %d bytes (Options.MaxTotal): %w", m.max, ErrTooBig)
	}
	return n, err
}

// seekMeter is a meter over a seekable plain tar file: archive/tar then
// skips a member by seeking instead of reading it. A seek counts as the
// bytes it skips (what a read would have passed) and looks at ctx.
type seekMeter struct {
	*meter
	s io.Seeker
}

func (m seekMeter) Seek(off int64, whence int) (int64, error) {
	if err := m.ctx.Err(); err != nil {
		return 0, err
	}
	if whence == io.SeekCurrent && off > 0 {
		if m.n+off > m.max {
			return 0, fmt.Errorf("archive holds more than %d bytes (Options.MaxTotal): %w", m.max, ErrTooBig)
		}
		m.n += off
	}
	return m.s.Seek(off, whence)
}
