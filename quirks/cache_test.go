package quirks

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ovlfix/ovlfix/internal/testenv"
	"golang.org/x/sys/unix"
)

// countingLoader is a Loader on a fresh cache directory whose probe is a
// fake that counts its calls (the real one needs root and takes a child).
type countingLoader struct {
	Loader
	calls int
	err   error // returned by the fake probe when set
}

func newCountingLoader(t *testing.T) *countingLoader {
	c := &countingLoader{}
	c.CacheDir = t.TempDir()
	c.Probe = func(ctx context.Context) (*Set, error) {
		c.calls++
		if c.err != nil {
			return nil, c.err
		}
		return &Set{Probed: true, FdPathOK: true, FhandleType: 0xf8, ProbedAt: time.Now().UTC(),
			Evidence: []string{"fake probe"}}, nil
	}
	return c
}

func (c *countingLoader) load(t *testing.T) *Set {
	t.Helper()
	s, err := c.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (c *countingLoader) path() string { return filepath.Join(c.CacheDir, CacheFile) }

// readEntry reads the cache file as JSON, independently of readCache.
func readEntry(t *testing.T, path string) cacheEntry {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var e cacheEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("cache file %s: %v\n%s", path, err, raw)
	}
	return e
}

func bootIDOfHost(t *testing.T) string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestLoadCacheHitAvoidsProbe(t *testing.T) {
	c := newCountingLoader(t)
	first := c.load(t)
	second := c.load(t)
	if c.calls != 1 {
		t.Fatalf("probe ran %d times for two loads, want 1", c.calls)
	}
	if !second.ProbedAt.Equal(first.ProbedAt) || !second.Probed || second.FhandleType != 0xf8 {
		t.Errorf("cached set %+v differs from the probed %+v", second, first)
	}
	e := readEntry(t, c.path())
	if e.Format != cacheFormat || e.Quirks.BootID != bootIDOfHost(t) {
		t.Errorf("cache format %d boot %q, want %d and this boot", e.Format, e.Quirks.BootID, cacheFormat)
	}
}

