package resolve_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/internal/scenario"
	"github.com/ovlfix/ovlfix/internal/scenariotest"
	"github.com/ovlfix/ovlfix/mountns"
	"github.com/ovlfix/ovlfix/resolve"
)

// benchSpec: one overlay holding fds open fds on one file, plus extra
// overlay mounts (unused by the fds) up to mounts in total.
func benchSpec(fds, mounts int) func(string) scenario.Spec {
	return func(base string) scenario.Spec {
		steps := []scenario.Step{
			{Do: "write", Path: b("lower/f"), Content: "f"},
			{Do: "mkdir", Path: b("upper")}, {Do: "mkdir", Path: b("work")},
			{Do: "overlay", Path: b("merged"), Lower: []string{"lower"}, Upper: "upper", Work: "work", Label: "main"},
			{Do: "open", Path: b("merged/f"), Count: fds},
		}
		for i := 1; i < mounts; i++ {
			d := fmt.Sprintf("x/%d/", i)
			steps = append(steps,
				scenario.Step{Do: "write", Path: b(d + "l/f"), Content: "x"},
				scenario.Step{Do: "mkdir", Path: b(d + "u")}, scenario.Step{Do: "mkdir", Path: b(d + "w")},
				scenario.Step{Do: "overlay", Path: b(d + "m"), Lower: []string{d + "l"}, Upper: d + "u", Work: d + "w"})
		}
		return scenario.Spec{Base: base, Steps: steps}
	}
}

// BenchmarkResolveVsScan: on a kernel that reports overlay fds correctly
// (4.2+, as probed), resolving costs O(1) per fd whatever the number of
// overlay mounts. Every iteration alternates: the scan alone; the scan
// plus reading the mount table and resolving every object; and, for
// contrast, CRIU's fixup loop (one stat of mountpoint+path per overlay
// mount per fd, criu/mount.c __lookup_overlayfs), which is O(fds × mounts).
// Reported: resolve/scan (goal <= 1.15, flat across mounts) and criu/scan.
func BenchmarkResolveVsScan(b *testing.B) {
	const fds = 10000
	for _, mounts := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("mounts=%d", mounts), func(b *testing.B) {
			c := scenariotest.StartT(b, "", benchSpec(fds, mounts))
			s := fdinfo.Scanner{Workers: 1}
			// The first scan of a process instantiates its /proc/<pid>/fd
			// dentries (several times slower); measure the steady state.
			if _, err := s.Scan(c.PID); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			var tScan, tAll, tCRIU time.Duration
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if _, err := s.Scan(c.PID); err != nil {
					b.Fatal(err)
				}
				tScan += time.Since(t0)

				t0 = time.Now()
				p, err := s.Scan(c.PID)
				if err != nil {
					b.Fatal(err)
				}
				table, err := mountns.ReadTable(c.PID)
				if err != nil {
					b.Fatal(err)
				}
				root, err := mountns.OpenRoot(c.PID)
				if err != nil {
					b.Fatal(err)
				}
				r := &resolve.Resolver{Table: table, Root: root, TrustFdLinks: true}
				r.Identity = r.CheckMountIdentity(c.PID, p.Objects)
				rs := r.ResolveAll(p.Objects)
				tAll += time.Since(t0)
				if len(table.Overlays()) != mounts {
					b.Fatalf("%d overlays, want %d", len(table.Overlays()), mounts)
				}
				ok := 0
				for _, x := range rs {
					if x.Verdict == resolve.OK && x.Object.Kind == fdinfo.KindFD && strings.HasSuffix(string(x.Path), "/merged/f") {
						ok++
					}
				}
				if ok < fds {
					b.Fatalf("only %d of %d fds resolved ok", ok, fds)
				}

				t0 = time.Now()
				criuLoop(b, p, table, root)
				tCRIU += 10 * time.Since(t0)
				root.Close()
			}
			b.ReportMetric(float64(tScan.Microseconds())/float64(b.N*fds), "scan-us/fd")
			b.ReportMetric(float64(tAll)/float64(tScan), "resolve/scan")
			b.ReportMetric(float64(tScan+tCRIU)/float64(tScan), "criu/scan")
		})
	}
}

// criuLoop is the shape of CRIU's pre-4.2 workaround as it runs on every
// fd of a current kernel whose overlay st_dev is a pseudo dev: a stat of
// mountpoint + link for every overlay mount. It runs on every 10th fd and
// the time is scaled by 10 (a full run at 1000 mounts takes ~40 s).
func criuLoop(b *testing.B, p *fdinfo.Process, t *mountns.Table, root *mountns.Root) {
	n := 0
	for i := range p.Objects {
		o := &p.Objects[i]
		if o.Kind != fdinfo.KindFD || len(o.Link) == 0 || o.Link[0] != '/' || o.FD%10 != 0 {
			continue
		}
		for _, m := range t.Overlays() {
			if st, err := root.Stat(m.Mountpoint + string(o.Link)); err == nil && st.Ino == o.Stat.Ino {
				n++
			}
		}
	}
	_ = n
}
