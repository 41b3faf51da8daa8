package resolve

import (
	"bytes"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/internal/scenario"
)

// BenchmarkWatch times the two walking routes for one watch on a file deep
// in a lower tree of 20,000 files in 200 directories (all layers on the
// host's filesystem): the layer walk against the merged-tree walk,
// alternating within each iteration so both see the same cache state.
// It reports each route's time per lookup and their ratio, for:
//
//	upper-apart   200 upper files in a directory of their own (only the
//	              root is a merged directory)
//	upper-spread  200 upper files, one per lower directory (every
//	              directory is merged)
//	two-fs        an empty upper layer on a tmpfs: layers on two
//	              filesystems, xino off, so the merged walk cannot trust
//	              d_ino and stats every entry
//
//	go test -bench Watch -run '^$' ./resolve/
func BenchmarkWatch(b *testing.B) {
	for _, c := range []struct {
		name          string
		spread, twoFS bool
	}{{"upper-apart", false, false}, {"upper-spread", true, false}, {"two-fs", false, true}} {
		b.Run(c.name, func(b *testing.B) { benchWatchTree(b, c.spread, c.twoFS) })
	}
}

func benchWatchTree(b *testing.B, spread, twoFS bool) {
	lp := startLive(b, func(base string) scenario.Spec {
		deep := buildTree(b, base, 20, 10, 100, spread)
		return treeSpec(base, deep, false, twoFS)
	})
	h := lp.held(b, "deep")
	o := lp.object(b, h)
	layers, merged := *lp.r, *lp.r
	layers.watchRoutes, merged.watchRoutes = useLayers, useMergedWalk
	b.Run("layers-vs-merged", func(b *testing.B) {
		var tLayers, tMerged time.Duration
		for b.Loop() {
			for _, c := range []struct {
				r   *Resolver
				sum *time.Duration
			}{{&layers, &tLayers}, {&merged, &tMerged}} {
				start := time.Now()
				res := c.r.Resolve(o)
				*c.sum += time.Since(start)
				if res.Verdict != OK || !bytes.Equal(res.Path, h.Path) {
					b.Fatalf("route %q: %s %q (%s), want %q", c.r.watchRoutes, res.Verdict, res.Path, res.Reason, h.Path)
				}
			}
		}
		n := float64(b.N)
		b.ReportMetric(float64(tLayers.Nanoseconds())/n, "layers-ns/op")
		b.ReportMetric(float64(tMerged.Nanoseconds())/n, "merged-ns/op")
		b.ReportMetric(float64(tMerged)/float64(tLayers), "merged/layers")
	})
}