// rewrite edits the cache file's set and writes it back.
func rewrite(t *testing.T, path string, edit func(*Set)) {
	t.Helper()
	e := readEntry(t, path)
	edit(e.Quirks)
	b, _ := json.Marshal(e)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadInvalidatedByBootOrKernel(t *testing.T) {
	for name, edit := range map[string]func(*Set){
		"boot id": func(s *Set) { s.BootID = "00000000-0000-0000-0000-000000000000" },
		"kernel":  func(s *Set) { s.Kernel = "0.0.0-not-this-kernel" },
	} {
		t.Run(name, func(t *testing.T) {
			c := newCountingLoader(t)
			c.load(t)
			rewrite(t, c.path(), edit)
			s := c.load(t)
			if c.calls != 2 {
				t.Fatalf("probe ran %d times; a cache of another %s must be ignored", c.calls, name)
			}
			if e := readEntry(t, c.path()); e.Quirks.BootID != bootIDOfHost(t) {
				t.Errorf("cache not rewritten for this boot: %q", e.Quirks.BootID)
			}
			if !strings.Contains(strings.Join(s.Evidence, "\n"), "cache: replaced") {
				t.Errorf("evidence does not say the cache was replaced: %q", s.Evidence)
			}
		})
	}
}

func TestLoadCorruptCacheRewritten(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":    "{not json",
		"empty":      "",
		"old format": `{"format":0,"quirks":{"probed":true}}`,
		"no set":     `{"format":1}`,
	} {
		t.Run(name, func(t *testing.T) {
			c := newCountingLoader(t)
			if err := os.WriteFile(c.path(), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			s := c.load(t)
			if c.calls != 1 || !s.Probed {
				t.Fatalf("probe ran %d times, probed %v; want a fresh probe", c.calls, s.Probed)
			}
			if e := readEntry(t, c.path()); !e.Quirks.Probed || e.Format != cacheFormat {
				t.Errorf("cache not rewritten: %+v", e)
			}
		})
	}
}

// TestLoadIgnoresWritableCache: a cache others may write could be forged
// to make the resolver skip its checks.
func TestLoadIgnoresWritableCache(t *testing.T) {
	c := newCountingLoader(t)
	c.load(t)
	if err := os.Chmod(c.path(), 0o666); err != nil {
		t.Fatal(err)
	}
	c.load(t)
	if c.calls != 2 {
		t.Fatalf("probe ran %d times; a world-writable cache must be ignored", c.calls)
	}
	if st, err := os.Stat(c.path()); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("cache after rewrite: %v %v, want mode 0644", st.Mode(), err)
	}
}

func TestLoadProbeFailureFallsBack(t *testing.T) {
	c := newCountingLoader(t)
	c.err = errors.New("cannot create a mount namespace")
	s := c.load(t)
	if s.Probed || s.TrustFdLinks() {
		t.Errorf("probed %v trust %v after a failed probe", s.Probed, s.TrustFdLinks())
	}
	if len(s.Evidence) == 0 || !strings.Contains(s.Evidence[0], "cannot create a mount namespace") {
		t.Errorf("first evidence line %q does not give the reason", s.Evidence)
	}
	if s.BootID != bootIDOfHost(t) || s.Kernel == "" {
		t.Errorf("fallback kernel %q boot %q", s.Kernel, s.BootID)
	}
	if _, err := os.Stat(c.path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a fallback must not be cached: %v", err)
	}
}

func TestLoadNoCache(t *testing.T) {
	c := newCountingLoader(t)
	c.NoCache = true
	c.load(t)
	c.load(t)
	if c.calls != 2 {
		t.Errorf("probe ran %d times with NoCache, want 2", c.calls)
	}
	if _, err := os.Stat(c.path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("NoCache wrote the cache: %v", err)
	}
}

func TestLoadCancelled(t *testing.T) {
	c := newCountingLoader(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c.err = ctx.Err()
	if s, err := c.Load(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Load with a cancelled context = %+v, %v; want context.Canceled", s, err)
	}
}

// TestLoadRealProbeOnce: the real probe behind the seam, counted.
func TestLoadRealProbeOnce(t *testing.T) {
	testenv.RequireRoot(t)
	calls := 0
	l := &Loader{CacheDir: t.TempDir(), Probe: func(ctx context.Context) (*Set, error) {
		calls++
		return Probe(ctx)
	}}
	for i := 0; i < 3; i++ {
		s, err := l.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !s.Probed || s.BootID != bootIDOfHost(t) {
			t.Fatalf("load %d: probed %v boot %q", i, s.Probed, s.BootID)
		}
	}
	if calls != 1 {
		t.Errorf("the probe child ran %d times for three loads, want 1", calls)
	}
}

// LoadCached reads a valid cache and nothing else: without one it returns
// ErrNoCache saying why, and leaves the directory exactly as it was.
func TestLoadCachedIsReadOnly(t *testing.T) {
	c := newCountingLoader(t)
	if _, err := LoadCached(c.CacheDir); !errors.Is(err, ErrNoCache) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("empty dir: %v, want ErrNoCache (does not exist)", err)
	}
	if ents, _ := os.ReadDir(c.CacheDir); len(ents) != 0 {
		t.Fatalf("LoadCached wrote %v", ents)
	}
	probed := c.load(t) // writes the cache
	got, err := LoadCached(c.CacheDir)
	if err != nil || !got.ProbedAt.Equal(probed.ProbedAt) || !got.Probed {
		t.Fatalf("LoadCached = %+v, %v; want the cached probe %+v", got, err, probed)
	}
	// A cache of another boot is not used, and not replaced.
	e := readEntry(t, c.path())
	e.Quirks.BootID = "another-boot"
	raw, _ := json.Marshal(e)
	if err := os.WriteFile(c.path(), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCached(c.CacheDir); !errors.Is(err, ErrNoCache) || !strings.Contains(err.Error(), "another-boot") {
		t.Errorf("stale cache: %v, want ErrNoCache naming the other boot", err)
	}
	if after, _ := os.ReadFile(c.path()); string(after) != string(raw) {
		t.Error("LoadCached rewrote a stale cache")
	}
	if c.calls != 1 {
		t.Errorf("probe ran %d times, want 1 (LoadCached never probes)", c.calls)
	}
}

// A FIFO planted as the cache is rejected at once, not waited on.
func TestCacheFIFODoesNotBlock(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mkfifo(filepath.Join(dir, CacheFile), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := LoadCached(dir); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNoCache) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("FIFO cache: %v, want ErrNoCache (not a regular file)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LoadCached blocked on a FIFO cache file")
	}
}
