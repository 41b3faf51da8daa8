#!/bin/bash
# hook-runc.sh - runc 1.1.5 + Debian's CRIU 3.17.1 + the ovlfix RPC proxy
# (`ovlfix-criu`) on the inotify container of tests/runc, in the kernel lab
# (scripts/hook-e2e.sh: a 6.1 guest). One boot shows
#   1. `runc --criu /usr/sbin/criu checkpoint` alone fails on the watch (the
#      overlay's file handle cannot be opened: "Can't dump that handle");
#   2. `runc --criu ovlfix-criu checkpoint` (OVLFIX_REAL_CRIU=/usr/sbin/criu)
#      succeeds, the hook's pre-dump and post-dump ran once each, and
#      `runc --criu ovlfix-criu restore -d` gives back a container whose
#      watch fires on a write to the lower file (runc containers have their
#      own mount namespace: the irmap-cache path must resolve in it);
#   3. the config route: the same container with the hook named in a CRIU
#      config file (annotation org.criu.config; /etc is read-only in the
#      guest) makes CRIU 3.17.1 abort the checkpoint (BUG at
#      criu/action-scripts.c), and `ovlfix hook install --dry-run --runtime
#      runc --criu /usr/sbin/criu` picks the proxy and names that reason;
#   4. why a restore into a fresh root failed in make-archive-317.sh (B'):
#      the restored task's root had no /proc, not a wrong path hint (step 6).
# The container: a bundle whose rootfs is an overlay (lower: the lab's static
# busybox, the static watcher that hook-e2e.sh built into the share from
# tests/runc/testdata/watcher.c, /lowerfile), runc state under /tmp.
# Prints PASS/FAIL lines; exits 1 when any check failed.
set -u
. "${LAB_SCRIPT_DIR:?}/lib.sh"
setup_hook
runc --version | head -1
WATCHER=$OUT/watcher
[ -x "$WATCHER" ] || { fail "no static watcher at $WATCHER (scripts/hook-e2e.sh builds it)"; exit 1; }
REAL=/usr/sbin/criu
ln -sf "$OVLFIX" /tmp/bin/ovlfix-criu # the name makes ovlfix run `criu` (the proxy)
PROXY=/tmp/bin/ovlfix-criu
C=/tmp/ctr
mkdir -p $C && mount -t tmpfs -o size=64m ctr $C || { fail "tmpfs $C"; exit 1; }
R=$C/runc-root

# new_container NAME [ANNOTATION-CONFIG-FILE]: a fresh overlay rootfs and
# bundle in $C/NAME (config.json from `runc spec`: the watcher as the
# process, no terminal, a writable root).
new_container() {
	local b=$C/$1
	mkdir -p $b/lower/bin $b/lower/dev $b/lower/proc $b/lower/sys $b/lower/tmp $b/upper $b/work $b/bundle/rootfs
	cp /run/lab/busybox $b/lower/bin/busybox && ln -s busybox $b/lower/bin/sh && cp "$WATCHER" $b/lower/bin/watcher
	echo lower >$b/lower/lowerfile
	mount -t overlay overlay -o lowerdir=$b/lower,upperdir=$b/upper,workdir=$b/work $b/bundle/rootfs || return 1
	(cd $b/bundle && runc spec) || return 1
	python3 - $b/bundle/config.json "${2:-}" <<'PY' || return 1
import json, sys
p, conf = sys.argv[1], sys.argv[2]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/watcher", "/lowerfile", "/tmp/events"]
c["root"]["readonly"] = False
if conf:
    c.setdefault("annotations", {})["org.criu.config"] = conf
json.dump(c, open(p, "w"), indent=1)
PY
}
# rc_ [--criu X] ARGS...: runc with our --root, stdio /dev/null, stderr to $C/runc.err
rc_() { runc --root $R "$@" </dev/null >/dev/null 2>$C/runc.err; }
# wait_events NAME WORD N: until the watcher's log has N lines starting with WORD
wait_events() {
	for _ in $(seq 200); do [ "$(grep -c "^$2 " $C/$1/upper/tmp/events 2>/dev/null)" -ge "$3" ] && return 0; sleep 0.1; done
	return 1
}
state() { runc --root $R state "$1" 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["status"], d["pid"])' 2>/dev/null; }
# count FILE TEXT: how many lines of FILE hold TEXT
count() { grep -cF -- "$2" "$1" 2>/dev/null; }

