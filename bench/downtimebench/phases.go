package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/ovlfix/ovlfix/fixup"
	"github.com/ovlfix/ovlfix/hook"
	"github.com/ovlfix/ovlfix/manifest"
	"github.com/ovlfix/ovlfix/quirks"
)

// phaseRounds is how many times each phase is timed.
const phaseRounds = 5

// profilePhases times, in this process, the parts of the hook's post-dump
// (what the proxy runs inside the freeze) on a plain checkpoint's images
// in dir of the running holder pid: quirks.LoadCached, fixup.Run (dry run:
// the images are not changed), manifest.Write (and its encoding alone,
// indented as it writes it and compact), the whole hook.Run
// (post-dump, on a fresh copy of the images each time, made before the
// timing: a second post-dump on one directory is a no-op), and the bare fdinfo Scan. The
// tasks are not frozen here (--leave-running resumed them), which the
// hook does not depend on. It prints medians and writes a CPU profile of
// the hook.Run rounds to profile when not "".
func profilePhases(w io.Writer, tl tools, dir string, pid int, profile string) error {
	med := func(name string, f func() error) (float64, error) {
		var v []float64
		for range phaseRounds {
			t0 := time.Now()
			if err := f(); err != nil {
				return 0, fmt.Errorf("%s: %w", name, err)
			}
			v = append(v, float64(time.Since(t0).Microseconds()))
		}
		m := median(v)
		fmt.Fprintf(w, "  %-40s %8.2f ms\n", name, m/1000)
		return m, nil
	}
	ctx := context.Background()
	var q *quirks.Set
	if _, err := med("quirks.LoadCached", func() (err error) { q, err = quirks.LoadCached(quirks.DefaultCacheDir); return err }); err != nil {
		return err
	}
	var rep *fixup.Report
	if _, err := med("fixup.Run (dry run)", func() (err error) {
		rep, err = fixup.Run(ctx, dir, fixup.Options{RootPID: pid, Quirks: q, DryRun: true})
		return err
	}); err != nil {
		return err
	}
	// What the proxy route does inside the freeze (hook.Options.DeferCheck):
	// the observation alone; the rest runs after CRIU's answer.
	if _, err := med("fixup.Observe (the proxy's part in the freeze)", func() error {
		o, err := fixup.Observe(ctx, dir, fixup.Options{RootPID: pid, Quirks: q, DryRun: true})
		if err != nil {
			return err
		}
		o.Close()
		return nil
	}); err != nil {
		return err
	}
	out, err := os.MkdirTemp(filepath.Dir(dir), "manifest.")
	if err != nil {
		return err
	}
	defer os.RemoveAll(out)
	if rep.Manifest != nil {
		if _, err := med(fmt.Sprintf("manifest.Write (%d files)", len(rep.Manifest.Files)), func() error { return manifest.Write(out, rep.Manifest) }); err != nil {
			return err
		}
		// What of Write is the encoding: as Write does (indented), and
		// compact, to memory, no file.
		if _, err := med("  of which: Encode (compact) to memory", func() error { return rep.Manifest.Encode(io.Discard) }); err != nil {
			return err
		}
		if _, err := med("  compact json.Marshal, for comparison", func() error { _, err := json.Marshal(rep.Manifest); return err }); err != nil {
			return err
		}
	}
	if _, err := med("fdinfo Scan (bench/scanbench -r 1)", func() error { _, err := timeScan(tl, pid); return err }); err != nil {
		return err
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var copies []string
	for i := range phaseRounds {
		cp := fmt.Sprintf("%s.hookrun.%d", dir, i)
		if err := os.CopyFS(cp, os.DirFS(dir)); err != nil {
			return err
		}
		defer os.RemoveAll(cp)
		copies = append(copies, cp)
	}
	n := 0
	_, err = med("hook.Run post-dump", func() error {
		n++
		return hook.Run(ctx, hook.Env{Action: hook.ActionPostDump, ImageDir: copies[n-1], InitPID: pid}, hook.Options{Log: io.Discard})
	})
	return err
}
