package scenario

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// envSpec marks the re-executed child; the JSON spec follows on its
// stdin as one line (a spec with a thousand mounts is too long for an
// environment variable).
const envSpec = "OVLFIX_SCENARIO_CHILD"

// init locks the main goroutine to the main thread (tid == pid) in a
// scenario child, for good. Only an init function can: by the time main or
// TestMain calls MaybeRunChild the goroutine may already have moved to
// another thread, and then "unshare-mnt" changed the namespace of a thread
// that /proc/<pid> does not show (TestOpenedInAnotherNamespace failed so in
// the 6.12 lab: "the namespace did not change"). It also keeps a goroutine
// that unshares its file table ("thread-open") off the leader.
func init() {
	if _, ok := os.LookupEnv(envSpec); ok {
		runtime.LockOSThread()
	}
}

// MaybeRunChild runs the scenario child and exits when this process was
// started by Start; otherwise it returns at once.
func MaybeRunChild() {
	if _, ok := os.LookupEnv(envSpec); !ok {
		return
	}
	os.Unsetenv(envSpec)
	if unix.Gettid() != os.Getpid() {
		fmt.Fprintf(os.Stderr, "scenario child: main goroutine on thread %d, not the leader %d\n", unix.Gettid(), os.Getpid())
		os.Exit(2)
	}
	in := bufio.NewReader(os.Stdin)
	raw, err := in.ReadBytes('\n')
	var spec Spec
	if err == nil {
		err = json.Unmarshal(raw, &spec)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "scenario child: bad spec: %v\n", err)
		os.Exit(2)
	}
	if err := runChild(&spec, os.Stdout, in); err != nil {
		fmt.Fprintf(os.Stderr, "scenario child: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runChild runs the spec's steps, writes the manifest to out and holds
// everything until in reaches EOF (the parent is done).
func runChild(spec *Spec, out io.Writer, in io.Reader) error {
	// A new mount namespace starts with the parent's propagation; make it
	// private first so nothing we mount reaches the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	if !spec.HostLayers {
		if err := unix.Mount("tmpfs", spec.Base, "tmpfs", 0, "mode=0755"); err != nil {
			return fmt.Errorf("mount tmpfs on %s: %w", spec.Base, err)
		}
	}
	// /proc/self stays readable through this fd after a pivot_root.
	procSelf, err := unix.Open("/proc/self", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	c := &child{spec: spec, base: spec.Base, procSelf: procSelf,
		m: &Manifest{PID: os.Getpid(), Inotify: -1, Mounts: map[string]MountRef{}}}
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	c.m.Kernel = unix.ByteSliceToString(uts.Release[:])
	for i, st := range append(spec.shorthand(), spec.Steps...) {
		if err := c.step(st); err != nil {
			return fmt.Errorf("step %d (%s %q): %w", i+1, st.Do, st.Path, err)
		}
	}
	if main, ok := c.m.Mounts["main"]; ok {
		c.m.Merged, c.m.MntID, c.m.DevMaj, c.m.DevMin = main.Mountpoint, main.ID, main.Major, main.Minor
	}
	if err := json.NewEncoder(out).Encode(c.m); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, in) // hold until the parent closes our stdin
	return nil
}

// shorthand expands Files and Ops into the steps of one overlay "main".
func (s *Spec) shorthand() []Step {
	if len(s.Files) == 0 && len(s.Ops) == 0 {
		return nil
	}
	var steps []Step
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		steps = append(steps, Step{Do: "mkdir", Path: []byte(d)})
	}
	for _, f := range s.Files {
		layers := []string{f.Layer}
		if f.Layer == "both" {
			layers = []string{"lower", "upper"}
		}
		for _, l := range layers {
			steps = append(steps, Step{Do: "write", Path: join(l, f.Name), Content: f.Content + " (" + l + ")\n"})
		}
	}
	steps = append(steps, Step{Do: "overlay", Path: []byte("merged"), Lower: []string{"lower"}, Upper: "upper", Work: "work", Label: "main"})
	for _, f := range s.Files {
		if f.CopyUp {
			steps = append(steps, Step{Do: "copyup", Path: join("merged", f.Name)})
		}
	}
	for _, op := range s.Ops {
		steps = append(steps, Step{Do: op.Kind, Path: join("merged", op.Path), Count: op.Count})
	}
	return steps
}

func join(dir string, name []byte) []byte {
	return append([]byte(dir+"/"), name...)
}

// child is the state of a running scenario child.
type child struct {
	spec     *Spec
	base     string // "" after a pivot: paths are then absolute
	procSelf int
	m        *Manifest
}

// abs makes a step path absolute in the child's current root.
func (c *child) abs(p []byte) string {
	if c.base == "" {
		return filepath.Join("/", string(p))
	}
	return filepath.Join(c.base, string(p))
}

