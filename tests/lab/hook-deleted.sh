#!/bin/bash
# hook-deleted.sh - CRIU + the ovlfix hook on deleted files that still have a
# link. Runs as root inside the kernel lab (scripts/hook-e2e.sh: 6.1 guest,
# Debian's criu 3.17.1). Two scenarios, each dumped twice (criu alone, and
# with --action-script <ovlfix-hook>), each dump restored:
#   a. a hard-linked file on an overlay (an upper file, linked through the
#      overlay) opened, then its opened name unlinked: nlink 1, the fd reads
#      ".../hard1 (deleted)"; CRIU dumps it as a link remap (--link-remap).
#   b. a lower-layer file opened, then removed through the overlay (a
#      whiteout; the inode keeps nlink 1), in a "container" whose root is the
#      overlay: CRIU's link remap fails with ENOENT up to the root and it falls
#      back to a ghost file (check_overlayfs_fallback, criu/files-reg.c). With
#      the overlay below a root on another filesystem the last linkat fails
#      with EXDEV instead and the dump fails, with or without the hook.
# The hook must not make either worse: the restored fd's link name and the
# content read back through it must be exactly what CRIU alone restores
# ("... (deleted)"), never "... (deleted) (deleted)" (a post-dump that rewrote
# CRIU's right reg.name to the name with " (deleted)").
# Prints PASS/FAIL lines; exits 1 when any check failed.
set -u
. "${LAB_SCRIPT_DIR:?}/lib.sh"
setup_hook
# the lab's static busybox (run-kernel.sh's "host" mode has only its cache)
BB=/run/lab/busybox
[ -x $BB ] || BB=${KLAB_CACHE:-/var/cache/kernel-lab}/busybox/bin/busybox
# The holders must hold fd 3 and nothing CRIU cannot dump: close what this
# script inherited (e.g. the lab's lock file; bash keeps the script on 255).
for fd in $(ls /proc/$$/fd); do
	[ "$fd" -gt 2 ] && [ "$fd" -ne 255 ] && eval "exec $fd>&-"
done

# files_reg_names DIR: the REG entries of files.img as crit decodes them
files_reg_names() {
	crit decode -i "$1/files.img" | python3 -c '
import json, sys
for e in json.load(sys.stdin)["entries"]:
    r = e.get("reg")
    if r: print("   id %s name %r mnt_id %s" % (e["id"], r["name"], r.get("mnt_id")))'
}

# dump_restore NAME PID ROOT PREP [criu dump options...]: dumps PID into
# $OUT/deleted-NAME, runs the command PREP (unless "-"), and restores the dump
# (with --root ROOT unless ROOT is "-"); sets RPID (the restored pid, "" when
# a step failed), RLINK and RDATA (fd 3's link and content in the restored
# process), and kills the restored process.
dump_restore() {
	local name=$1 pid=$2 root=$3 prep=$4 d=$OUT/deleted-$1 rc
	shift 4
	RPID= RLINK= RDATA=
	rm -rf "$d"; mkdir -p "$d"
	criu dump -t "$pid" -D "$d" -v4 -o dump.log --shell-job --link-remap "$@"; rc=$?
	echo "criu dump ($name) exit: $rc"
	criu_log_lines "$d/dump.log" 30 | sed 's/^/   /'
	grep -E 'remap|ghost|fall back' "$d/dump.log" | head -6 | sed 's/^/   /'
	check "criu dump ($name) succeeds" [ "$rc" -eq 0 ]
	[ "$rc" -eq 0 ] || { kill -9 "$pid" 2>/dev/null; return 1; }
	echo "crit decode -i files.img (REG entries):"; files_reg_names "$d"
	[ -e "$d/files.img.ovlfix-orig" ] && { echo "CRIU's original (files.img.ovlfix-orig):"; crit decode -i "$d/files.img.ovlfix-orig" >/dev/null && echo "   (decodes)"; }
	[ "$prep" = - ] || $prep || { fail "$prep"; return 1; }
	local ropt=()
	[ "$root" = - ] || ropt=(--root "$root")
	criu restore -D "$d" -d -v4 -o restore.log --shell-job "${ropt[@]}"; rc=$?
	echo "criu restore ($name) exit: $rc"
	grep -E 'Error' "$d/restore.log" | head -6 | sed 's/^/   /'
	check "criu restore ($name) succeeds" [ "$rc" -eq 0 ]
	[ "$rc" -eq 0 ] || return 1
	RPID=$pid
	RLINK=$(readlink /proc/$pid/fd/3)
	RDATA=$(cat /proc/$pid/fd/3)
	echo "restored pid $pid: fd 3 -> $RLINK, reads: $RDATA"
	kill -9 "$pid" 2>/dev/null
	sleep 0.2
}

# compare SCENARIO WANT PLAIN_LINK PLAIN_DATA HOOK_LINK HOOK_DATA
compare() {
	echo "restored fd 3, criu alone: $3"
	echo "restored fd 3, with hook:  $5"
	if [ -z "$3" ] || [ -z "$5" ]; then
		fail "$1: cannot compare the restored fds: a dump or restore failed"
		return
	fi
	check "$1: CRIU alone restores fd 3 as \"$2\"" [ "$3" = "$2" ]
	check "$1: the hook's dump restores fd 3 with exactly CRIU's name (\"$3\" = \"$5\")" [ "$3" = "$5" ]
	check "$1: the hook's dump restores fd 3 with CRIU's content" [ "$4" = "$6" ]
}

