package fixup

import (
	"context"
	"testing"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/fixuptest"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
)

// BenchmarkObserve is what the proxy route spends inside the freeze
// (Observe: images, pid map, scan and capture of each task) for the nested
// case, beside the bare scan of the same tasks (Scan) and the whole
// one-step check (Run, dry run). Compare the three in one run:
// go test -run '^$' -bench Observe ./fixup/
func BenchmarkObserve(b *testing.B) {
	c := scenariotest.StartT(b, "", fixuptest.NestedSpec)
	f := fixuptest.Build(b, c)
	ctx := context.Background()
	opts := Options{RootPID: f.RootPID, DryRun: true}
	b.Run("Scan", func(b *testing.B) {
		var s fdinfo.Scanner
		for b.Loop() {
			for _, pid := range []int{f.RootPID, f.GCPID} {
				if _, err := s.Scan(pid); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("Observe", func(b *testing.B) {
		for b.Loop() {
			o, err := Observe(ctx, f.Dir, opts)
			if err != nil {
				b.Fatal(err)
			}
			o.Close()
		}
	})
	b.Run("Run", func(b *testing.B) {
		for b.Loop() {
			if _, err := Run(ctx, f.Dir, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
}
