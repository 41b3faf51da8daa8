#!/bin/bash
# hook-podman.sh - Podman 4.3.1 (runtime runc 1.1.5) + Debian's CRIU 3.17.1
# + the ovlfix RPC proxy, in the kernel lab (scripts/hook-e2e.sh: a 6.1
# guest). Podman finds CRIU as the first `criu` in PATH (so does runc, which
# Podman starts with its environment): a symlink named `criu` to ovlfix first
# in PATH makes both run the proxy, which runs the first `criu` in PATH that
# is not ovlfix (/usr/sbin/criu). One boot shows
#   1. `podman container checkpoint` with CRIU 3.17.1 alone fails on the
#      inotify watch of the container of tests/runc ("Can't dump that handle");
#   2. with the `criu` symlink first in PATH it succeeds, the hook ran once
#      per action, and `podman container restore` gives back a container
#      whose watch fires on a write to the lower file (Podman mounts a fresh
#      overlay for the restore).
# Storage: --root/--runroot under /tmp, the image imported from a tar made
# here (`podman import`, no network), a writable copy of /etc bind-mounted
# over the read-only one (Podman writes lock and cache files there).
# Prints PASS/FAIL lines; exits 1 when any check failed.
set -u
. "${LAB_SCRIPT_DIR:?}/lib.sh"
setup_hook
export PATH=/usr/sbin:/usr/bin:/sbin:/bin # Debian's criu 3.17.1 is the `criu` in PATH
echo "podman: $(podman --version); runc: $(runc --version | head -1)"
WATCHER=$OUT/watcher
[ -x "$WATCHER" ] || { fail "no static watcher at $WATCHER (scripts/hook-e2e.sh builds it)"; exit 1; }
mkdir -p /tmp/pbin && ln -sf "$OVLFIX" /tmp/pbin/criu # the name makes ovlfix run the proxy
cp -a /etc /tmp/etc && mount --bind /tmp/etc /etc || { fail "writable /etc"; exit 1; }
P=(podman --root /tmp/pm/root --runroot /tmp/pm/run --tmpdir /tmp/pm/tmp --storage-driver overlay
	--cgroup-manager cgroupfs --runtime runc --events-backend file)
# The image: the lab's static busybox, the static watcher, /lowerfile.
r=/tmp/img
mkdir -p $r/bin $r/dev $r/proc $r/sys $r/tmp $r/etc
cp /run/lab/busybox $r/bin/busybox && ln -s busybox $r/bin/sh && cp "$WATCHER" $r/bin/watcher
echo lower >$r/lowerfile
tar -C $r --owner=0 --group=0 -cf /tmp/img.tar . || { fail "image tar"; exit 1; }
step "0. podman import + run -d"
"${P[@]}" import -q /tmp/img.tar localhost/watcher:latest >/dev/null || { fail "podman import"; exit 1; }
"${P[@]}" run -d -q --name w --network none --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
	localhost/watcher:latest /bin/watcher /lowerfile /tmp/events >/dev/null 2>/tmp/run.err ||
	{ sed 's/^/   /' /tmp/run.err; fail "podman run"; exit 1; }
