#!/bin/bash
# hook-nested.sh - CRIU + the ovlfix hook on a container-like process.
# Runs as root inside the kernel lab (scripts/hook-e2e.sh: 6.1 guest, Debian's
# criu 3.17.1). The "container": its own mount namespace, pivot_root into an
# overlay A (lower/upper on the lab's /tmp), the old root lazily unmounted,
# then an overlay B on /data whose lower (/mnt/lo) and upper (/mnt/up) are two
# different tmpfs (xino=off), and a static busybox shell holding fd 3 on
# /data/lowerfile (a lower-only file). It shows that
#   1. CRIU 3.17.1's files.img gives the fd the mnt_id of A (the root overlay),
#      although fdinfo says B (kernel-quirks.md §13), decoded with crit;
#   2. `ovlfix fixup --dry-run` prints the mnt_id change and writes nothing
#      (the images directory's checksum is unchanged);
#   3. with `--action-script <ovlfix-hook>` the dump comes out repaired (crit
#      shows B's mnt_id; files.img.ovlfix-orig and ovlfix-fixup.json are there);
#   4. `criu restore --root` of the repaired dump succeeds and the restored fd
#      is /data/lowerfile on /data's mount. CRIU 3.17.1 mounts overlay B with its
#      options verbatim (lowerdir=/mnt/lo,...) resolved in CRIU's own mount
#      namespace, not the container's, so a plain restore fails with
#      "Unable to mount overlay ... (id=38): No such file or directory"
#      whatever ovlfix does; the script shows that error, then retries with
#      those paths present (same content) in a private namespace of CRIU's.
# Prints PASS/FAIL lines; exits 1 when any check failed.
set -u
. "${LAB_SCRIPT_DIR:?}/lib.sh"
setup_hook
BB=/run/lab/busybox
C=/tmp/ct

# The root filesystem of the container: overlay A's lower layer.
mkdir -p $C/a-lower/bin $C/a-lower/data $C/a-lower/mnt/lo $C/a-lower/mnt/up $C/a-lower/old $C/a-upper $C/a-work $C/rootfs
cp $BB $C/a-lower/bin/busybox
cat >$C/a-lower/init.sh <<'SH'
# runs as pid 1 of nothing: just the container's first process, after pivot_root
B=/bin/busybox
$B umount -l /old
$B mount -t tmpfs lo /mnt/lo && $B mount -t tmpfs up /mnt/up || exit 1
echo lowerdata >/mnt/lo/lowerfile
$B mkdir -p /mnt/up/upper /mnt/up/work
$B mount -t overlay overlay -o lowerdir=/mnt/lo,upperdir=/mnt/up/upper,workdir=/mnt/up/work,xino=off /data || exit 1
exec 3</data/lowerfile 0<&- 1>&- 2>&-
cd /data
$B touch /ready
while :; do $B sleep 1000; done
SH

start_container() { # prints the container's pid (a session leader)
	rm -f $C/a-upper/ready
	setsid unshare -m --propagation private $BB sh -c '
		C=$0
		mount -t overlay overlay -o lowerdir=$C/a-lower,upperdir=$C/a-upper,workdir=$C/a-work $C/rootfs || exit 1
		cd $C/rootfs && pivot_root . old && exec /bin/busybox sh /init.sh
		' $C </dev/null >/tmp/ct.out 2>&1 &
	local pid=$!
	for _ in $(seq 100); do [ -e $C/a-upper/ready ] && break; sleep 0.1; done
	[ -e $C/a-upper/ready ] || { cat /tmp/ct.out >&2; return 1; }
	echo $pid
}

# mnt_id_of PID MOUNTPOINT: the mount id of MOUNTPOINT in PID's mountinfo
mnt_id_of() { awk -v m="$2" '$5 == m { id = $1 } END { print id }' /proc/$1/mountinfo; }

# files_mnt_id DIR NAME: crit's reg.mnt_id of the REG entry named NAME
files_mnt_id() {
	crit decode -i "$1/files.img" | python3 -c '
import json, sys
for e in json.load(sys.stdin)["entries"]:
    r = e.get("reg")
    if r and r["name"] == sys.argv[1]:
        print(r.get("mnt_id", -1)); break' "$2"
}

show_reg() { # show_reg DIR: the REG entries of files.img as crit decodes them
	crit decode -i "$1/files.img" | python3 -c '
import json, sys
for e in json.load(sys.stdin)["entries"]:
    r = e.get("reg")
    if r: print("   id %s name %s mnt_id %s" % (e["id"], r["name"], r.get("mnt_id")))'
}

step "1. the container and CRIU's own files.img"
pid=$(start_container) || { fail "container did not start"; exit 1; }
A=$(mnt_id_of $pid /); Bm=$(mnt_id_of $pid /data)
echo "container pid $pid (tree: $(cat /proc/$pid/task/*/children 2>/dev/null))"
echo "its mountinfo:"; sed 's/^/   /' /proc/$pid/mountinfo
echo "fd 3: $(readlink /proc/$pid/fd/3); fdinfo: $(tr '\n' ' ' </proc/$pid/fdinfo/3)"
echo "stat: $(stat -L -c 'dev %Hd:%Ld ino %i' /proc/$pid/fd/3)   (B is $(awk '$5 == "/data" {print $3}' /proc/$pid/mountinfo))"
echo "A (root overlay) = mount $A, B (/data) = mount $Bm"
check "fdinfo of fd 3 names B (mnt_id $Bm)" grep -q "^mnt_id:[[:space:]]*$Bm\$" /proc/$pid/fdinfo/3
D1=$OUT/nested-plain; mkdir -p "$D1"
criu dump -t "$pid" -D "$D1" -v4 -o dump.log --leave-running; rc=$?
echo "criu dump --leave-running exit: $rc"
criu_log_lines "$D1/dump.log" 10 | sed 's/^/   /'
check "criu dump (no hook) succeeds" [ "$rc" -eq 0 ]
echo "crit decode -i files.img (REG entries):"; show_reg "$D1"
got=$(files_mnt_id "$D1" /data/lowerfile)
check "CRIU's files.img gives /data/lowerfile mnt_id $got = A ($A), not B ($Bm)" [ "$got" = "$A" ]