### a. hard link, opened name unlinked (the lab's own mount namespace)
A=/tmp/dela
mkdir -p $A && mount -t tmpfs -o size=16m dela $A || { fail "tmpfs $A"; exit 1; }
a_start() { # a_start NAME: a fresh overlay, the holder; prints its pid
	umount $A/merged 2>/dev/null
	rm -rf $A/lower $A/upper $A/work /tmp/a.$1.pid
	mkdir -p $A/lower $A/upper $A/work $A/merged
	echo "hard-linked data" >$A/upper/hard1
	mount -t overlay overlay -o lowerdir=$A/lower,upperdir=$A/upper,workdir=$A/work $A/merged || return 1
	ln $A/merged/hard1 $A/merged/hard2 || return 1
	# fd 3 on hard1, then hard1 unlinked; a single process (exec) holds it
	setsid $BB sh -c 'exec 3<"$0" && $1 rm "$0" && echo $$ >"$2" && exec $1 sleep 100000' \
		$A/merged/hard1 $BB /tmp/a.$1.pid </dev/null >/dev/null 2>&1 &
	wait_pidfile /tmp/a.$1.pid
}
WANT_A="$A/merged/hard1 (deleted)"

step "a1. hard link, opened name unlinked: criu dump alone"
pid=$(a_start plain) || { fail "holder did not start"; exit 1; }
sleep 0.2
echo "holder pid $pid: fd 3 -> $(readlink /proc/$pid/fd/3), nlink $(stat -L -c %h /proc/$pid/fd/3)"
check "a: before the dump fd 3 is \"$WANT_A\"" [ "$(readlink /proc/$pid/fd/3)" = "$WANT_A" ]
dump_restore a-plain "$pid" - - --enable-fs 9p
PA_LINK=$RLINK PA_DATA=$RDATA

step "a2. hard link, opened name unlinked: criu dump --action-script ovlfix-hook"
pid=$(a_start hook) || { fail "holder did not start"; exit 1; }
sleep 0.2
echo "holder pid $pid: fd 3 -> $(readlink /proc/$pid/fd/3)"
dump_restore a-hook "$pid" - - --enable-fs 9p --action-script "$HOOK"
compare a "$WANT_A" "$PA_LINK" "$PA_DATA" "$RLINK" "$RDATA"
umount $A/merged 2>/dev/null

### b. lower file removed through the overlay, in a container rooted on it
C=/tmp/delb
mkdir -p $C && mount -t tmpfs -o size=32m delb $C || { fail "tmpfs $C"; exit 1; }
b_start() { # prints the container's pid
	umount $C/rootfs 2>/dev/null
	rm -rf $C/lower $C/upper $C/work
	mkdir -p $C/lower/bin $C/lower/old $C/upper $C/work $C/rootfs
	cp $BB $C/lower/bin/busybox
	echo "$LOWERDATA" >$C/lower/lowerfile
	cat >$C/lower/init.sh <<'SH'
B=/bin/busybox
$B umount -l /old
exec 3</lowerfile 0<&- 1>&- 2>&-
$B rm /lowerfile
$B touch /ready
exec $B sleep 100000
SH
	setsid unshare -m --propagation private $BB sh -c '
		C=$0
		mount -t overlay overlay -o lowerdir=$C/lower,upperdir=$C/upper,workdir=$C/work $C/rootfs || exit 1
		cd $C/rootfs && pivot_root . old && exec /bin/busybox sh /init.sh
		' $C </dev/null >/tmp/delb.out 2>&1 &
	local pid=$!
	for _ in $(seq 100); do [ -e $C/upper/ready ] && break; sleep 0.1; done
	[ -e $C/upper/ready ] || { cat /tmp/delb.out >&2; return 1; }
	sleep 0.2
	echo $pid
}
# CRIU restores the container's root mount as a bind of --root: overlay A
# mounted again on the same layers (with the whiteout in its upper).
remount_b() { mount -t overlay overlay -o lowerdir=$C/lower,upperdir=$C/upper,workdir=$C/work $C/rootfs; }
LOWERDATA=lowerdata
WANT_B="/lowerfile (deleted)"

step "b1. lower file removed through the overlay (container): criu dump alone"
pid=$(b_start) || { fail "container did not start"; exit 1; }
echo "container pid $pid: fd 3 -> $(readlink /proc/$pid/fd/3), nlink $(stat -L -c %h /proc/$pid/fd/3); whiteout: $(ls -l $C/upper/lowerfile 2>&1)"
check "b: before the dump fd 3 is \"$WANT_B\"" [ "$(readlink /proc/$pid/fd/3)" = "$WANT_B" ]
dump_restore b-plain "$pid" $C/rootfs remount_b
PB_LINK=$RLINK PB_DATA=$RDATA
umount $C/rootfs 2>/dev/null

step "b2. lower file removed through the overlay (container): criu dump --action-script ovlfix-hook"
pid=$(b_start) || { fail "container did not start"; exit 1; }
echo "container pid $pid: fd 3 -> $(readlink /proc/$pid/fd/3)"
dump_restore b-hook "$pid" $C/rootfs remount_b --action-script "$HOOK"
compare b "$WANT_B" "$PB_LINK" "$PB_DATA" "$RLINK" "$RDATA"
umount $C/rootfs 2>/dev/null

echo
[ "$FAILED" -eq 0 ] && echo "hook-deleted: all checks passed" || echo "hook-deleted: some checks FAILED"
exit $FAILED