upper=$("${P[@]}" inspect -f '{{.GraphDriver.Data.UpperDir}}' w)
wait_events() { # WORD N: until the watcher's log has N lines starting with WORD
	for _ in $(seq 200); do [ "$(grep -c "^$1 " $upper/tmp/events 2>/dev/null)" -ge "$2" ] && return 0; sleep 0.1; done
	return 1
}
check "the watcher got ready" wait_events ready 1
pid=$("${P[@]}" inspect -f '{{.State.Pid}}' w)
echo "container w: pid $pid, upperdir $upper; its watch:"; grep -h inotify /proc/$pid/fdinfo/* | sed 's/^/   /'
dumplog() { find /tmp/pm/root/overlay-containers -name "$1" | head -1; }

step "1. podman container checkpoint (CRIU 3.17.1 alone)"
"${P[@]}" container checkpoint --keep w >/tmp/ck1.out 2>&1; rc=$?
echo "podman container checkpoint exit $rc:"; tail -3 /tmp/ck1.out | sed 's/^/   /'
log=$(dumplog dump.log); cp "$log" $OUT/podman-plain-dump.log 2>/dev/null
grep -E 'Error|Can.t|cannot be opened' "$log" | grep -v 'Can.t stat' | head -6 | sed 's/^/   dump.log: /'
check "podman checkpoint with CRIU 3.17.1 alone fails (exit $rc)" [ "$rc" -ne 0 ]
check "CRIU 3.17.1 says: $(grep -m1 -o "Can't dump that handle" "$log")" grep -q "Can't dump that handle" "$log"
check "the container is still running" [ "$("${P[@]}" inspect -f '{{.State.Status}}' w)" = running ]

step "2. podman container checkpoint with /tmp/pbin/criu -> ovlfix first in PATH"
rm -f "$log"
PATH=/tmp/pbin:$PATH "${P[@]}" container checkpoint --keep w >/tmp/ck2.out 2>&1; rc=$?
echo "podman container checkpoint exit $rc:"; tail -3 /tmp/ck2.out | sed 's/^/   /'
log=$(dumplog dump.log); cp "$log" $OUT/podman-proxy-dump.log 2>/dev/null
grep -E 'ovlfix-hook: pre-dump|in cache|Error|Dumping finished' "$log" | head -10 | sed 's/^/   dump.log: /'
check "podman checkpoint through the proxy succeeds" [ "$rc" -eq 0 ]
check "CRIU found /lowerfile in the hook's irmap-cache" grep -q "Found /lowerfile in cache" "$log"
n=$(grep -c "ovlfix-hook: pre-dump: wrote irmap-cache" "$log")
check "the hook's pre-dump ran once ($n)" [ "$n" -eq 1 ]
n=$(grep -c "ovlfix-hook: post-dump: <images dir> is fd " "$log")
check "the hook's post-dump ran once ($n)" [ "$n" -eq 1 ]
check "the container is exited after the checkpoint" [ "$("${P[@]}" inspect -f '{{.State.Status}}' w)" = exited ]

step "3. podman container restore (proxy first in PATH)"
PATH=/tmp/pbin:$PATH "${P[@]}" container restore --keep w >/tmp/rs.out 2>&1; rc=$?
echo "podman container restore exit $rc:"; tail -3 /tmp/rs.out | sed 's/^/   /'
rlog=$(dumplog restore.log)
grep -E 'Error|path hint|Restore inotify|is restored' "$rlog" | head -8 | sed 's/^/   restore.log: /'
check "podman restore through the proxy succeeds" [ "$rc" -eq 0 ]
if [ "$rc" -eq 0 ]; then
	pid=$("${P[@]}" inspect -f '{{.State.Pid}}' w)
	upper=$("${P[@]}" inspect -f '{{.GraphDriver.Data.UpperDir}}' w)
	merged=$("${P[@]}" inspect -f '{{.GraphDriver.Data.MergedDir}}' w)
	echo "restored pid $pid; its watch:"; grep -h inotify /proc/$pid/fdinfo/* | sed 's/^/   /'
	check "the restored watcher holds an inotify watch" grep -qh "^inotify wd:" /proc/$pid/fdinfo/*
	before=$(grep -c '^event ' $upper/tmp/events)
	"${P[@]}" exec w /bin/sh -c 'echo more >>/lowerfile' || echo more >>"$merged/lowerfile"
	check "a write to /lowerfile wakes the restored watch" wait_events event $((before + 1))
	echo "events: $(tr '\n' ' ' <$upper/tmp/events)"
fi
"${P[@]}" rm -f -a >/dev/null 2>&1
echo
[ "$FAILED" -eq 0 ] && echo "hook-podman: all checks passed" || echo "hook-podman: some checks FAILED"
exit $FAILED
