#!/bin/bash
# make-images.sh - produce the real CRIU images under testdata/criu/ (see README.md there).
#
# Run from the repo root on the host:
#   OUT=$(mktemp -d /var/tmp/criu-img.XXXXXX)
#   /work/shared/lab/run-kernel.sh -s "$OUT" testdata/criu/make-images.sh 6.1
# It runs inside the lab's Debian 6.1 guest as root and leaves, under $LAB_SHARE:
#   basic/    dump of a holder with fds, cwd and an mmap on an overlay (its own mount ns)
#   rawname/  the same holder, plus an fd on a file whose name is not valid UTF-8
#   inotify/  a failed dump of an inotify watch on an overlay file (dump.log only)
#   irmap/    pre-dump of that watch with --irmap-scan-path (writes an irmap-cache image)
# Only small images are copied into the repo (never pages-*.img).
set -u
OUT=${LAB_SHARE:?run me with run-kernel.sh}
echo "kernel: $(uname -r)"
criu --version | head -1

# holder: runs in its own mount namespace, builds an overlay on a tmpfs at /tmp/ovl,
# opens files on it, chdirs into it, mmaps a lower file, optionally adds an inotify watch,
# writes its pid to $2 and sleeps.
cat >/tmp/holder.py <<'PY'
import ctypes, mmap, os, signal, sys
mode, pidfile = sys.argv[1], sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
B = b"/tmp/ovl"
M = B + b"/merged"
keep = []
os.setsid()
keep.append(os.open(M + b"/lowerfile", os.O_RDONLY))                       # lower-only, read
keep.append(os.open(M + b"/upperfile", os.O_RDWR | os.O_APPEND))           # upper, write
keep.append(os.open(M + b"/dir/we ird\nname", os.O_RDONLY | os.O_CLOEXEC)) # space + newline
if mode == "rawname":
    keep.append(os.open(M + b"/dir/raw\xff\xfename", os.O_RDONLY))         # not UTF-8
f = os.open(M + b"/dir/mapped.bin", os.O_RDONLY)
keep.append(mmap.mmap(f, 0, mmap.MAP_SHARED, mmap.PROT_READ))
os.close(f)                                                                 # mapping only
if mode == "inotify":
    ifd = libc.inotify_init1(0)
    wd = libc.inotify_add_watch(ifd, M + b"/lowerfile", 0x2)               # IN_MODIFY
    assert ifd >= 0 and wd >= 0, os.strerror(ctypes.get_errno())
    keep.append(ifd)
os.chdir(M + b"/dir")
with open(pidfile, "w") as p:
    p.write(str(os.getpid()))
while True:
    signal.pause()
PY

# start MODE: start a holder in a private mount namespace; prints its pid
start() {
	rm -f /tmp/pid.$1
	unshare -m --propagation private sh -c '
		B=/tmp/ovl
		mkdir -p $B && mount -t tmpfs -o size=16m ovlbase $B &&
		mkdir -p $B/lower/dir $B/upper $B/work $B/merged || exit 1
		echo lowerdata >$B/lower/lowerfile
		echo upperdata >$B/upper/upperfile
		echo weird >"$B/lower/dir/we ird
name"
		printf raw >"$(printf "$B/lower/dir/raw\377\376name")"
		head -c 8192 /dev/zero >$B/lower/dir/mapped.bin
		mount -t overlay overlay -o lowerdir=$B/lower,upperdir=$B/upper,workdir=$B/work $B/merged || exit 1
		# reopen stdio inside the new namespace: fds opened before unshare name mounts
		# of the lab namespace, which CRIU cannot find in the dumped one
		exec python3 /tmp/holder.py "$0" "/tmp/pid.$0" </dev/null >/dev/null 2>$B/holder.err
		' "$1" </dev/null >/dev/null 2>/tmp/holder.$1.err &
	for _ in $(seq 100); do [ -s /tmp/pid.$1 ] && break; sleep 0.1; done
	cat /tmp/pid.$1 || { cat /tmp/holder.$1.err >&2; exit 1; }
}

# dump MODE DIR [criu options]: dump a holder of MODE into $OUT/DIR
dump() {
	local mode=$1 dir=$OUT/$2; shift 2
	local pid; pid=$(start "$mode")
	mkdir -p "$dir"
	echo "== $mode pid $pid: criu $*"
	grep -E ' /tmp/ovl' /proc/$pid/mountinfo
	ls -l /proc/$pid/fd /proc/$pid/cwd | sed 's/^/   /'
	criu "$@" -t "$pid" -D "$dir" -v4 -o dump.log --enable-fs 9p
	echo "criu exit: $?"
	kill -9 "$pid" 2>/dev/null
	ls -l "$dir"
}

dump basic basic dump
dump rawname rawname dump
dump inotify inotify dump
grep -E 'Error|cannot|Can.t' "$OUT/inotify/dump.log" | head -20
dump inotify irmap pre-dump --irmap-scan-path /tmp/ovl/merged
exit 0
