package scenario

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unsafe"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// envSpec carries the JSON spec from Start to the re-executed child.
const envSpec = "OVLFIX_SCENARIO_SPEC"

// MaybeRunChild runs the scenario child and exits when this process was
// started by Start; otherwise it returns at once.
func MaybeRunChild() {
	raw, ok := os.LookupEnv(envSpec)
	if !ok {
		return
	}
	os.Unsetenv(envSpec)
	var spec Spec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "scenario child: bad spec: %v\n", err)
		os.Exit(2)
	}
	if err := runChild(&spec, os.Stdout, os.Stdin); err != nil {
		fmt.Fprintf(os.Stderr, "scenario child: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runChild builds the overlay, performs the ops, writes the manifest to
// out and holds everything until in reaches EOF (the parent is done).
func runChild(spec *Spec, out io.Writer, in io.Reader) error {
	// A new mount namespace starts with the parent's propagation; make it
	// private first so nothing we mount reaches the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	if err := unix.Mount("tmpfs", spec.Base, "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", spec.Base, err)
	}
	dir := func(n string) string { return filepath.Join(spec.Base, n) }
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(dir(d), 0o755); err != nil {
			return err
		}
	}
	for _, f := range spec.Files {
		layers := []string{f.Layer}
		if f.Layer == "both" {
			layers = []string{"lower", "upper"}
		}
		for _, l := range layers {
			p := filepath.Join(dir(l), string(f.Name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, []byte(f.Content+" ("+l+")\n"), 0o644); err != nil {
				return err
			}
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", dir("lower"), dir("upper"), dir("work"))
	if spec.UserNS {
		opts += ",userxattr"
	}
	if err := unix.Mount("overlay", dir("merged"), "overlay", 0, opts); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("mount overlay: %w: this kernel has no overlay filesystem (try: modprobe overlay)", err)
		}
		return fmt.Errorf("mount overlay on %s (%s): %w", dir("merged"), opts, err)
	}
	merged := dir("merged")
	for _, f := range spec.Files {
		if f.CopyUp {
			fd, err := unix.Open(filepath.Join(merged, string(f.Name)), unix.O_RDWR|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("copy up %q: %w", f.Name, err)
			}
			unix.Close(fd)
		}
	}
	m := &Manifest{PID: os.Getpid(), Merged: merged, Inotify: -1}
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	m.Kernel = unix.ByteSliceToString(uts.Release[:])
	if err := findMount(m); err != nil {
		return err
	}
	for _, op := range spec.Ops {
		h, err := doOp(m, op)
		if err != nil {
			return fmt.Errorf("%s %q: %w", op.Kind, op.Path, err)
		}
		m.Held = append(m.Held, h)
	}
	if err := json.NewEncoder(out).Encode(m); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, in) // hold until the parent closes our stdin
	return nil
}

func doOp(m *Manifest, op Op) (Held, error) {
	path := filepath.Join(m.Merged, string(op.Path))
	h := Held{Kind: "fd", FD: -1, Path: []byte(path)}
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return h, err
	}
	h.Dev, h.Ino = st.Dev, st.Ino
	switch op.Kind {
	case "open", "open-rw", "open-dir":
		flags := unix.O_RDONLY
		if op.Kind == "open-rw" {
			flags = unix.O_RDWR
		} else if op.Kind == "open-dir" {
			flags |= unix.O_DIRECTORY
		}
		fd, err := unix.Open(path, flags, 0) // kept open, inherited by nobody
		if err != nil {
			return h, err
		}
		h.FD = fd
		for i := 1; i < op.Count; i++ {
			if _, err := unix.Open(path, flags, 0); err != nil {
				return h, fmt.Errorf("open number %d: %w", i+1, err)
			}
		}
		if op.Kind == "open-rw" { // copy-up may have changed nothing, but restat
			if err := unix.Fstat(fd, &st); err == nil {
				h.Dev, h.Ino = st.Dev, st.Ino
			}
		}
	case "mmap":
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return h, err
		}
		b, err := unix.Mmap(fd, 0, 4096, unix.PROT_READ, unix.MAP_SHARED)
		unix.Close(fd)
		if err != nil {
			return h, err
		}
		h.Kind, h.Addr = "map", uint64(uintptr(unsafe.Pointer(&b[0])))
	case "watch":
		if m.Inotify < 0 {
			ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
			if err != nil {
				return h, err
			}
			m.Inotify = ifd
		}
		wd, err := unix.InotifyAddWatch(m.Inotify, path, unix.IN_MODIFY|unix.IN_ATTRIB)
		if err != nil {
			return h, err
		}
		h.Kind, h.FD, h.WD = "watch", m.Inotify, wd
	case "thread-open":
		fd, tid, err := openInPrivateTable(path)
		if err != nil {
			return h, err
		}
		h.Kind, h.FD, h.TID = "thread-fd", fd, tid
	case "chdir":
		if err := unix.Chdir(path); err != nil {
			return h, err
		}
		h.Kind = "cwd"
	default:
		return h, fmt.Errorf("unknown op kind %q", op.Kind)
	}
	return h, nil
}

// openInPrivateTable starts an OS thread that unshares its file table
// (unshare(CLONE_FILES)) and opens path in it. The thread stays locked
// and parked for the child's lifetime, so the table lives as long.
func openInPrivateTable(path string) (fd, tid int, err error) {
	type res struct {
		fd, tid int
		err     error
	}
	ch := make(chan res)
	// Hold the current thread so the goroutine below cannot run on it:
	// it must get a thread of its own to unshare.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	go func() {
		runtime.LockOSThread() // never unlocked: the thread is ours alone
		if err := unix.Unshare(unix.CLONE_FILES); err != nil {
			ch <- res{err: fmt.Errorf("unshare(CLONE_FILES): %w", err)}
			return
		}
		fd, err := unix.Open(path, unix.O_RDONLY, 0)
		ch <- res{fd, unix.Gettid(), err}
		select {} // park forever
	}()
	r := <-ch
	return r.fd, r.tid, r.err
}

// findMount reads the overlay's mount id and dev from our own mountinfo.
func findMount(m *Manifest) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	infos, err := mountinfo.GetMountsFromReader(f, mountinfo.SingleEntryFilter(m.Merged))
	if err != nil {
		return err
	}
	if len(infos) == 0 {
		return fmt.Errorf("overlay %s not in /proc/self/mountinfo", m.Merged)
	}
	mi := infos[len(infos)-1]
	m.MntID, m.DevMaj, m.DevMin = mi.ID, uint32(mi.Major), uint32(mi.Minor)
	return nil
}

// readManifest reads the child's one-line JSON manifest.
func readManifest(r io.Reader) (*Manifest, error) {
	line, err := bufio.NewReader(r).ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.NewDecoder(bytes.NewReader(line)).Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest %q: %w", strings.TrimSpace(string(line)), err)
	}
	return &m, nil
}
