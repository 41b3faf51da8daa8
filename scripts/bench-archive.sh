#!/usr/bin/env bash
# Cost of listing a checkpoint archive through checkpoint.Open against GNU
# `tar -t` with the matching decompressor, as ratios measured in one run
# (docs/benchmarks.md, issue 9). Not part of CI: it times whole processes.
#
# Builds bench/archivebench into a temp dir and two Podman-shaped archives
# of SIZE MB and SMALL MB: checkpoint/ with the real CRIU images of
# testdata/criu/basic plus a pages-1.img filling the size: random
# (incompressible) bytes, or with PAGES=mixed half random and half shared
# libraries (compressible, like real memory: the decompressors then work), config.dump, spec.dump, deleted.files and a
# rootfs-diff.tar of a few MB of /usr/bin; each packed by GNU tar as zstd
# (tar --zstd) and gzip (tar -z). Then alternates ROUNDS times, for each
# archive:
#   tar -t --zstd -f A.tar.zst   archivebench A.tar.zst
#   tar -tzf A.tar.gz            archivebench A.tar.gz
# each under /usr/bin/time -f '%e %M', output to /dev/null, and prints the
# median wall times, ratios (ours / tar) and peak RSS, with PASS/MISS
# against the goals:
#   SIZE archive: wall <= 1.2x tar -t with the matching -z/--zstd
#   memory flat:  our peak RSS at SIZE MB <= SMALL MB's + 8 MB
# GNU time and zstd are installed with apt-get when missing.
#
# Usage: [PAGES=random|mixed] scripts/bench-archive.sh [ROUNDS] [SIZE] [SMALL]
#        (defaults random, 9, 100, 20)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-9}; SIZE=${2:-100}; SMALL=${3:-20}
case $ROUNDS$SIZE$SMALL in *[!0-9]*) echo "usage: scripts/bench-archive.sh [ROUNDS] [SIZE] [SMALL]" >&2; exit 2 ;; esac

need_pkg() { # need_pkg COMMAND PACKAGE: install PACKAGE when COMMAND is missing
  [ -x "$1" ] || command -v "$1" >/dev/null 2>&1 && return 0
  echo "bench-archive: installing $2 (apt-get)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }
}
need_pkg /usr/bin/time time
need_pkg zstd zstd

out=$(mktemp -d /tmp/ovlfix-bench-archive.XXXXXX)
trap 'rm -rf "$out"' EXIT
go build -o "$out/archivebench" ./bench/archivebench

# make_archive MB: $out/aMB.tar.zst and $out/aMB.tar.gz
make_archive() {
  local mb=$1 st="$out/stage$1"
  mkdir -p "$st/checkpoint" "$st/diff/usr/bin"
  cp testdata/criu/basic/*.img "$st/checkpoint/"
  # About 3 MB of real binaries (each under 1 MB) as the rootfs diff.
  local n=0 s
  for f in /usr/bin/*; do
    [ -f "$f" ] && [ ! -L "$f" ] || continue
    s=$(stat -c %s "$f"); [ "$s" -lt $((1 << 20)) ] || continue
    cp "$f" "$st/diff/usr/bin/"; n=$((n + s))
    [ "$n" -gt $((3 << 20)) ] && break
  done
  tar -cf "$st/rootfs-diff.tar" -C "$st/diff" usr
  local pages=$(( (mb << 20) - $(stat -c %s "$st/rootfs-diff.tar") - (1 << 20) ))
  if [ "$pages" -le 0 ]; then echo "bench-archive: $mb MB is too small" >&2; exit 2; fi
  if [ "${PAGES:-random}" = mixed ]; then
    { head -c $((pages / 2)) /dev/urandom
      { cat /usr/lib/x86_64-linux-gnu/*.so* 2>/dev/null || true; } | head -c $((pages - pages / 2)); } >"$st/checkpoint/pages-1.img"
  else
    head -c "$pages" /dev/urandom >"$st/checkpoint/pages-1.img"
  fi
  echo '{"id":"bench"}' >"$st/config.dump"
  echo '{"ociVersion":"1.0.2"}' >"$st/spec.dump"
  echo '["/etc/motd"]' >"$st/deleted.files"
  local members=(checkpoint config.dump spec.dump deleted.files rootfs-diff.tar)
  tar --zstd -cf "$out/a$mb.tar.zst" -C "$st" "${members[@]}"
  tar -czf "$out/a$mb.tar.gz" -C "$st" "${members[@]}"
  rm -rf "$st"
}
make_archive "$SIZE"
make_archive "$SMALL"
ls -l "$out"/a*.tar.* | awk '{printf "bench-archive: %s %d bytes\n", $9, $5}' >&2

# timed LABEL CMD...: appends "wall maxrss_kb" to $out/LABEL
timed() {
  local label=$1; shift
  /usr/bin/time -o "$out/t" -f '%e %M' "$@" >/dev/null
  cat "$out/t" >>"$out/$label"
}
for _ in $(seq "$ROUNDS"); do
  for mb in "$SIZE" "$SMALL"; do
    timed "tar-zstd-$mb" tar -t --zstd -f "$out/a$mb.tar.zst"
    timed "ours-zstd-$mb" "$out/archivebench" "$out/a$mb.tar.zst"
    timed "tar-gzip-$mb" tar -tzf "$out/a$mb.tar.gz"
    timed "ours-gzip-$mb" "$out/archivebench" "$out/a$mb.tar.gz"
  done
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
wall() { cut -d' ' -f1 "$out/$1" | median; }
rss() { cut -d' ' -f2 "$out/$1" | median; }
status=0
printf '%-6s %5s %10s %10s %7s %12s %12s\n' format MB "tar -t s" "ours s" ratio "tar RSS KB" "our RSS KB"
for fmt in zstd gzip; do
  for mb in "$SIZE" "$SMALL"; do
    t=$(wall "tar-$fmt-$mb"); o=$(wall "ours-$fmt-$mb")
    r=$(awk -v o="$o" -v t="$t" 'BEGIN {printf "%.2f", (t > 0 ? o / t : 0)}')
    printf '%-6s %5s %10s %10s %7s %12s %12s\n' "$fmt" "$mb" "$t" "$o" "$r" "$(rss "tar-$fmt-$mb")" "$(rss "ours-$fmt-$mb")"
  done
done
for fmt in zstd gzip; do
  t=$(wall "tar-$fmt-$SIZE"); o=$(wall "ours-$fmt-$SIZE")
  if awk -v o="$o" -v t="$t" 'BEGIN {exit !(o <= 1.2 * t)}'; then v=PASS; else v=MISS; status=1; fi
  echo "$v $fmt ${SIZE} MB: ours ${o}s <= 1.2 x tar -t ${t}s"
  big=$(rss "ours-$fmt-$SIZE"); small=$(rss "ours-$fmt-$SMALL")
  if [ "$big" -le $((small + 8192)) ]; then v=PASS; else v=MISS; status=1; fi
  echo "$v $fmt memory flat: peak RSS ${big} KB at ${SIZE} MB vs ${small} KB at ${SMALL} MB (<= +8 MB)"
done
echo "pages ${PAGES:-random}, rounds $ROUNDS, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
exit $status