func (c *child) step(st Step) error {
	path := c.abs(st.Path)
	switch st.Do {
	case "mkdir":
		return os.MkdirAll(path, 0o755)
	case "write":
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return os.WriteFile(path, []byte(st.Content), 0o644)
	case "tmpfs":
		if err := os.MkdirAll(path, 0o755); err != nil {
			return err
		}
		if err := unix.Mount("tmpfs", path, "tmpfs", 0, "mode=0755"); err != nil {
			return err
		}
		return c.record(st.Label, path)
	case "overlay":
		return c.overlay(st, path)
	case "bind":
		if err := unix.Mount(c.abs(st.Src), path, "", unix.MS_BIND, ""); err != nil {
			return err
		}
		return c.record(st.Label, path)
	case "copyup":
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		return unix.Close(fd)
	case "chmod":
		return os.Chmod(path, 0o600)
	case "rename":
		return os.Rename(c.abs(st.Src), path)
	case "unlink":
		return os.Remove(path)
	case "umount":
		return unix.Unmount(path, unix.MNT_DETACH)
	case "link":
		return os.Link(c.abs(st.Src), path)
	case "symlink": // Src is the link's text, verbatim
		return os.Symlink(string(st.Src), path)
	case "exec":
		return c.exec(st, path)
	case "pivot":
		return c.pivot(path)
	case "unshare-mnt":
		// The main goroutine is locked to the thread-group leader
		// (init), whose namespace /proc/<pid> shows.
		if unix.Gettid() != os.Getpid() {
			return fmt.Errorf("unshare-mnt on thread %d, not the leader %d", unix.Gettid(), os.Getpid())
		}
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("unshare(CLONE_NEWNS): %w", err)
		}
		return unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "")
	}
	h, err := doOp(c.m, c.procSelf, Op{Kind: st.Do, Path: []byte(path), Count: st.Count})
	if err != nil {
		return err
	}
	h.Label = st.Label
	c.m.Held = append(c.m.Held, h)
	return nil
}

func (c *child) overlay(st Step, path string) error {
	lowers := make([]string, len(st.Lower))
	for i, l := range st.Lower {
		lowers[i] = c.abs([]byte(l))
	}
	opts := "lowerdir=" + strings.Join(lowers, ":")
	if st.Upper != "" {
		opts += ",upperdir=" + c.abs([]byte(st.Upper)) + ",workdir=" + c.abs([]byte(st.Work))
	}
	if c.spec.UserNS {
		opts += ",userxattr"
	}
	if st.Opts != "" {
		opts += "," + st.Opts
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("overlay", path, "overlay", 0, opts); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("mount overlay: %w: this kernel has no overlay filesystem (try: modprobe overlay)", err)
		}
		return fmt.Errorf("mount overlay on %s (%s): %w", path, opts, err)
	}
	return c.record(st.Label, path)
}

// exec copies the host program src onto the overlay and runs it in a
// grandchild that dies with us.
func (c *child) exec(st Step, path string) error {
	prog, err := os.ReadFile(string(st.Src))
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, prog, 0o755); err != nil {
		return err
	}
	cmd := exec.Command(path, "3600")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	var sta unix.Stat_t
	if err := unix.Stat(path, &sta); err != nil {
		return err
	}
	c.m.Held = append(c.m.Held, Held{Kind: "exe", Label: st.Label, FD: -1, PID: cmd.Process.Pid,
		Path: []byte(path), Dev: sta.Dev, Ino: sta.Ino})
	return nil
}

// pivot makes the mount at path our root, as a container runtime does.
func (c *child) pivot(path string) error {
	if err := unix.Chdir(path); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	c.base = ""
	return unix.Chdir("/")
}

// record notes the mount now on path under label.
func (c *child) record(label, path string) error {
	if label == "" {
		return nil
	}
	fd, err := unix.Openat(c.procSelf, "mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), "mountinfo")
	defer f.Close()
	infos, err := mountinfo.GetMountsFromReader(f, mountinfo.SingleEntryFilter(path))
	if err != nil {
		return err
	}
	if len(infos) == 0 {
		return fmt.Errorf("mount on %s not in mountinfo", path)
	}
	mi := infos[len(infos)-1]
	c.m.Mounts[label] = MountRef{ID: mi.ID, Major: uint32(mi.Major), Minor: uint32(mi.Minor), Mountpoint: path}
	return nil
}

// doOp performs one holding action on an absolute path.
func doOp(m *Manifest, procSelf int, op Op) (Held, error) {
	path := string(op.Path)
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
		if h.MapsDev, h.MapsIno, err = ownMaps(procSelf, h.Addr); err != nil {
			return h, err
		}
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
	// MaybeRunChild locked the main goroutine to the main thread: the
	// goroutine below runs on another one.
	go func() {
		runtime.LockOSThread() // never unlocked: the thread is ours alone
		if err := unix.Unshare(unix.CLONE_FILES); err != nil {
			ch <- res{err: fmt.Errorf("unshare(CLONE_FILES): %w", err)}
			return
		}
		fd, err := unix.Open(path, unix.O_RDONLY, 0)
		if err == nil && unix.Gettid() == os.Getpid() {
			err = fmt.Errorf("private file table landed on the main thread")
		}
		ch <- res{fd, unix.Gettid(), err}
		select {} // park forever
	}()
	r := <-ch
	return r.fd, r.tid, r.err
}

// ownMaps returns the dev:ino our own maps prints for the mapping at addr.
func ownMaps(procSelf int, addr uint64) (dev, ino uint64, err error) {
	fd, err := unix.Openat(procSelf, "maps", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, 0, err
	}
	f := os.NewFile(uintptr(fd), "maps")
	defer f.Close()
	sc := bufio.NewScanner(f)
	prefix := strconv.FormatUint(addr, 16) + "-"
	for sc.Scan() {
		var start, end, off, inode uint64
		var perms string
		var major, minor uint32
		if !strings.HasPrefix(sc.Text(), prefix) {
			continue
		}
		if _, err := fmt.Sscanf(sc.Text(), "%x-%x %s %x %x:%x %d", &start, &end, &perms, &off, &major, &minor, &inode); err != nil {
			return 0, 0, fmt.Errorf("maps line %q: %w", sc.Text(), err)
		}
		return unix.Mkdev(major, minor), inode, nil
	}
	return 0, 0, fmt.Errorf("mapping at %#x not in /proc/self/maps", addr)
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
