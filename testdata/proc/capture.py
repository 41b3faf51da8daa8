#!/usr/bin/python3
"""Capture real /proc/self/{fdinfo,maps} text for the fdinfo parser tests.

Usage (as root; the script mounts, so run it in a private mount namespace):

    unshare -m --propagation private python3 capture.py OUTDIR

It mounts a tmpfs and an overlay (lower, upper and work dirs on that one tmpfs)
under a fresh temporary directory, opens/watches/mmaps files there, and writes
for each object NAME.txt (the kernel's text, byte for byte) and
NAME.expect.json: what the parser should find, computed independently of the
text (fstat, fcntl F_GETFL, /proc/self/mountinfo, the values passed to the
syscalls, the addresses mmap returned). Nothing in an .expect.json file is
derived from the captured text.
"""
import ctypes, fcntl, json, os, signal, subprocess, sys, tempfile

OUT = sys.argv[1]
os.makedirs(OUT, exist_ok=True)
libc = ctypes.CDLL(None, use_errno=True)


def check(r, what):
    if r == -1 or (isinstance(r, int) and r < 0):
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")
    return r


def kdev(st_dev):
    """Kernel dev_t encoding (MAJOR<<20|MINOR) of a userspace st_dev."""
    return (os.major(st_dev) << 20) | os.minor(st_dev)


def mnt_id_of_mountpoint(path):
    """mnt_id of the last mount on path, from /proc/self/mountinfo."""
    found = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == path:
                found = int(fields[0])
    if found is None:
        raise RuntimeError(f"no mount on {path}")
    return found


def fdinfo(fd):
    with open(f"/proc/self/fdinfo/{fd}", "rb") as f:
        return f.read()


def save(name, text, expect):
    with open(os.path.join(OUT, name + ".txt"), "wb") as f:
        f.write(text)
    with open(os.path.join(OUT, name + ".expect.json"), "w") as f:
        json.dump(expect, f, indent=1, sort_keys=True)
        f.write("\n")


def flags_of(fd):
    """What fdinfo "flags:" must say: f_flags (= F_GETFL) plus O_CLOEXEC."""
    fl = fcntl.fcntl(fd, fcntl.F_GETFL)
    if fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
        fl |= os.O_CLOEXEC
    return fl


def file_expect(fd, mnt_id, pos):
    st = os.fstat(fd)
    return {"pos": pos, "flags": flags_of(fd), "mnt_id": mnt_id, "ino": st.st_ino}


class FH(ctypes.Structure):
    _fields_ = [("bytes", ctypes.c_uint), ("type", ctypes.c_int), ("h", ctypes.c_ubyte * 128)]


def handle_of(path):
    """(type, hex bytes) from name_to_handle_at, or None where it fails
    (overlay without nfs_export). AT_HANDLE_FID is not used: 6.1 lacks it."""
    fh, mid = FH(128, 0), ctypes.c_int()
    if libc.name_to_handle_at(-100, path.encode(), ctypes.byref(fh), ctypes.byref(mid), 0) != 0:
        return None
    return {"handle_type": fh.type, "handle": bytes(fh.h[:fh.bytes]).hex()}


# --- the file tree --------------------------------------------------------
base = tempfile.mkdtemp(prefix="ovlfix-capture-")
subprocess.run(["mount", "-t", "tmpfs", "tmpfs", base], check=True)
for d in ("lower", "upper", "work", "merged", "t"):
    os.mkdir(os.path.join(base, d))
for name, layer in (("lowerfile", "lower"), ("upperfile", "upper")):
    with open(os.path.join(base, layer, name), "wb") as f:
        f.write(b"x" * 8192)
os.mkdir(os.path.join(base, "lower", "lowerdir"))
merged = os.path.join(base, "merged")
subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                f"lowerdir={base}/lower,upperdir={base}/upper,workdir={base}/work", merged], check=True)
tmpfs_mnt = mnt_id_of_mountpoint(base)
ovl_mnt = mnt_id_of_mountpoint(merged)
T = os.path.join(base, "t")


def tfile(name, size=4096):
    p = os.path.join(T.encode(), name)
    with open(p, "wb") as f:
        f.write(b"y" * size)
    return p


keep = []

