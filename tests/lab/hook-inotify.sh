#!/bin/bash
# hook-inotify.sh - CRIU + the ovlfix hook on an inotify watch on an overlay file.
# Runs as root inside the kernel lab (scripts/hook-e2e.sh: 6.1 guest, Debian's
# criu 3.17.1). It shows that
#   1. `criu dump` alone fails on the watch (the overlay's file handle cannot be
#      opened and irmap's hint scan does not find the file);
#   2. with `--action-script <ovlfix-hook>` and no other option the dump succeeds
#      (pre-dump wrote irmap-cache), `criu restore` succeeds, and the restored
#      process has the watch: its fdinfo has an inotify line for the file's inode,
#      and a write to the file wakes it.
# Prints PASS/FAIL lines; exits 1 when any check failed.
set -u
. "${LAB_SCRIPT_DIR:?}/lib.sh"
setup_hook

# holder: with an overlay on /tmp/ovl/merged (layers on a tmpfs at /tmp/ovl),
# one inotify watch (IN_MODIFY) on merged/lowerfile, a file
# only in the lower layer, and no other fd on it (so nothing hints the path);
# every event read is appended to /tmp/ovl/events.
cat >/tmp/holder.py <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
M = b"/tmp/ovl/merged"
os.setsid()
ifd = libc.inotify_init1(0)
wd = libc.inotify_add_watch(ifd, M + b"/lowerfile", 0x2)  # IN_MODIFY
assert ifd >= 0 and wd >= 0, os.strerror(ctypes.get_errno())
with open(sys.argv[1], "w") as p:
    p.write(str(os.getpid()))
while True:
    data = os.read(ifd, 4096)
    with open("/tmp/ovl/events", "a") as e:
        e.write("event %d bytes\n" % len(data))
PY

# The overlay lives in the lab's own mount namespace, as a host process's
# would: CRIU then dumps no mount namespace and restore reopens the paths in
# the same namespace. (With the holder in a private mount namespace CRIU
# 3.17.1 cannot restore without --root: "BUG at criu/mount.c:48" while
# cleaning the mount namespace.)
B=/tmp/ovl
mkdir -p $B && mount -t tmpfs -o size=16m ovlbase $B || { fail "tmpfs"; exit 1; }
fresh_overlay() {
	umount $B/merged 2>/dev/null
	rm -rf $B/lower $B/upper $B/work $B/events
	mkdir -p $B/lower $B/upper $B/work $B/merged
	echo lowerdata >$B/lower/lowerfile
	mount -t overlay overlay -o lowerdir=$B/lower,upperdir=$B/upper,workdir=$B/work $B/merged
}

start_holder() { # start_holder NAME: prints the holder's pid
	rm -f /tmp/pid.$1
	fresh_overlay || return 1
	python3 /tmp/holder.py /tmp/pid.$1 </dev/null >/dev/null 2>/tmp/holder.$1.err &
	wait_pidfile /tmp/pid.$1 || { cat /tmp/holder.$1.err >&2; return 1; }
}

step "1. criu dump alone"
pid=$(start_holder plain) || { fail "holder did not start"; exit 1; }
echo "holder pid $pid; its watch:"; grep inotify /proc/$pid/fdinfo/* | sed 's/^/   /'
D1=$OUT/inotify-plain; mkdir -p "$D1"
criu dump -t "$pid" -D "$D1" -v4 -o dump.log --enable-fs 9p; rc=$?
echo "criu dump exit: $rc"
criu_log_lines "$D1/dump.log" 12 | sed 's/^/   /'
check "criu dump without the hook fails (exit $rc)" [ "$rc" -ne 0 ]
check "CRIU says it cannot dump the handle" grep -q "Can't dump that handle" "$D1/dump.log"
check "the holder was resumed after the failed dump" kill -0 "$pid"
kill -9 "$pid" 2>/dev/null

step "2. criu dump --action-script ovlfix-hook"
pid=$(start_holder hook) || { fail "holder did not start"; exit 1; }
ino=$(stat -c %i $B/merged/lowerfile)
echo "holder pid $pid; lowerfile inode $ino; its watch:"; grep inotify /proc/$pid/fdinfo/* | sed 's/^/   /'
sdev=$(grep -h inotify /proc/$pid/fdinfo/* 2>/dev/null | sed -n 's/.* sdev:\([0-9a-f]*\) .*/\1/p' | head -1)
D2=$OUT/inotify-hook; mkdir -p "$D2"
criu dump -t "$pid" -D "$D2" -v4 -o dump.log --enable-fs 9p --action-script "$HOOK"; rc=$?
echo "criu dump exit: $rc"
criu_log_lines "$D2/dump.log" 40 | sed 's/^/   /'
check "criu dump with the hook succeeds" [ "$rc" -eq 0 ]
check "the hook wrote irmap-cache" test -s "$D2/irmap-cache"
echo "crit decode -i irmap-cache:"; crit decode -i "$D2/irmap-cache" | sed 's/^/   /'
check "irmap-cache has {dev: sdev 0x$sdev, inode: $ino, path: /tmp/ovl/merged/lowerfile}" \
	irmap_has "$D2/irmap-cache" "$((16#${sdev:-0}))" "$ino" /tmp/ovl/merged/lowerfile
check "CRIU used the cache entry" grep -q "Found /tmp/ovl/merged/lowerfile in cache" "$D2/dump.log"

step "3. criu restore"
criu restore -D "$D2" -d -v4 -o restore.log; rc=$?
echo "criu restore exit: $rc"
grep -E 'Error|inotify|Restoring .*watch|fsnotify' "$D2/restore.log" | head -12 | sed 's/^/   /'
check "criu restore succeeds" [ "$rc" -eq 0 ]
if [ "$rc" -eq 0 ]; then
	rino=$(stat -c %i $B/merged/lowerfile)
	echo "restored pid $pid; lowerfile inode $rino (before the dump: $ino); fdinfo:"
	grep -h inotify /proc/$pid/fdinfo/* | sed 's/^/   /'
	hexino=$(printf '%x' "$rino")
	check "the restored process has an inotify watch on lowerfile (ino:$hexino)" grep -qh "inotify wd:.* ino:$hexino " /proc/$pid/fdinfo/*
	echo more >>$B/merged/lowerfile
	for _ in $(seq 50); do [ -s $B/events ] && break; sleep 0.1; done
	echo "events seen by the restored process:"; sed 's/^/   /' $B/events 2>/dev/null
	check "a write to lowerfile wakes the restored watch" test -s $B/events
	kill -9 "$pid" 2>/dev/null
fi
echo
[ "$FAILED" -eq 0 ] && echo "hook-inotify: all checks passed" || echo "hook-inotify: some checks FAILED"
exit $FAILED
