#!/usr/bin/env bash
# Make the real Podman checkpoint archives of testdata/archives/ (issue 9):
# the holder of tests/podman/testdata/holder.c, run with Podman + runc +
# CRIU 4.2 and `ovlfix hook` (built from this tree) as CRIU's action script
# through the org.criu.config annotation, exported with
# `podman container checkpoint --export` in each of Podman's formats, then
# restored from each archive with `podman container restore --import` to
# record whether the restore works. Writes testdata/archives/*: the
# archives, rootfs.tar.gz (the image they were made from), report-*.txt
# (what the holder held, as `holder report` printed it before the
# checkpoint) and versions.txt; README.md there is written by hand.
#
# Uses its own Podman storage under a temporary directory (nothing in the
# machine's default storage) and removes it at the end. Needs root,
# podman, runc, gcc -static, ../shared/criu/4.2/criu (OVLFIX_CRIU42), zstd.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
out=$repo/testdata/archives
criu=${OVLFIX_CRIU42:-$repo/../shared/criu/4.2/criu}
[ "$(id -u)" -eq 0 ] || { echo "make-archive-fixtures: needs root" >&2; exit 1; }
"$criu" --version | grep -qx 'Version: 4.2' || { echo "make-archive-fixtures: $criu is not CRIU 4.2" >&2; exit 1; }

# podman refuses a runroot longer than 50 bytes: a short directory
work=$(mktemp -d /tmp/ovlfix-fx-XXXXXX)
crit_path=$(mktemp -d /tmp/ovlfix-fxc-XXXXXX)
ln -s "$(realpath "$criu")" "$crit_path/criu"
export PATH=$crit_path:$PATH
pm() {
  podman --root "$work/root" --runroot "$work/run" --tmpdir "$work/tmp" --storage-driver overlay \
    --cgroup-manager cgroupfs --events-backend file --runtime runc --runtime-flag "root=$work/runc" "$@"
}
cleanup() {
  local ids
  ids="$(pm ps -aq --no-trunc 2>/dev/null || true) $(cat "$work/ids" 2>/dev/null || true)"
  pm rm -fa -t 0 >/dev/null 2>&1 || true
  # Podman 4.3.1 + runc 1.1.5 (cgroup v1) sometimes leave a container's
  # cgroup behind, empty; rmdir removes only empty ones
  for id in $ids; do
    rmdir /sys/fs/cgroup/*/libpod_parent/libpod-"$id" /sys/fs/cgroup/libpod_parent/libpod-"$id" 2>/dev/null || true
  done
  pm rmi -af >/dev/null 2>&1 || true
  pm system reset -f >/dev/null 2>&1 || true
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work" "$crit_path"
}
trap cleanup EXIT

echo "make-archive-fixtures: building ovlfix and the holder in $work"
go build -o "$work/bin/ovlfix" ./cmd/ovlfix
ln -s ovlfix "$work/bin/ovlfix-hook"
gcc -static -Os -s -Wall -Werror -o "$work/holder" tests/podman/testdata/holder.c
printf 'action-script %s\n' "$work/bin/ovlfix-hook" >"$work/criu.conf"

# The image: the holder and the files under /data it opens (the same
# files and contents as tests/podman/image_test.go's imageFiles); no shell,
# to keep rootfs.tar.gz small.
r=$work/rootfs
mkdir -p "$r"/{data,dev,etc,proc,sys,tmp}
cp "$work/holder" "$r/holder"
printf 'lower data\n' >"$r/data/lower.txt"
printf 'copied data\n' >"$r/data/copied.txt"
printf 'watched data\n' >"$r/data/watched.txt"
printf 'mapped data\n' >"$r/data/mapped.txt"
tar --numeric-owner --owner=0 --group=0 --sort=name -C "$r" -czf "$work/rootfs.tar.gz" .
pm import "$work/rootfs.tar.gz" localhost/ovlfix-fixture:1 >/dev/null 2>&1

# start NAME [append]: run the holder, wait for READY
start() {
  pm run -d --name "$1" --network none --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
    --annotation "org.criu.config=$work/criu.conf" localhost/ovlfix-fixture:1 /holder hold ${2:-} >/dev/null
  for _ in $(seq 300); do
    pm logs "$1" 2>/dev/null | grep -qx READY && return 0
    sleep 0.1
  done
  echo "make-archive-fixtures: $1 printed no READY: $(pm logs "$1" 2>&1)" >&2
  exit 1
}

# make NAME FILE [--compress X] [append]: checkpoint a fresh holder into
# $out/FILE and try its restore; records the outcome in $work/outcome.
: >"$work/outcome"
make() {
  local name=$1 file=$2 compress=$3 mode=$4
  start "$name" "$mode"
  pm exec "$name" /holder report >"$out/report-$name.txt"
  echo "+ podman container checkpoint --export $file${compress:+ $compress} $name   (holder hold${mode:+ $mode})" >>"$work/outcome"
  pm container checkpoint --export "$out/$file" $compress "$name" >/dev/null
  chmod 0644 "$out/$file"
  pm inspect -f '{{.ID}}' "$name" >>"$work/ids"
  pm rm -f -t 0 "$name" >/dev/null
  echo "+ podman container restore --import $file --name $name-restored" >>"$work/outcome"
  if pm container restore --import "$out/$file" --name "$name-restored" >/dev/null 2>"$work/err"; then
    echo "  restored; holder report after the restore:" >>"$work/outcome"
    pm exec "$name-restored" /holder report | sed 's/^/    /' >>"$work/outcome"
  else
    echo "  restore failed; CRIU's restore.log:" >>"$work/outcome"
    grep 'Error (' "$(pm inspect -f '{{.StaticDir}}' "$name-restored")/restore.log" | grep -v rlimit: |
      sed 's/^/    /' >>"$work/outcome"
  fi
  pm inspect -f '{{.ID}}' "$name-restored" >>"$work/ids"
  pm rm -f -t 0 "$name-restored" >/dev/null
}

mkdir -p "$out"
rm -f "$out"/holder-*.tar* "$out"/report-holder-*.txt "$out"/rootfs.tar.gz  # not the lab's criu-3.17.1-* files
make holder-zstd holder-zstd.tar.zst "" ""
make holder-gzip holder-gzip.tar.gz "--compress gzip" ""
make holder-none holder-none.tar "--compress none" ""
make holder-appended holder-appended.tar.zst "" append
cp "$work/rootfs.tar.gz" "$out/rootfs.tar.gz"

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "kernel: $(uname -r)"
  echo "podman: $(podman --version)"
  echo "runc: $(runc --version | head -1)"
  echo "criu: $("$criu" --version | tr '\n' ' ')"
  echo "gcc: $(gcc --version | head -1)"
  echo "ovlfix: $(git rev-parse HEAD)$(git diff --quiet HEAD -- . || echo ' (with uncommitted changes)')"
  echo
  cat "$work/outcome"
  echo
  echo "sizes and sha256:"
  (cd "$out" && for f in *.tar* ; do printf '  %s %d bytes %s\n' "$f" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -d' ' -f1)"; done)
} >"$out/versions.txt"
cat "$out/versions.txt"