# --- plain fds ---------------------------------------------------------------
fd = os.open(tfile(b"regular"), os.O_RDWR | os.O_APPEND)
os.lseek(fd, 5, os.SEEK_SET)
save("fdinfo-reg-tmpfs", fdinfo(fd), file_expect(fd, tmpfs_mnt, 5))
keep.append(fd)

fd = os.open(os.path.join(merged, "lowerfile"), os.O_RDONLY)
os.lseek(fd, 100, os.SEEK_SET)
save("fdinfo-reg-overlay", fdinfo(fd), file_expect(fd, ovl_mnt, 100))
keep.append(fd)

fd = os.open(os.path.join(merged, "lowerdir"), os.O_RDONLY | os.O_DIRECTORY)
save("fdinfo-dir-overlay", fdinfo(fd), file_expect(fd, ovl_mnt, 0))
keep.append(fd)

fd = os.open(os.path.join(merged, "upperfile"), os.O_PATH)
save("fdinfo-opath-overlay", fdinfo(fd), file_expect(fd, ovl_mnt, 0))
keep.append(fd)

# A POSIX write lock on the whole file: one "lock:" line.
lockpath = tfile(b"locked")
fd = os.open(lockpath, os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
st = os.fstat(fd)
e = file_expect(fd, tmpfs_mnt, 0)
# fs/locks.c lock_get_status: "%d %02x:%02x:%lu " pid, MAJOR, MINOR, ino.
e["lock_contains"] = ["POSIX", "WRITE", f" {os.getpid()} {os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino} "]
save("fdinfo-lock", fdinfo(fd), e)
keep.append(fd)

# --- inotify -----------------------------------------------------------------
IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE, IN_CREATE, IN_DELETE = 0x2, 0x4, 0x8, 0x100, 0x200
ifd = check(libc.inotify_init1(os.O_CLOEXEC), "inotify_init1")
marks = []
for path, mask in ((os.path.join(merged, "lowerfile"), IN_MODIFY | IN_ATTRIB),
                   (os.path.join(merged, "upperfile"), IN_CLOSE_WRITE),
                   (os.path.join(merged, "lowerdir"), IN_CREATE | IN_DELETE),
                   (tfile(b"watched").decode(), IN_MODIFY)):
    wd = check(libc.inotify_add_watch(ifd, path.encode(), mask), "inotify_add_watch " + path)
    st = os.stat(path)
    m = {"path": path, "wd": wd, "mask": mask, "ino": st.st_ino, "sdev": kdev(st.st_dev)}
    h = handle_of(path)
    if h:
        m.update(h)
    marks.append(m)
e = file_expect(ifd, None, 0)
e["marks"] = marks
save("fdinfo-inotify", fdinfo(ifd), e)
keep.append(ifd)

# --- fanotify ----------------------------------------------------------------
FAN_CLASS_NOTIF, FAN_CLOEXEC, FAN_REPORT_FID = 0, 0x1, 0x200
FAN_MARK_ADD, FAN_MARK_MOUNT, FAN_MARK_FILESYSTEM = 0x1, 0x10, 0x100
FAN_MODIFY, FAN_CLOSE_WRITE, FAN_OPEN = 0x2, 0x8, 0x20
libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint, ctypes.c_uint64, ctypes.c_int, ctypes.c_char_p]
for name, init_flags in (("fdinfo-fanotify", FAN_CLASS_NOTIF | FAN_CLOEXEC),
                         ("fdinfo-fanotify-fid", FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_REPORT_FID)):
    event_flags = os.O_RDONLY
    fan = check(libc.fanotify_init(init_flags, event_flags), "fanotify_init")
    marks, failed = [], []
    for kind, path, mflags, mask in (
            ("inode", tfile(b"fan-" + name.encode()).decode(), 0, FAN_MODIFY | FAN_CLOSE_WRITE),
            ("inode", os.path.join(merged, "lowerfile"), 0, FAN_CLOSE_WRITE),
            ("mount", base, FAN_MARK_MOUNT, FAN_OPEN),
            ("super", base, FAN_MARK_FILESYSTEM, FAN_OPEN | FAN_CLOSE_WRITE)):
        if libc.fanotify_mark(fan, FAN_MARK_ADD | mflags, mask, -100, path.encode()) != 0:
            failed.append({"kind": kind, "path": path, "errno": os.strerror(ctypes.get_errno())})
            continue
        st = os.stat(path)
        m = {"kind": kind, "path": path, "mask": mask, "mflags": 0}
        if kind == "inode":
            m.update({"ino": st.st_ino, "sdev": kdev(st.st_dev)})
            h = handle_of(path)
            if h:
                m.update(h)
        elif kind == "mount":
            m["mnt_id"] = mnt_id_of_mountpoint(path)
        else:
            m["sdev"] = kdev(st.st_dev)
        marks.append(m)
    e = file_expect(fan, None, 0)
    e.update({"init_flags": init_flags, "event_flags": event_flags, "marks": marks, "failed_marks": failed})
    save(name, fdinfo(fan), e)
    keep.append(fan)

