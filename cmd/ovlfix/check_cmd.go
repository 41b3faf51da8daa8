package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ovlfix/ovlfix/internal/quote"
	"github.com/ovlfix/ovlfix/quirks"
	"github.com/spf13/cobra"
)

// checkFlags are the options of `ovlfix check`.
type checkFlags struct {
	output   outputFormat
	noCache  bool
	cacheDir string
}

func newCheckCmd() *cobra.Command {
	var f checkFlags
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Probe how this kernel reports overlay files in /proc",
		Long: `check builds two small overlays in a private mount namespace (all layers on one
tmpfs; layers on two tmpfs instances with xino=off), holds files on them (open, mmap,
inotify) and compares what /proc says with stat(2) and mountinfo. It prints each
quirk flag with its meaning and the evidence. The result is cached per boot in
--cache-dir/quirks.json; without root it prints the version table's guess, marked
unverified. Details: docs/check.md.`,
		Args: argsRule("no arguments", cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCheck(cmd, f)
		},
	}
	addOutputFlag(cmd, &f.output, "output format")
	cmd.Flags().BoolVar(&f.noCache, "no-cache", false, "probe now; neither read nor write the cache")
	cmd.Flags().StringVar(&f.cacheDir, "cache-dir", quirks.DefaultCacheDir, "directory of the per-boot cache quirks.json")
	return cmd
}

// checkReport is the JSON of `ovlfix check -o json` (docs/check.md).
type checkReport struct {
	// Source is "probe" or "fallback" (the version table, unverified).
	Source string `json:"source"`
	// Cached: the probe result was read from CacheFile, not measured now.
	Cached    bool        `json:"cached"`
	CacheFile string      `json:"cache_file,omitempty"` // "" with --no-cache
	Quirks    *quirks.Set `json:"quirks"`
	Trust     bool        `json:"trust_fd_links"`
	// HookRoutes: the CRIU found, its version, and the routes of the
	// hook that are safe with it for each runtime.
	HookRoutes hookRoutes `json:"hook_routes"`
}

func runCheck(cmd *cobra.Command, f checkFlags) error {
	if err := requireOverlay(); err != nil {
		return err
	}
	started := time.Now()
	if f.noCache {
		stopStateOf(cmd.Context()).leave("nothing was written; the probe's mounts vanish with its namespace, and an empty %s directory may remain", quote.String(filepath.Join(os.TempDir(), "ovlfix-probe-*")))
	} else {
		stopStateOf(cmd.Context()).leave("%s is the previous cache or the complete new one, never a partial file; the probe's mounts vanish with its namespace, and an empty %s directory may remain",
			quote.String(filepath.Join(f.cacheDir, quirks.CacheFile)), quote.String(filepath.Join(os.TempDir(), "ovlfix-probe-*")))
	}
	l := &quirks.Loader{CacheDir: f.cacheDir, NoCache: f.noCache}
	s, err := l.Load(cmd.Context())
	if err != nil {
		return err
	}
	rep := checkReport{Source: "fallback", Quirks: s, Trust: s.TrustFdLinks()}
	if s.Probed {
		rep.Source = "probe"
		rep.Cached = s.ProbedAt.Before(started)
	}
	rep.HookRoutes = findHookRoutes(cmd.Context())
	if !f.noCache {
		rep.CacheFile = filepath.Join(f.cacheDir, quirks.CacheFile)
	}
	out := cmd.OutOrStdout()
	if f.output == outputJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return writeCheckText(out, &rep)
}

// writeCheckText prints the set for people. The flags, values and meanings
// are ovlfix's own; the kernel release, boot id, cache path and evidence
// lines come from the cache file or the probe and are quoted
// (internal/quote), so none can add a line.
func writeCheckText(out io.Writer, rep *checkReport) error {
	s := rep.Quirks
	var b strings.Builder
	fmt.Fprintf(&b, "kernel %s, boot %s\n", quote.String(s.Kernel), quote.String(s.BootID))
	switch {
	case !s.Probed:
		b.WriteString("source: the version table of docs/kernel-quirks.md (NOT probed, unverified; see the first evidence line)\n")
	case rep.Cached:
		fmt.Fprintf(&b, "source: probe of %s, read from the cache %s\n", s.ProbedAt.Format(time.RFC3339), quote.String(rep.CacheFile))
	default:
		fmt.Fprintf(&b, "source: probe run now in a private mount namespace")
		if rep.CacheFile != "" {
			fmt.Fprintf(&b, " (cached in %s)", quote.String(rep.CacheFile))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	for _, fl := range s.Flags() {
		fmt.Fprintf(&b, "%-18s %-5s  %s\n", fl.Name, fl.Value, fl.Meaning)
	}
	b.WriteString("\nevidence:\n")
	for _, e := range s.Evidence {
		fmt.Fprintf(&b, "  %s\n", quote.String(e))
	}
	writeHookRoutesText(&b, rep.HookRoutes)
	_, err := io.WriteString(out, b.String())
	return err
}
