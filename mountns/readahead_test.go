package mountns

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"sync"
	"testing"
)

// pageReader hands out at most one page per Read, as seq_file does for
// /proc/<pid>/mountinfo, then fails with err (io.EOF when nil) at the end.
type pageReader struct {
	data []byte
	err  error
}

func (r *pageReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 4096)], r.data)
	r.data = r.data[n:]
	return n, nil
}

func randomText(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return b
}

// TestReadAhead: what comes out is the source, byte for byte, for sizes
// around the chunk and page boundaries and consumer reads of any size.
func TestReadAhead(t *testing.T) {
	for _, size := range []int{0, 1, 4095, 4096, 4097, 16<<10 - 1, 16 << 10, 16<<10 + 1, 300_001} {
		for _, readSize := range []int{1, 512, 4096, 65536} {
			src := randomText(size)
			ra := newReadAhead(&pageReader{data: src}, 16<<10, 4)
			var got bytes.Buffer
			buf := make([]byte, readSize)
			for {
				n, err := ra.Read(buf)
				got.Write(buf[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("size %d: %v", size, err)
				}
			}
			ra.Close()
			if !bytes.Equal(got.Bytes(), src) {
				t.Errorf("size %d, reads of %d: got %d bytes, not the source", size, readSize, got.Len())
			}
		}
	}
}

// TestReadAheadError: an error of the source (a task that exits while its
// mountinfo is read gives ESRCH) reaches the consumer after the data read
// before it.
func TestReadAheadError(t *testing.T) {
	boom := errors.New("boom")
	src := randomText(50_000)
	ra := newReadAhead(&pageReader{data: src, err: boom}, 16<<10, 2)
	defer ra.Close()
	got, err := io.ReadAll(ra)
	if !errors.Is(err, boom) || !bytes.Equal(got, src) {
		t.Errorf("read %d bytes, err %v; want all %d, then boom", len(got), err, len(src))
	}
}

// endless never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) { return len(p), nil }

// TestReadAheadCloseEarly: a consumer that stops (a parse error) can close
// while the reader goroutine is still busy; Close returns once it is gone.
func TestReadAheadCloseEarly(t *testing.T) {
	ra := newReadAhead(endless{}, 16<<10, 4)
	if _, err := ra.Read(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	ra.Close() // hangs if the goroutine cannot stop
}

// TestReadTableLarge: a live mount table of 3,000 mounts, many chunks of
// read-ahead, gives the same table as parsing the text read in one go.
func TestReadTableLarge(t *testing.T) {
	pid, _ := startHelper(t, "mounts", t.TempDir()+":3000")
	text, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	want, err := ParseTable(bytes.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadTable(pid)
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Mounts()) < 3000 || len(got.Mounts()) != len(want.Mounts()) {
		t.Fatalf("ReadTable: %d mounts, one read: %d (want > 3000)", len(got.Mounts()), len(want.Mounts()))
	}
	for i, m := range got.Mounts() {
		if !reflect.DeepEqual(*m.Info, *want.Mounts()[i].Info) {
			t.Fatalf("mount %d: %+v, want %+v", i, m.Info, want.Mounts()[i].Info)
		}
	}
}

// TestTableConcurrentReaders: the indexes built on first use give every
// concurrent reader the answers a single reader gets (run with -race to
// see the sync.Once at work).
func TestTableConcurrentReaders(t *testing.T) {
	for _, dir := range fixtureKernels(t) {
		ref := loadFixture(t, dir, "docker.mountinfo")
		tab := loadFixture(t, dir, "docker.mountinfo")
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i, m := range tab.Mounts() {
					r := ref.Mounts()[i]
					if (g+i)%2 == 0 {
						if got, want := len(tab.ByDev(uint32(m.Major), uint32(m.Minor))), len(ref.ByDev(uint32(r.Major), uint32(r.Minor))); got != want {
							t.Errorf("%s: ByDev(%d:%d): %d mounts, want %d", dir, m.Major, m.Minor, got, want)
						}
					} else if got, want := tab.Covering(m.Mountpoint+"/x"), ref.Covering(r.Mountpoint+"/x"); (got == nil) != (want == nil) || got != nil && got.ID != want.ID {
						t.Errorf("%s: Covering(%s/x) = %v, want %v", dir, m.Mountpoint, got, want)
					}
				}
			}()
		}
		wg.Wait()
	}
}