# --- eventfd, epoll, timerfd, signalfd ----------------------------------------
efd = check(libc.eventfd(7, os.O_CLOEXEC), "eventfd")
e = file_expect(efd, None, 0)
e["eventfd_count"] = 7
save("fdinfo-eventfd", fdinfo(efd), e)
keep.append(efd)


class EpollEvent(ctypes.Structure):
    _pack_ = 1  # x86-64: struct epoll_event is packed
    _fields_ = [("events", ctypes.c_uint32), ("data", ctypes.c_uint64)]


EPOLLIN, EPOLLOUT, EPOLLET = 0x1, 0x4, 1 << 31
epfd = check(libc.epoll_create1(os.O_CLOEXEC), "epoll_create1")
pr, pw = os.pipe()
s1, s2 = __import__("socket").socketpair()
targets = []
for tfd, events, data in ((efd, EPOLLIN, 0xdeadbeefcafef00d), (pr, EPOLLIN | EPOLLET, 0),
                          (pw, EPOLLOUT, 42), (s1.fileno(), EPOLLIN | EPOLLOUT, 0xffffffffffffffff),
                          (ifd, EPOLLIN, 7)):
    ev = EpollEvent(events, data)
    check(libc.epoll_ctl(epfd, 1, tfd, ctypes.byref(ev)), "epoll_ctl")
    st = os.fstat(tfd)
    targets.append({"tfd": tfd, "events": events, "data": data, "pos": 0,
                    "ino": st.st_ino, "sdev": kdev(st.st_dev)})
e = file_expect(epfd, None, 0)
e["epoll"] = sorted(targets, key=lambda t: t["tfd"])
save("fdinfo-epoll", fdinfo(epfd), e)
keep += [epfd, pr, pw, s1, s2]


class Timespec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]


class Itimerspec(ctypes.Structure):
    _fields_ = [("interval", Timespec), ("value", Timespec)]


CLOCK_MONOTONIC = 1
tfd = check(libc.timerfd_create(CLOCK_MONOTONIC, os.O_CLOEXEC), "timerfd_create")
check(libc.timerfd_settime(tfd, 0, ctypes.byref(Itimerspec(Timespec(3, 0), Timespec(1000, 0))), None),
      "timerfd_settime")
e = file_expect(tfd, None, 0)
e["extra_prefixes"] = [f"clockid: {CLOCK_MONOTONIC}", "ticks: 0", "it_interval: (3, 0)"]
save("fdinfo-timerfd", fdinfo(tfd), e)
keep.append(tfd)

sigset = (ctypes.c_uint64 * 16)()
sigset[0] = (1 << (signal.SIGUSR1 - 1)) | (1 << (signal.SIGTERM - 1))
sfd = check(libc.signalfd(-1, ctypes.byref(sigset), os.O_CLOEXEC), "signalfd")
e = file_expect(sfd, None, 0)
e["extra_prefixes"] = ["sigmask:\t%016x" % sigset[0]]
save("fdinfo-signalfd", fdinfo(sfd), e)
keep.append(sfd)

# --- maps ---------------------------------------------------------------------
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
PROT_READ, MAP_SHARED, MAP_PRIVATE = 1, 1, 2
PAGE = os.sysconf("SC_PAGE_SIZE")
maps = []


def do_map(fd, length, flags=MAP_SHARED, offset=0):
    addr = libc.mmap(None, length, PROT_READ, flags, fd, offset)
    if addr is None or addr == ctypes.c_void_p(-1).value:
        raise OSError(ctypes.get_errno(), "mmap")
    return addr


