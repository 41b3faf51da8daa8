package mountns

import (
	"io"
	"sync"
)

// readAhead reads src in a goroutine of its own, up to depth chunks ahead
// of its consumer, so that producing the text and parsing it overlap.
//
// It exists for /proc/<pid>/mountinfo: the kernel formats the text inside
// read(2) (seq_file, about one page per call), which for a large mount
// table costs more than parsing it. Read in line with the parse, the two
// times add up; read ahead, the parse (ParseTable indexes every line as it
// is parsed) runs on another core while the kernel formats the next chunks.
//
// Close must be called; it stops the goroutine and waits for it, so that
// src may be closed afterwards.
type readAhead struct {
	filled chan []byte // chunks in order; closed after the last one
	free   chan []byte // chunks the consumer is done with
	done   chan struct{}
	wg     sync.WaitGroup
	err    error  // src's error, set before filled is closed
	cur    []byte // the unread part of the chunk being consumed
	last   []byte // that chunk, to give back
}

func newReadAhead(src io.Reader, chunkSize, depth int) *readAhead {
	r := &readAhead{
		filled: make(chan []byte, depth),
		free:   make(chan []byte, depth),
		done:   make(chan struct{}),
	}
	for range depth {
		r.free <- make([]byte, chunkSize)
	}
	r.wg.Add(1)
	go r.fill(src)
	return r
}

func (r *readAhead) fill(src io.Reader) {
	defer r.wg.Done()
	defer close(r.filled)
	for {
		var buf []byte
		select {
		case buf = <-r.free:
		case <-r.done:
			return
		}
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			select {
			case r.filled <- buf[:n]:
			case <-r.done:
				return
			}
		}
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return
		default:
			r.err = err
			return
		}
	}
}

// Read implements io.Reader for the consumer (one goroutine).
func (r *readAhead) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.last != nil {
			r.free <- r.last[:cap(r.last)] // never blocks: depth buffers in all
			r.last = nil
		}
		buf, ok := <-r.filled
		if !ok {
			if r.err != nil {
				return 0, r.err
			}
			return 0, io.EOF
		}
		r.cur, r.last = buf, buf
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// Close stops the reading goroutine and waits until it has returned.
func (r *readAhead) Close() {
	close(r.done)
	r.wg.Wait()
}
