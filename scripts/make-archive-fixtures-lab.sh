#!/usr/bin/env bash
# make-archive-fixtures-lab.sh - remakes the CRIU 3.17.1 checkpoint-archive
# fixtures testdata/archives/criu-3.17.1-lab-6.1{,-hook}.tar.zst (issue 9,
# item 5) in the kernel lab: Debian's criu 3.17.1 dumps only on Debian's 6.1
# kernel, not on this host's. Builds here (the guest sees the host read-only
# and compiling under TCG is slow): ovlfix, the static holder
# (testdata/archives/criu-3.17.1-holder.c) and the image's rootfs tar (the
# lab's static busybox, the holder, /data/*); then runs
# tests/lab/make-archive-317.sh in a 6.1 guest through
# ../shared/lab/run-kernel.sh (3-5 min on TCG), copies the archives and the
# guest's output (criu-3.17.1-lab-6.1.log) into testdata/archives, and checks
# each archive is below 1 MB. Not part of scripts/test.sh: it makes committed
# fixtures. Provenance: testdata/archives/README-3.17.1.md.
# Usage: scripts/make-archive-fixtures-lab.sh [KERNEL]   (default 6.1)
set -uo pipefail
cd "$(dirname "$0")/.."
LAB=${OVLFIX_LAB:-../shared/lab/run-kernel.sh}
DEST=testdata/archives
kernel=${1:-6.1}
[ -x "$LAB" ] || { echo "FAIL: $LAB not found (the shared lab sits beside the repo)"; exit 1; }
for c in criu crit podman runc gcc zstd; do
	command -v $c >/dev/null || { echo "FAIL: $c must be installed on the host (the guest runs the host's)"; exit 1; }
done
"$LAB" --setup "$kernel" >/dev/null || { echo "FAIL: lab setup"; exit 1; }
BB=${KLAB_CACHE:-/var/cache/kernel-lab}/busybox/bin/busybox
[ -x "$BB" ] || { echo "FAIL: no lab busybox at $BB"; exit 1; }
share=$(mktemp -d /var/tmp/ovlfix-archive-lab.XXXXXX)
trap 'rm -rf "$share"' EXIT
go build -o "$share/ovlfix" ./cmd/ovlfix || { echo "FAIL: go build"; exit 1; }
gcc -static -s -O2 -Wall -o "$share/holder" $DEST/criu-3.17.1-holder.c || { echo "FAIL: gcc -static holder"; exit 1; }

# The image: one layer, files owned by root, fixed mtimes.
r=$share/rootfs
mkdir -p $r/bin $r/data $r/dev $r/proc $r/sys $r/etc
cp "$BB" $r/bin/busybox && ln -s busybox $r/bin/sh && cp "$share/holder" $r/bin/holder
echo "lower layer: read only" >$r/data/lower.txt
echo "lower layer: to be copied up" >$r/data/copied.txt
echo "lower layer: a log appended to" >$r/data/append.log
echo "lower layer: removed while open" >$r/data/removed.txt
echo "lower layer: watched" >$r/data/watched.txt
head -c 8192 /dev/zero | tr '\0' m >$r/data/mapped.bin
tar -C $r --owner=0 --group=0 --numeric-owner --mtime=2026-01-01T00:00:00Z --sort=name -cf "$share/rootfs.tar" . ||
	{ echo "FAIL: rootfs tar"; exit 1; }

cp tests/lab/make-archive-317.sh "$share/make-archive-317.sh"
start=$(date +%s)
"$LAB" -t 1200 -2 -s "$share" -e OVLFIX_REV="$(git rev-parse --short HEAD)" "$share/make-archive-317.sh" "$kernel" 2>&1 | tee "$share/out.log"
rc=${PIPESTATUS[0]}
echo "lab run: exit $rc, $(($(date +%s) - start))s wall"
[ "$rc" -eq 0 ] || { echo "FAIL: tests/lab/make-archive-317.sh exited $rc"; exit 1; }
status=0
for a in criu-3.17.1-lab-6.1.tar.zst criu-3.17.1-lab-6.1-hook.tar.zst; do
	[ -s "$share/$a" ] || { echo "FAIL: the guest made no $a"; status=1; continue; }
	size=$(stat -c %s "$share/$a")
	[ "$size" -lt 1048576 ] || { echo "FAIL: $a is $size bytes (>= 1 MB)"; status=1; continue; }
	cp "$share/$a" $DEST/$a && echo "PASS: $DEST/$a ($size bytes)"
done
# the guest's output without run-kernel's host-specific temp paths
sed "s#$share#\$LAB_SHARE#g" "$share/out.log" >$DEST/criu-3.17.1-lab-6.1.log
exit $status