def map_path(path, label, layer=None, unlink=False, length=PAGE, offset=0):
    fd = os.open(path, os.O_RDONLY)
    st = os.fstat(fd)
    addr = do_map(fd, length, MAP_SHARED, offset)
    if unlink:
        os.unlink(path)
    m = {"label": label, "start": addr, "end": addr + length, "offset": offset, "perms": "r--s",
         "path": os.fsencode(path).hex(), "deleted": unlink,
         "dev_major": os.major(st.st_dev), "dev_minor": os.minor(st.st_dev), "ino": st.st_ino}
    if layer:  # the real layer file: what maps showed before 6.8
        lst = os.stat(layer)
        m.update({"layer_dev_major": os.major(lst.st_dev), "layer_dev_minor": os.minor(lst.st_dev),
                  "layer_ino": lst.st_ino})
    maps.append(m)
    keep.append(fd)


map_path(os.path.join(merged, "lowerfile"), "overlay-lower", layer=os.path.join(base, "lower", "lowerfile"),
         length=2 * PAGE)
map_path(os.path.join(merged, "upperfile"), "overlay-upper", layer=os.path.join(base, "upper", "upperfile"),
         offset=PAGE)
map_path(tfile(b"with space"), "space")
map_path(tfile(b"new\nline\xff\xfe.bin"), "newline-invalid-utf8")
map_path(tfile(b"gone"), "deleted", unlink=True)
# Ambiguous names, documented in parse_maps.go: a literal backslash-012 and a
# literal " (deleted)" suffix on a file that still exists.
map_path(tfile(b"lit\\012eral"), "literal-backslash-012")
map_path(tfile(b"fake (deleted)"), "fake-deleted")

mfd = os.memfd_create("capture", 0)
os.ftruncate(mfd, PAGE)
st = os.fstat(mfd)
addr = do_map(mfd, PAGE)
maps.append({"label": "memfd", "start": addr, "end": addr + PAGE, "offset": 0, "perms": "r--s",
             "path": b"/memfd:capture".hex(), "deleted": True,
             "dev_major": os.major(st.st_dev), "dev_minor": os.minor(st.st_dev), "ino": st.st_ino})
keep.append(mfd)

zfd = os.open("/dev/zero", os.O_RDONLY)
addr = do_map(zfd, PAGE)  # MAP_SHARED of the /dev/zero file itself
st = os.fstat(zfd)
maps.append({"label": "dev-zero", "start": addr, "end": addr + PAGE, "offset": 0, "perms": "r--s",
             "path": b"/dev/zero".hex(), "deleted": None,
             "dev_major": os.major(st.st_dev), "dev_minor": os.minor(st.st_dev), "ino": st.st_ino})
keep.append(zfd)

# MAP_SHARED|MAP_ANONYMOUS: shmem_zero_setup() backs it with an unlinked
# shmem file named "dev/zero".
MAP_ANONYMOUS = 0x20
addr = do_map(-1, PAGE, MAP_SHARED | MAP_ANONYMOUS)
maps.append({"label": "shared-anon", "start": addr, "end": addr + PAGE, "offset": 0, "perms": "r--s",
             "path": b"/dev/zero".hex(), "deleted": True})

libc.shmat.restype = ctypes.c_void_p
IPC_PRIVATE, IPC_CREAT, IPC_RMID, SHM_RDONLY = 0, 0o1000, 0, 0o10000
shmid = check(libc.shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0o600), "shmget")
addr = libc.shmat(shmid, None, SHM_RDONLY)
libc.shmctl(shmid, IPC_RMID, None)
maps.append({"label": "sysv-shm", "start": addr, "end": addr + PAGE, "offset": 0, "perms": "r--s",
             "path": b"/SYSV00000000".hex(), "deleted": True, "ino": shmid})

with open("/proc/self/maps", "rb") as f:
    text = f.read()
save("maps", text, {"uname": os.uname().release, "mappings": maps})

with open(os.path.join(OUT, "uname.txt"), "w") as f:
    f.write(os.uname().release + "\n")
print(f"captured {len(os.listdir(OUT))} files into {OUT} on {os.uname().release}")
