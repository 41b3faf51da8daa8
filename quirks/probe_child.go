package quirks

import (
	"bytes"
	"fmt"
	"os"
	"unsafe"

	"github.com/ovlfix/ovlfix/fdinfo"
	"github.com/ovlfix/ovlfix/mountns"
	"golang.org/x/sys/unix"
)

// probeEnv is what the child holds while it measures.
type probeEnv struct {
	base    string
	table   *mountns.Table
	mnt     map[*probeOverlay]*mountns.Mount
	files   []*heldFile
	inotify int
}

// heldFile is a probe file with what the child holds on it: an open fd,
// a one-page MAP_SHARED mapping of that fd and an inotify watch.
type heldFile struct {
	*probeFile
	fd   int
	addr uint64
	wd   int
}

// runProbeChild builds the overlays, holds the files and measures. It
// runs in the re-executed child, in its own mount namespace, and returns
// the Set to print; the namespace and its mounts vanish when it exits.
func runProbeChild(base string) (*Set, error) {
	ovs, files, err := buildOverlays(base)
	if err != nil {
		return nil, err
	}
	env := &probeEnv{base: base, mnt: map[*probeOverlay]*mountns.Mount{}}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	if env.table, err = mountns.ParseTable(bytes.NewReader(mi)); err != nil {
		return nil, fmt.Errorf("own mountinfo: %w", err)
	}
	for _, ov := range ovs {
		m := env.table.ByMountpoint(ov.merged)
		if m == nil || m.FSType != "overlay" {
			return nil, fmt.Errorf("overlay %s not in /proc/self/mountinfo", ov.merged)
		}
		env.mnt[ov] = m
	}
	if env.inotify, err = unix.InotifyInit1(unix.IN_CLOEXEC); err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	for _, f := range files {
		h, err := hold(f, env.inotify)
		if err != nil {
			return nil, err
		}
		env.files = append(env.files, h)
	}
	s := &Set{Probed: true, FhandleType: -1}
	for _, ov := range ovs {
		m := env.mnt[ov]
		s.note("overlay %s: mnt_id %d, sb dev %d:%d, options %s", ov.name, m.ID, m.Major, m.Minor, env.rel(ov.opts))
	}
	measureFdPath(env, s)
	measureMaps(env, s)
	measureStatDev(env, s)
	measureMapFiles(env, s)
	measureFid(env, s)
	measureUniqueMntID(env, s)
	return s, nil
}

// hold opens f read-only, maps one page of it and watches it.
func hold(f *probeFile, inotify int) (*heldFile, error) {
	h := &heldFile{probeFile: f}
	var err error
	if h.fd, err = unix.Open(f.path, unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		return nil, fmt.Errorf("open %s: %w", f.path, err)
	}
	b, err := unix.Mmap(h.fd, 0, os.Getpagesize(), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %w", f.path, err)
	}
	h.addr = uint64(uintptr(unsafe.Pointer(&b[0])))
	if h.wd, err = unix.InotifyAddWatch(inotify, f.path, unix.IN_MODIFY|unix.IN_ATTRIB); err != nil {
		return nil, fmt.Errorf("inotify_add_watch %s: %w", f.path, err)
	}
	return h, nil
}

func (s *Set) note(format string, args ...any) {
	s.Evidence = append(s.Evidence, fmt.Sprintf(format, args...))
}

// rel shortens the child's temporary paths in evidence: "…/a/merged/x".
func (e *probeEnv) rel(s string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte(e.base), []byte("…")))
}

// readFdinfo parses /proc/self/fdinfo/<fd> with the project's parser.
func readFdinfo(fd int) (*fdinfo.Info, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
	if err != nil {
		return nil, err
	}
	return fdinfo.ParseFdinfoBytes(b)
}