step "2. ovlfix fixup --dry-run"
sum1=$(sha_tree "$D1")
"$OVLFIX" fixup -D "$D1" --pid "$pid" --dry-run; rc=$?
echo "ovlfix fixup --dry-run exit: $rc"
sum2=$(sha_tree "$D1")
echo "checksum of the images dir before: $sum1"
echo "checksum of the images dir after:  $sum2"
check "fixup --dry-run changes nothing" [ "$sum1" = "$sum2" ]
check "fixup --dry-run prints mnt_id $A -> $Bm" sh -c "'$OVLFIX' fixup -D '$D1' --pid $pid --dry-run 2>/dev/null | grep -q 'mnt_id $A -> $Bm'"
kill -9 $(cat /proc/$pid/task/*/children) "$pid" 2>/dev/null
sleep 0.5

step "3. criu dump --action-script ovlfix-hook"
pid=$(start_container) || { fail "container did not start"; exit 1; }
A=$(mnt_id_of $pid /); Bm=$(mnt_id_of $pid /data)
echo "container pid $pid; A = mount $A, B = mount $Bm"
D2=$OUT/nested-hook; mkdir -p "$D2"
criu dump -t "$pid" -D "$D2" -v4 -o dump.log --action-script "$HOOK"; rc=$?
echo "criu dump exit: $rc"
criu_log_lines "$D2/dump.log" 30 | sed 's/^/   /'
check "criu dump with the hook succeeds" [ "$rc" -eq 0 ]
echo "crit decode -i files.img (REG entries):"; show_reg "$D2"
got=$(files_mnt_id "$D2" /data/lowerfile)
check "the hook repaired files.img: /data/lowerfile mnt_id $got = B ($Bm)" [ "$got" = "$Bm" ]
orig=$(crit decode -i "$D2/files.img.ovlfix-orig" >/dev/null 2>&1 && echo yes)
check "the original is kept as files.img.ovlfix-orig (crit decodes it)" [ "$orig" = yes ]
check "the report ovlfix-fixup.json is there" test -s "$D2/ovlfix-fixup.json"

step "4. criu restore"
# CRIU restores the root mount of a mount namespace as a bind of --root, so
# overlay A is mounted again (same layers) for it.
mount -t overlay overlay -o lowerdir=$C/a-lower,upperdir=$C/a-upper,workdir=$C/a-work $C/rootfs || fail "remount A"
criu restore -D "$D2" -d -v4 -o restore.log --root $C/rootfs; rc=$?
echo "criu restore --root $C/rootfs exit: $rc"
grep -E 'Error|Unable|mount.*overlay' "$D2/restore.log" | head -8 | sed 's/^/   /'
if [ "$rc" -ne 0 ] && grep -q 'overlay' "$D2/restore.log"; then
	# CRIU 3.17.1 mounts overlay B with its options verbatim (lowerdir=/mnt/lo,...),
	# resolved in CRIU's own mount namespace, not in the container's. Give those
	# paths to it in a private namespace with the same content, and retry.
	echo "retrying with /mnt/lo and /mnt/up present in CRIU's own mount namespace:"
	unshare -m --propagation private sh -c '
		mount -t tmpfs lo /mnt && mkdir -p /mnt/lo /mnt/up/upper /mnt/up/work &&
		echo lowerdata >/mnt/lo/lowerfile &&
		exec criu restore -D "$0" -d -v4 -o restore2.log --root "$1"' "$D2" $C/rootfs; rc=$?
	echo "criu restore (retry) exit: $rc"
	grep -E 'Error|Unable' "$D2/restore2.log" | head -8 | sed 's/^/   /'
fi
check "criu restore of the repaired dump succeeds" [ "$rc" -eq 0 ]
if [ "$rc" -eq 0 ]; then
	echo "restored pid $pid: fd 3 -> $(readlink /proc/$pid/fd/3), mnt_id $(awk '/^mnt_id/ {print $2}' /proc/$pid/fdinfo/3); /data is mount $(mnt_id_of $pid /data)"
	check "the restored fd 3 is /data/lowerfile on /data's mount" sh -c "[ \"\$(readlink /proc/$pid/fd/3)\" = /data/lowerfile ] && grep -q \"^mnt_id:[[:space:]]*\$(awk '\$5 == \"/data\" {print \$1}' /proc/$pid/mountinfo)\$\" /proc/$pid/fdinfo/3"
	check "the restored fd reads the file" sh -c "[ \"\$(cat /proc/$pid/fd/3)\" = lowerdata ]"
	kill -9 $(cat /proc/$pid/task/*/children 2>/dev/null) "$pid" 2>/dev/null
fi
echo
[ "$FAILED" -eq 0 ] && echo "hook-nested: all checks passed" || echo "hook-nested: some checks FAILED"
exit $FAILED
