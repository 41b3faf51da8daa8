#!/bin/bash
# make-archive-317.sh - makes the checkpoint-archive fixtures of Debian's CRIU
# 3.17.1 inside the kernel lab (a Debian 6.1 guest under qemu). Run it through
# scripts/make-archive-fixtures-lab.sh, which builds the holder
# (testdata/archives/criu-3.17.1-holder.c) and the image's rootfs tar into the
# share ($LAB_SHARE/rootfs.tar) and copies the results into testdata/archives.
#
# A. podman: Podman 4.3.1 + runc 1.1.5 + /usr/sbin/criu 3.17.1 run the holder
#    as a container (storage on the guest's tmpfs) and `podman container
#    checkpoint --export` writes $OUT/criu-3.17.1-lab-6.1.tar.zst: Podman's
#    own archive. No ovlfix hook in it: runc drives CRIU over RPC with
#    notify_scripts, and CRIU 3.17.1 BUG_ONs (add_rpc_notify/add_script,
#    criu/action-scripts.c) when an action script is also configured; so no
#    inotify watch either (3.17.1 cannot dump one on an overlay without the
#    hook). The only CRIU option, link-remap (for the unlinked file), comes
#    from a config file named by the org.criu.config annotation. The archive
#    is then restored with `podman container restore --import` (reported, not
#    required).
# B. plain criu: the same holder, with the inotify watch, as a "container"
#    (private mount namespace, root pivoted onto a real overlay), dumped by
#    `criu dump --action-script <ovlfix hook>`; this script then packs the
#    images dir and the overlay's upperdir in Podman's *layout*
#    ($OUT/criu-3.17.1-lab-6.1-hook.tar.zst): checkpoint/ (CRIU's images and
#    the files the hook wrote), rootfs-diff.tar (every regular file of the
#    upperdir: added and copied-up), deleted.files (the whiteouts),
#    config.dump/spec.dump (minimal JSON that says this script made them).
#    It is not Podman's export.
# Prints what it did (versions, timings, tar -t, crit decode of files.img);
# exits 1 when an archive could not be made.
set -u
OUT=${LAB_SHARE:?run me with run-kernel.sh (scripts/make-archive-fixtures-lab.sh)}
OVLFIX=${OVLFIX:-$OUT/ovlfix}
ROOTFS_TAR=$OUT/rootfs.tar
export PATH=/usr/sbin:/usr/bin:/sbin:/bin # Debian's criu 3.17.1 first
FAILED=0
fail() { echo "FAIL: $*"; FAILED=1; }
step() { echo; echo "== $*"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
# The holders must not inherit this script's fds (CRIU dumps what they hold).
for fd in $(ls /proc/$$/fd); do
	[ "$fd" -gt 2 ] && [ "$fd" -ne 255 ] && eval "exec $fd>&-"
done

# files_img FILE: the REG/INOTIFY entries of a files.img, as Debian's crit decodes them
files_img() {
	crit decode -i "$1" | python3 -c '
import json, sys
for e in json.load(sys.stdin)["entries"]:
    r = e.get("reg")
    if r:
        print("   id %s reg name %r size %s mode %s flags %s mnt_id %s" % (e["id"], r["name"], r.get("size"), oct(r.get("mode", 0)), r.get("flags"), r.get("mnt_id")))
    elif e.get("type") == "INOTIFY":
        w = e["ify"].get("wd", [])
        print("   id %s inotify watches %s" % (e["id"], [(x["i_ino"], x["mask"]) for x in w]))'
}
# describe ARCHIVE: members, sizes, and what crit decodes in it
describe() {
	local a=$1 x=/tmp/describe.$$
	echo "archive $(basename "$a"): $(stat -c %s "$a") bytes ($(file -b "$a" 2>/dev/null | cut -d, -f1))"
	echo "tar --zstd -tvf:"; tar --zstd -tvf "$a" | sed 's/^/   /'
	rm -rf $x; mkdir -p $x && tar --zstd -xf "$a" -C $x || { fail "extract $a"; return; }
	echo "rootfs-diff.tar:"; tar -tvf $x/rootfs-diff.tar 2>&1 | sed 's/^/   /'
	echo "deleted.files: $(cat $x/deleted.files 2>&1)"
	echo "crit decode -i checkpoint/files.img (Debian's crit, criu 3.17.1):"
	files_img $x/checkpoint/files.img || fail "crit decode $a checkpoint/files.img"
	rm -rf $x
}

step "versions"
echo "date: $(date -u +%FT%TZ)"
echo "uname -r: $(uname -r)"
echo "criu --version: $(criu --version | tr '\n' ' ')"
echo "podman: $(podman --version); runc: $(runc --version | head -1)"
echo "tar: $(tar --version | head -1); zstd: $(zstd --version)"
[ -s "$ROOTFS_TAR" ] || { fail "no $ROOTFS_TAR (run scripts/make-archive-fixtures-lab.sh)"; exit 1; }

### A. Podman's own export
step "A. podman container checkpoint --export (CRIU 3.17.1, no hook)"
A=$OUT/criu-3.17.1-lab-6.1.tar.zst
rm -f "$A"
# Podman writes lock and cache files under /etc and /var/cache: a writable
# copy of /etc, and fully qualified image names (no short-name cache).
cp -a /etc /tmp/etc && mount --bind /tmp/etc /etc
printf 'link-remap\n' >/tmp/criu-317.conf
P=(podman --root /tmp/pm/root --runroot /tmp/pm/run --tmpdir /tmp/pm/tmp --storage-driver overlay
	--cgroup-manager cgroupfs --runtime runc --events-backend file)
t=$(now)
if "${P[@]}" import -q "$ROOTFS_TAR" localhost/lab317:latest >/dev/null &&
	"${P[@]}" run -d -q --name c317 --network none --annotation org.criu.config=/tmp/criu-317.conf \
		--ulimit nofile=4096:4096 --ulimit nproc=4096:4096 localhost/lab317:latest /bin/holder >/dev/null; then
	for _ in $(seq 120); do "${P[@]}" exec c317 /bin/busybox test -e /ready 2>/dev/null && break; sleep 0.5; done
	pid=$("${P[@]}" inspect -f '{{.State.Pid}}' c317)
	upper=$("${P[@]}" inspect -f '{{.GraphDriver.Data.UpperDir}}' c317)
	echo "import + run: $(since $t); container pid $pid; its fds:"
	ls -l /proc/$pid/fd | sed -n 's/^.* \([0-9]* -> .*\)$/   \1/p'
	echo "upperdir:"; (cd "$upper" && find . -mindepth 1 -exec ls -ld {} + | sed 's/^/   /')
	t=$(now)
	"${P[@]}" container checkpoint --export "$A" --compress zstd --keep --print-stats c317 >/tmp/stats.json
	rc=$?
	echo "podman container checkpoint --export $(basename "$A") --compress zstd: exit $rc, $(since $t)"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("   podman --print-stats:", json.dumps(d))' /tmp/stats.json 2>/dev/null
	log=$(find /tmp/pm/root/overlay-containers -name dump.log | head -1)
	cp "$log" $OUT/dump-podman.log
	grep -E 'Error|link remap|link-remap|ghost|Dumping finished' "$log" | head -12 | sed 's/^/   dump.log: /'
	if [ "$rc" -eq 0 ] && [ -s "$A" ]; then
		describe "$A"
		step "A'. podman container restore --import (informational)"
		t=$(now)
		"${P[@]}" container restore --import "$A" --name c317r >/tmp/restore.out 2>&1
		rc=$?
		echo "podman container restore --import: exit $rc, $(since $t)"
		sed 's/^/   /' /tmp/restore.out | head -8
		rlog=$(find /tmp/pm/root/overlay-containers -name restore.log | head -1)
		[ -n "$rlog" ] && grep -E 'Error|bad size|bad mode|ghost' "$rlog" | head -8 | sed 's/^/   restore.log: /'
		if [ "$rc" -eq 0 ]; then
			rpid=$("${P[@]}" inspect -f '{{.State.Pid}}' c317r)
			echo "restored pid $rpid; fds:"; ls -l /proc/$rpid/fd | sed -n 's/^.* \([0-9]* -> .*\)$/   \1/p'
		fi
	else
		fail "podman checkpoint --export"
	fi
	"${P[@]}" rm -f -a >/dev/null 2>&1
else
	fail "podman import/run"
fi

### B. plain criu dump with the hook, packed in Podman's layout
# restore_b ARCHIVE: restores archive B the way Podman would (informational):
# a fresh overlay on the image's layer, rootfs-diff.tar extracted into it and
# deleted.files removed from it, then criu restore --root of that merged dir.
restore_b() {
	local x=/tmp/rb rc
	step "B'. criu restore --root of archive B applied to a fresh overlay (informational)"
	mkdir -p $x && mount -t tmpfs -o size=32m rb $x && mkdir -p $x/arch $x/upper $x/work $x/root
	tar --zstd -xf "$1" -C $x/arch &&
		mount -t overlay overlay -o lowerdir=$C/lower,upperdir=$x/upper,workdir=$x/work $x/root &&
		tar -xf $x/arch/rootfs-diff.tar -C $x/root &&
		python3 -c 'import json,os,sys; [os.unlink(sys.argv[1] + p) for p in json.load(open(sys.argv[2]))]' $x/root $x/arch/deleted.files ||
		{ echo "could not apply archive B to a fresh overlay"; return; }
	local t=$(now)
	criu restore -D $x/arch/checkpoint --root $x/root -d -v4 -o /tmp/restore-hook.log; rc=$?
	echo "criu restore -D checkpoint --root <fresh overlay + rootfs-diff.tar - deleted.files> -d: exit $rc, $(since $t)"
	grep -E 'Error|bad size|path hint|Restore .*watch' /tmp/restore-hook.log | head -10 | sed 's/^/   restore.log: /'
	if [ "$rc" -eq 0 ]; then
		local r=$(cut -d' ' -f1 $x/root/ready)
		echo "restored pid $r; fds:"; ls -l /proc/$r/fd | sed -n 's/^.* \([0-9]* -> .*\)$/   \1/p'
		grep -h inotify /proc/$r/fdinfo/* | sed 's/^/   /'
		kill -9 "$r" "$(cut -d' ' -f2 $x/root/ready)" 2>/dev/null
	fi
}
step "B. criu dump --action-script <ovlfix hook> of the holder on a real overlay (packed by this script)"
B=$OUT/criu-3.17.1-lab-6.1-hook.tar.zst
rm -f "$B"
[ -x "$OVLFIX" ] || { fail "no ovlfix binary at $OVLFIX"; exit 1; }
mkdir -p /tmp/bin && ln -sf "$OVLFIX" /tmp/bin/ovlfix-hook # the name makes ovlfix run `hook`
echo "ovlfix: built from commit ${OVLFIX_REV:-unknown} (scripts/make-archive-fixtures-lab.sh)"
C=/tmp/ctr
mkdir -p $C && mount -t tmpfs -o size=64m ctr $C
mkdir -p $C/lower $C/upper $C/work $C/rootfs && tar -xf "$ROOTFS_TAR" -C $C/lower && mkdir -p $C/lower/old
t=$(now)
setsid unshare -m --propagation private /bin/sh -c '
	C=$0
	mount -t overlay overlay -o lowerdir=$C/lower,upperdir=$C/upper,workdir=$C/work $C/rootfs || exit 1
	cd $C/rootfs && pivot_root . old && exec /bin/busybox sh -c "/bin/busybox umount -l /old && exec /bin/holder watch"
	' $C </dev/null >/tmp/ctr.out 2>&1 &
ctr=$!
disown $ctr # the dump kills it: no "Killed" notice from this shell
for _ in $(seq 100); do [ -s $C/upper/ready ] && break; sleep 0.1; done
[ -s $C/upper/ready ] || { cat /tmp/ctr.out; fail "holder did not start"; exit 1; }
echo "holder pid $ctr (ready: $(cat $C/upper/ready)); its fds:"
ls -l /proc/$ctr/fd | sed -n 's/^.* \([0-9]* -> .*\)$/   \1/p'
grep -h inotify /proc/$ctr/fdinfo/* | sed 's/^/   /'
echo "upperdir:"; (cd $C/upper && find . -mindepth 1 -exec ls -ld {} + | sed 's/^/   /')
W=/tmp/pack
rm -rf $W && mkdir -p $W/checkpoint
t=$(now)
criu dump -t "$ctr" -D $W/checkpoint -v4 -o /tmp/dump-hook.log --link-remap --action-script /tmp/bin/ovlfix-hook
rc=$?
echo "criu dump -t $ctr -D checkpoint -v4 -o dump.log --link-remap --action-script ovlfix-hook: exit $rc, $(since $t)"
grep -E 'ovlfix|Error|irmap.*cache|in cache|ghost|Dumping finished' /tmp/dump-hook.log | grep -v 'Refresh stat' | head -20 | sed 's/^/   dump.log: /'
cp /tmp/dump-hook.log $OUT/dump-hook.log
if [ "$rc" -eq 0 ]; then
	# rootfs-diff.tar: every regular file of the upperdir (Podman names them
	# relative to the root, no directory members); deleted.files: whiteouts.
	(cd $C/upper && find . -type f | sed 's#^\./##' | sort >/tmp/added)
	(cd $C/upper && tar --owner=0 --group=0 --numeric-owner -cf $W/rootfs-diff.tar -T /tmp/added)
	(cd $C/upper && find . -type c | sed 's#^\.##' | sort) | python3 -c 'import json,sys; print(json.dumps([l.strip() for l in sys.stdin if l.strip()], indent=2))' >$W/deleted.files
	made="tests/lab/make-archive-317.sh (ovlfix): a plain criu dump packed in Podman's layout, not written by Podman"
	now_iso=$(date -u +%FT%TZ)
	python3 - "$made" "$now_iso" "$(uname -r)" "$(criu --version | head -1)" >$W/config.dump <<'PY'
import json, sys
made, now, kernel, criu = sys.argv[1:5]
print(json.dumps({"id": "criu-3.17.1-lab-6.1-hook", "name": "holder", "rootfsImageName": "localhost/lab317:latest",
	"runtime": "none (criu dump --action-script ovlfix-hook)", "createdTime": now, "checkpointedTime": now,
	"madeBy": made, "criuVersion": criu, "kernel": kernel}, indent=2))
PY
	python3 - "$made" >$W/spec.dump <<'PY'
import json, sys
print(json.dumps({"ociVersion": "1.0.2", "process": {"args": ["/bin/holder", "watch"], "cwd": "/data"},
	"root": {"path": "rootfs"}, "annotations": {"ovlfix.madeBy": sys.argv[1]}}, indent=2))
PY
	mv $W/checkpoint/stats-dump $W/stats-dump # Podman moves it out of checkpoint/ too
	(cd $W && tar --owner=0 --group=0 --numeric-owner --sort=name --zstd -cf "$B" \
		checkpoint rootfs-diff.tar deleted.files stats-dump config.dump spec.dump)
	describe "$B"
	echo "checkpoint/ files the hook wrote:"; ls -l $W/checkpoint | grep -iE 'ovlfix|irmap' | sed 's/^/   /'
	[ -s $W/checkpoint/irmap-cache ] && { echo "crit decode -i checkpoint/irmap-cache:"; crit decode -i $W/checkpoint/irmap-cache | sed 's/^/   /'; }
	restore_b "$B"
else
	fail "criu dump with the hook"
fi
kill -9 "$ctr" 2>/dev/null
echo
[ "$FAILED" -eq 0 ] && echo "make-archive-317: archives made" || echo "make-archive-317: FAILED"
exit $FAILED
