package quirks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ovlfix/ovlfix/proto"
	"golang.org/x/sys/unix"
)

// DefaultCacheDir is where Load keeps the probe result: /run is a tmpfs
// emptied at boot, which matches the cache's lifetime.
const DefaultCacheDir = "/run/ovlfix"

// CacheFile is the cache's name inside the cache directory.
const CacheFile = "quirks.json"

// cacheFormat changes whenever Set gains or changes a flag: an older
// cache is then ignored and rewritten.
const cacheFormat = 1

// maxCacheSize bounds what is read from the cache file.
const maxCacheSize = 1 << 20

type cacheEntry struct {
	Format int  `json:"format"`
	Quirks *Set `json:"quirks"`
}

// Loader loads the Set for the running kernel: from the cache when it is
// valid, else by probing (and caching the result), else from the version
// table. The zero Loader uses DefaultCacheDir and Probe.
type Loader struct {
	// CacheDir holds CacheFile; "" means DefaultCacheDir.
	CacheDir string
	// NoCache makes Load probe every time and leave the cache alone.
	NoCache bool
	// Probe measures the kernel; nil means Probe. A seam for tests.
	Probe func(context.Context) (*Set, error)
}

// Load is (&Loader{CacheDir: cacheDir}).Load(ctx).
func Load(ctx context.Context, cacheDir string) (*Set, error) {
	return (&Loader{CacheDir: cacheDir}).Load(ctx)
}

// Load returns the Set for the running kernel. The cache is used only if
// it was written for the same boot (boot_id) of the same release, belongs
// to root or the current user, is not writable by others, and parses; anything else is
// ignored and rewritten. When the probe cannot run (not root, no overlay,
// no mount rights) Load returns Fallback for the running release with
// Probed=false and the probe's error as the first Evidence line; that
// guess is not cached, so a later privileged run probes. The only errors
// are a cancelled ctx and an unreadable boot id or release.
func (l *Loader) Load(ctx context.Context) (*Set, error) {
	b, err := currentBoot()
	if err != nil {
		return nil, err
	}
	dir := l.CacheDir
	if dir == "" {
		dir = DefaultCacheDir
	}
	var ignored string
	if !l.NoCache {
		s, why := readCache(filepath.Join(dir, CacheFile), b)
		if s != nil {
			return s, nil
		}
		ignored = why
	}
	probe := l.Probe
	if probe == nil {
		probe = Probe
	}
	s, err := probe(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		fb := Fallback(b.release)
		fb.BootID = b.bootID
		fb.Evidence = append([]string{fmt.Sprintf("probe not run: %v; the values are the version table's, unverified", err)}, fb.Evidence...)
		return fb, nil
	}
	s.Kernel, s.BootID = b.release, b.bootID
	if l.NoCache {
		return s, nil
	}
	if err := writeCache(dir, s); err != nil {
		s.Evidence = append(s.Evidence, fmt.Sprintf("cache: not written: %v", err))
	} else if ignored != "" {
		s.Evidence = append(s.Evidence, fmt.Sprintf("cache: replaced %s (%s)", filepath.Join(dir, CacheFile), ignored))
	}
	return s, nil
}

// ErrNoCache means LoadCached found no cache valid for this boot; the
// error wrapping it says why (none, another boot, not ours, corrupt).
var ErrNoCache = errors.New("no probe cache for this boot")

// LoadCached returns the Set cached in dir/CacheFile when it is valid for
// the running boot (the same checks as Load), and nothing else: it never
// probes, never falls back to the version table and never writes. For
// callers that must have no side effects, such as the CRIU hook while the
// tasks are frozen. The error wraps ErrNoCache when there is no valid
// cache; other errors are an unreadable boot id or release.
func LoadCached(dir string) (*Set, error) {
	b, err := currentBoot()
	if err != nil {
		return nil, err
	}
	if dir == "" {
		dir = DefaultCacheDir
	}
	path := filepath.Join(dir, CacheFile)
	s, why := readCache(path, b)
	switch {
	case s != nil:
		return s, nil
	case why == "":
		return nil, fmt.Errorf("%w: %s does not exist", ErrNoCache, path)
	}
	return nil, fmt.Errorf("%w: %s is not used: %s", ErrNoCache, path, why)
}

// readCache returns the cached Set if it is valid for b, else nil and why
// not ("" when there is no cache file).
//
// The open never blocks: O_NONBLOCK makes a FIFO planted at path open at
// once (and fail the regular-file check) instead of waiting for a writer.
func readCache(path string, b boot) (*Set, string) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ""
	}
	if err != nil {
		return nil, err.Error()
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, err.Error()
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return nil, "not a regular file"
	case st.Uid != 0 && int(st.Uid) != os.Geteuid():
		return nil, fmt.Sprintf("owned by uid %d, neither root nor us", st.Uid)
	case st.Mode&0o022 != 0:
		return nil, fmt.Sprintf("writable by others (mode %#o)", st.Mode&0o777)
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxCacheSize+1))
	if err != nil {
		return nil, err.Error()
	}
	if len(raw) > maxCacheSize {
		return nil, "larger than 1 MiB"
	}
	var e cacheEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, "corrupt: " + err.Error()
	}
	switch {
	case e.Format != cacheFormat:
		return nil, fmt.Sprintf("format %d, want %d", e.Format, cacheFormat)
	case e.Quirks == nil || !e.Quirks.Probed:
		return nil, "holds no probe result"
	case e.Quirks.BootID != b.bootID:
		return nil, fmt.Sprintf("written in boot %s, this is boot %s", e.Quirks.BootID, b.bootID)
	case e.Quirks.Kernel != b.release:
		return nil, fmt.Sprintf("written for kernel %s, this is %s", e.Quirks.Kernel, b.release)
	}
	return e.Quirks, ""
}

// writeCache replaces dir/CacheFile atomically (a concurrent reader sees
// the old or the new cache, never half of one).
func writeCache(dir string, s *Set) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return proto.WriteFileAtomic(dir, CacheFile, 0o644, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(cacheEntry{Format: cacheFormat, Quirks: s})
	})
}
