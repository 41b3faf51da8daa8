package checkpoint

import (
	"bytes"
	"context"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestOpenMemoryFlat: what Open allocates does not grow with the page data
// it skips: 8 MiB and 40 MiB of pages cost the same heap
// within 1 MiB, in every format (the 32 MiB between them are never held).
func TestOpenMemoryFlat(t *testing.T) {
	// Half random, half compressible (this host's real binaries, over and
	// over): the decompressors do real work, not only copies.
	pages := make([]byte, 40<<20)
	rand.NewChaCha8([32]byte{2}).Read(pages)
	bin, _ := realELF(t)
	for i := 1 << 20; i < len(pages); i += 2 << 20 {
		for j := i; j < i+1<<20 && j < len(pages); j += copy(pages[j:min(i+1<<20, len(pages))], bin) {
		}
	}
	archive := func(n int) []byte {
		return tarBytes(t, with(member{name: "checkpoint/pages-1.img", body: pages[:n]}, member{name: "checkpoint/files.img", body: []byte("f")})...)
	}
	small, big := archive(8<<20), archive(40<<20)
	for _, c := range compressors {
		t.Run(string(c.format), func(t *testing.T) {
			allocs := func(b []byte) uint64 {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				if _, err := readArchive(context.Background(), bytes.NewReader(b), Options{}); err != nil {
					t.Fatal(err)
				}
				runtime.ReadMemStats(&after)
				return after.TotalAlloc - before.TotalAlloc
			}
			s, l := allocs(c.pack(t, small)), allocs(c.pack(t, big))
			t.Logf("%s: allocated %d KiB for 8 MiB of pages, %d KiB for 40 MiB", c.format, s>>10, l>>10)
			if l > s+1<<20 {
				t.Errorf("%s: %d bytes allocated for 40 MiB of pages, %d for 8 MiB: memory grows with the archive", c.format, l, s)
			}
		})
	}
}