step "0. runc run -d (container a: overlay rootfs, inotify watch on /lowerfile)"
new_container a || { fail "bundle a"; exit 1; }
rc_ run -d --bundle $C/a/bundle a || { sed 's/^/   /' $C/runc.err; fail "runc run -d"; exit 1; }
check "the watcher got ready" wait_events a ready 1
read -r st pid <<<"$(state a)"
echo "container a: $st, pid $pid; its watch:"; grep -h inotify /proc/$pid/fdinfo/* | sed 's/^/   /'

step "1. runc --criu /usr/sbin/criu checkpoint (CRIU 3.17.1 alone)"
I1=$OUT/runc-img-plain
rc_ --criu $REAL checkpoint --leave-running --image-path $I1 a; rc=$?
echo "runc checkpoint exit $rc; runc said:"; tail -3 $C/runc.err | sed 's/^/   /'
grep -E 'Error|Can.t|cannot be opened' $I1/dump.log | grep -v 'Can.t stat' | head -6 | sed 's/^/   dump.log: /'
check "runc checkpoint with CRIU 3.17.1 alone fails (exit $rc)" [ "$rc" -ne 0 ]
check "CRIU 3.17.1 says: $(grep -m1 -o "Can't dump that handle" $I1/dump.log)" grep -q "Can't dump that handle" $I1/dump.log
check "the container is still running" [ "$(state a | cut -d' ' -f1)" = running ]

step "2. runc --criu ovlfix-criu checkpoint (OVLFIX_REAL_CRIU=$REAL)"
I2=$OUT/runc-img-proxy
t0=$(date +%s.%N)
OVLFIX_REAL_CRIU=$REAL rc_ --criu $PROXY checkpoint --image-path $I2 a; rc=$?
echo "runc checkpoint exit $rc ($(awk -v a=$t0 -v b=$(date +%s.%N) 'BEGIN{printf "%.1fs", b-a}')); runc said:"; tail -3 $C/runc.err | sed 's/^/   /'
criu_log_lines $I2/dump.log 30 | sed 's/^/   dump.log: /'
check "runc checkpoint through the proxy succeeds" [ "$rc" -eq 0 ]
check "CRIU found /lowerfile in the hook's irmap-cache" grep -q "Found /lowerfile in cache" $I2/dump.log
n=$(count $I2/dump.log "ovlfix-hook: pre-dump: wrote irmap-cache")
check "the hook's pre-dump ran once ($n)" [ "$n" -eq 1 ]
n=$(count $I2/dump.log "ovlfix-hook: post-dump: <images dir> is fd ")
check "the hook's post-dump ran once ($n)" [ "$n" -eq 1 ]
check "the proxy's manifest is in the images dir" test -s $I2/ovlfix-manifest.json
echo "crit decode -i irmap-cache:"; crit decode -i $I2/irmap-cache 2>&1 | sed 's/^/   /'
check "the container is gone after the checkpoint" [ -z "$(state a)" ]

step "3. runc --criu ovlfix-criu restore -d"
OVLFIX_REAL_CRIU=$REAL rc_ --criu $PROXY restore -d --bundle $C/a/bundle --image-path $I2 a; rc=$?
echo "runc restore exit $rc; runc said:"; tail -3 $C/runc.err | sed 's/^/   /'
grep -E 'Error|fsnotify|path hint|[Ww]atch' $I2/restore.log | head -12 | sed 's/^/   restore.log: /'
check "runc restore through the proxy succeeds" [ "$rc" -eq 0 ]
if [ "$rc" -eq 0 ]; then
	read -r st pid <<<"$(state a)"
	echo "restored: $st, pid $pid; its watch:"; grep -h inotify /proc/$pid/fdinfo/* | sed 's/^/   /'
	check "the restored container is running" [ "$st" = running ]
	check "the restored watcher holds an inotify watch" grep -qh "^inotify wd:" /proc/$pid/fdinfo/*
	before=$(grep -c '^event ' $C/a/upper/tmp/events)
	echo more >>$C/a/bundle/rootfs/lowerfile
	check "a write to /lowerfile wakes the restored watch" wait_events a event $((before + 1))
	echo "events: $(tr '\n' ' ' <$C/a/upper/tmp/events)"
fi
rc_ delete -f a

step "4. the config route: action-script in the annotation's CRIU config file"
printf 'action-script %s\n' "$HOOK" >/tmp/criu-hook.conf
new_container b /tmp/criu-hook.conf || { fail "bundle b"; exit 1; }
rc_ run -d --bundle $C/b/bundle b || { sed 's/^/   /' $C/runc.err; fail "runc run -d b"; exit 1; }
check "the watcher of container b got ready" wait_events b ready 1
I3=$OUT/runc-img-config
rc_ --criu $REAL checkpoint --leave-running --image-path $I3 b; rc=$?
echo "runc checkpoint (org.criu.config=/tmp/criu-hook.conf: $(cat /tmp/criu-hook.conf)) exit $rc; runc said:"
tail -3 $C/runc.err | sed 's/^/   /'
grep -hE 'BUG|Error|action-script|ovlfix-hook' $I3/dump.log $C/runc.err 2>/dev/null | head -8 | sed 's/^/   /'
bug=$(grep -hom1 'BUG at [^ ]*' $I3/dump.log 2>/dev/null | head -1)
check "runc checkpoint with the hook in a config file fails on CRIU 3.17.1 (exit $rc)" [ "$rc" -ne 0 ]
check "CRIU 3.17.1 aborts: ${bug:-no BUG line}" [ "$bug" = "BUG at criu/action-scripts.c:172" ]
check "the hook never ran" [ "$(count $I3/dump.log 'ovlfix-hook:')" = 0 ]
rc_ delete -f b

step "5. ovlfix hook install --dry-run --runtime runc --criu $REAL"
$OVLFIX hook install --dry-run --runtime runc --criu $REAL >/tmp/install.out 2>&1; rc=$?
sed 's/^/   /' /tmp/install.out
check "install --dry-run exits 0 ($rc)" [ "$rc" -eq 0 ]
check "install picks the proxy on CRIU 3.17.1" grep -q '^CRIU 3.17.1 .*runtime runc: route proxy (works)' /tmp/install.out
check "install names the config route's reason (the BUG the run above hit)" grep -q 'other route config: breaks: .*BUG at criu/action-scripts.c:172' /tmp/install.out
step "6. why a restore into a fresh root failed (testdata/archives/README-3.17.1.md): /proc, not the path hint"
# The watcher in a "container" of its own (private mount namespace, root
# pivoted onto an overlay), dumped by criu --action-script <hook> and
# restored with --root into a fresh overlay of the same lower layer: once
# with no /proc mounted inside (as make-archive-317.sh B), once with one.
# CRIU (3.17.1 and 4.2 alike, criu/fsnotify.c get_mark_path) opens the
# hook's path hint from the root of the restored tree's mount namespace
# (mnt_id -1), then adds the watch on "/proc/self/fd/N", which the restored
# task resolves in its own root.
pivot_holder() { # pivot_holder NAME PROC(0|1): prints the watcher's pid
	local b=$C/$1
	mkdir -p $b/lower/bin $b/lower/proc $b/lower/tmp $b/lower/old $b/upper $b/work $b/rootfs
	cp /run/lab/busybox $b/lower/bin/busybox && cp "$WATCHER" $b/lower/bin/watcher && echo lower >$b/lower/lowerfile
	setsid unshare -m --propagation private /bin/sh -c '
		b=$0 proc=$1
		mount -t overlay overlay -o lowerdir=$b/lower,upperdir=$b/upper,workdir=$b/work $b/rootfs || exit 1
		cd $b/rootfs && pivot_root . old || exit 1
		[ "$proc" = 1 ] && { /bin/busybox mount -t proc proc /proc || exit 1; }
		exec /bin/busybox sh -c "/bin/busybox umount -l /old && exec /bin/watcher /lowerfile /tmp/events"
		' $b $2 </dev/null >/dev/null 2>&1 &
	local pid=$!
	for _ in $(seq 100); do [ -s $b/upper/tmp/events ] && break; sleep 0.1; done
	[ -s $b/upper/tmp/events ] && echo $pid
}
# fresh_root NAME: a second overlay of NAME's lower layer, for the restore
fresh_root() {
	local b=$C/$1
	mkdir -p $b/upper2 $b/work2 $b/root2 &&
		mount -t overlay overlay -o lowerdir=$b/lower,upperdir=$b/upper2,workdir=$b/work2 $b/root2
}
for proc in 0 1; do
	name=pivot$proc what=$([ $proc = 1 ] && echo "with /proc mounted inside" || echo "no /proc inside")
	pid=$(pivot_holder $name $proc) || { fail "pivoted watcher ($what) did not start"; continue; }
	I=$OUT/$name; mkdir -p $I
	criu dump -t $pid -D $I -v4 -o dump.log --action-script "$HOOK"; rc=$?
	echo "criu dump --action-script ovlfix-hook ($what): exit $rc"
	check "criu dump of the pivoted watcher ($what) succeeds" [ "$rc" -eq 0 ]
	[ "$rc" -eq 0 ] || { criu_log_lines $I/dump.log 10 | sed 's/^/   /'; continue; }
	echo "   irmap-cache: $(crit decode -i $I/irmap-cache 2>&1)"
	fresh_root $name || { fail "fresh overlay for $name"; continue; }
	criu restore -D $I --root $C/$name/root2 -d -v4 -o restore.log; rc=$?
	echo "criu restore --root <fresh overlay> -d ($what): exit $rc"
	grep -E 'Error|path hint|Restore inotify|is restored' $I/restore.log | head -8 | sed 's/^/   restore.log: /'
	if [ $proc = 0 ]; then
		check "without /proc in the restored root the restore fails ($rc)" [ "$rc" -ne 0 ]
		check "CRIU opened the path hint (no 'Unable to open'), then could not add the watch on /proc/self/fd/N" \
			sh -c "! grep -q 'fsnotify.*Unable to open' $I/restore.log && grep -q \"Can't add watch .*No such file or directory\" $I/restore.log"
	else
		check "with /proc in the restored root the restore succeeds ($rc)" [ "$rc" -eq 0 ]
		if [ "$rc" -eq 0 ]; then
			before=$(grep -c '^event ' $C/$name/upper2/tmp/events 2>/dev/null)
			echo more >>$C/$name/root2/lowerfile
			for _ in $(seq 100); do [ "$(grep -c '^event ' $C/$name/upper2/tmp/events 2>/dev/null)" -gt "${before:-0}" ] && break; sleep 0.1; done
			check "a write to the fresh root's /lowerfile wakes the restored watch" grep -q '^event ' $C/$name/upper2/tmp/events
			kill -9 "$pid" 2>/dev/null # CRIU restores the pid
		fi
	fi
done

echo
[ "$FAILED" -eq 0 ] && echo "hook-runc: all checks passed" || echo "hook-runc: some checks FAILED"
exit $FAILED
