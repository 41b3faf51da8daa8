package quirks

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// The probe child's two overlays (docs/kernel-quirks.md §11.1):
//
//	A "samefs":  lower, upper and work on one tmpfs (the base tmpfs)
//	B "xino=off": lower on tmpfs 1, upper and work on tmpfs 2
//
// Each holds two files: "lower-only" (never copied up) and "copied-up"
// (created in lower, then opened O_RDWR through the overlay). The two
// shapes matter: on samefs, pre-6.8 maps shows the layer dev but the same
// inode for a lower-only file, so only the copied-up one (whose real upper
// inode differs from the origin st_ino) reveals the inode quirk; only B
// has pseudo st_devs.

// probeOverlay is one overlay the child built.
type probeOverlay struct {
	name   string // "A (samefs)", "B (xino=off)"
	merged string
	opts   string // the options it was mounted with
}

// probeFile is one file on a probe overlay, with the truth about it.
type probeFile struct {
	ov   *probeOverlay
	name string // "lower-only", "copied-up"
	path string // absolute overlay path
	st   unix.Stat_t
}

func (f *probeFile) label() string { return f.ov.name[:1] + " " + f.name }

var probeFileNames = []string{"lower-only", "copied-up"}

// buildOverlays mounts the base tmpfs and both overlays, and copies up.
// The caller is in a fresh mount namespace.
func buildOverlays(base string) ([]*probeOverlay, []*probeFile, error) {
	// A new mount namespace starts with the parent's propagation; make it
	// private first so nothing we mount reaches the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return nil, nil, fmt.Errorf("make / private: %w", err)
	}
	if err := unix.Mount("tmpfs", base, "tmpfs", 0, "mode=0700"); err != nil {
		return nil, nil, fmt.Errorf("mount tmpfs on %s: %w", base, err)
	}
	p := func(parts ...string) string { return filepath.Join(append([]string{base}, parts...)...) }
	// A: everything on the base tmpfs.
	a := &probeOverlay{name: "A (samefs)", merged: p("a", "merged")}
	if err := mkdirs(p("a", "lower"), p("a", "upper"), p("a", "work"), a.merged); err != nil {
		return nil, nil, err
	}
	a.opts = fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", p("a", "lower"), p("a", "upper"), p("a", "work"))
	// B: lower on one tmpfs, upper and work on another.
	b := &probeOverlay{name: "B (xino=off)", merged: p("b", "merged")}
	if err := mkdirs(p("b", "l"), p("b", "u"), b.merged); err != nil {
		return nil, nil, err
	}
	for _, d := range []string{p("b", "l"), p("b", "u")} {
		if err := unix.Mount("tmpfs", d, "tmpfs", 0, "mode=0700"); err != nil {
			return nil, nil, fmt.Errorf("mount tmpfs on %s: %w", d, err)
		}
	}
	if err := mkdirs(p("b", "l", "lower"), p("b", "u", "upper"), p("b", "u", "work")); err != nil {
		return nil, nil, err
	}
	b.opts = fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s,xino=off", p("b", "l", "lower"), p("b", "u", "upper"), p("b", "u", "work"))
	lowers := map[*probeOverlay]string{a: p("a", "lower"), b: p("b", "l", "lower")}
	var files []*probeFile
	for _, ov := range []*probeOverlay{a, b} {
		for _, n := range probeFileNames {
			// One page of content, so that a one-page mmap is all file.
			content := make([]byte, os.Getpagesize())
			copy(content, "ovlfix quirks probe: "+n+"\n")
			if err := os.WriteFile(filepath.Join(lowers[ov], n), content, 0o644); err != nil {
				return nil, nil, err
			}
		}
		if err := mountOverlay(ov); err != nil {
			return nil, nil, err
		}
		for _, n := range probeFileNames {
			f := &probeFile{ov: ov, name: n, path: filepath.Join(ov.merged, n)}
			if n == "copied-up" {
				fd, err := unix.Open(f.path, unix.O_RDWR|unix.O_CLOEXEC, 0)
				if err != nil {
					return nil, nil, fmt.Errorf("copy up %s: %w", f.path, err)
				}
				unix.Close(fd)
			}
			if err := unix.Stat(f.path, &f.st); err != nil {
				return nil, nil, fmt.Errorf("stat %s: %w", f.path, err)
			}
			files = append(files, f)
		}
	}
	return []*probeOverlay{a, b}, files, nil
}

// mountOverlay mounts ov; a kernel older than xino (4.17) rejects
// "xino=off" with EINVAL, and has no xino to turn off, so it is retried
// without.
func mountOverlay(ov *probeOverlay) error {
	err := unix.Mount("overlay", ov.merged, "overlay", 0, ov.opts)
	if errors.Is(err, unix.EINVAL) && strings.HasSuffix(ov.opts, ",xino=off") {
		ov.opts = strings.TrimSuffix(ov.opts, ",xino=off")
		err = unix.Mount("overlay", ov.merged, "overlay", 0, ov.opts)
	}
	switch {
	case errors.Is(err, unix.ENODEV):
		return fmt.Errorf("mount overlay: %w: this kernel has no overlay filesystem (try: modprobe overlay)", err)
	case err != nil:
		return fmt.Errorf("mount overlay %s on %s (%s): %w", ov.name, ov.merged, ov.opts, err)
	}
	return nil
}

func mkdirs(dirs ...string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	return nil
}
