#!/usr/bin/env bash
# Scan cost against the syscall floor, as ratios measured in one run.
#
# Starts ../shared/bench's C holder (10,000 fds over an overlay in a private
# mount namespace, 100 mmaps), then alternates, ROUNDS times:
#   floor -t 1 / scanbench -t 1 / floor -t 2 / scanbench -t 2
# each doing REPS in-process scans, and reports per-fd medians and the
# ratios the goals are stated in:
#   ovlfix 1 thread  / floor 1 thread   (goal <= 1.15)
#   ovlfix 2 workers / floor 1 thread   (goal <= 0.65)
# Needs root (the holder mounts). Usage: scripts/bench.sh [FDS] [ROUNDS] [REPS]
set -euo pipefail
cd "$(dirname "$0")/.."
FDS=${1:-10000}; ROUNDS=${2:-7}; REPS=${3:-9}
SRC=${OVLFIX_BENCH_SRC:-../shared/bench/src}
out=$(mktemp -d /tmp/ovlfix-bench.XXXXXX)
holder_pid=
cleanup() { [ -n "$holder_pid" ] && kill "$holder_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$out"; }
trap cleanup EXIT
gcc -O2 -o "$out/holder" "$SRC/holder.c"
gcc -O2 -pthread -o "$out/floor" "$SRC/floor.c"
go build -o "$out/scanbench" ./bench/scanbench
mkdir -p "$out/base"
"$out/holder" -d "$out/base" -N "$FDS" -F 1000 -P 100 -o "$out/ready" > "$out/holder.log" 2>&1 &
holder_pid=$!
for _ in $(seq 100); do [ -s "$out/ready" ] && break; sleep 0.1; done
[ -s "$out/ready" ] || { cat "$out/holder.log"; echo "bench: holder did not start" >&2; exit 1; }
pid=$(cat "$out/ready")
echo "bench: holder pid $pid with $FDS fds; $ROUNDS rounds x $REPS scans each; $(nproc) cores; kernel $(uname -r)"
med() { sed -n "s/.*per_fd_us_median=\([0-9.]*\).*/\1/p"; }
: > "$out/rows"
for r in $(seq "$ROUNDS"); do
  f1=$("$out/floor" -t 1 -r "$REPS" -v "$pid" 2>&1 >/dev/null | med)
  o1=$("$out/scanbench" -t 1 -r "$REPS" "$pid" | med)
  f2=$("$out/floor" -t 2 -r "$REPS" -v "$pid" 2>&1 >/dev/null | med)
  o2=$("$out/scanbench" -t 2 -r "$REPS" "$pid" | med)
  echo "$f1 $o1 $f2 $o2" >> "$out/rows"
  echo "round $r: floor1 ${f1}us/fd ovlfix1 ${o1}us/fd floor2 ${f2}us/fd ovlfix2 ${o2}us/fd"
done
python3 - "$out/rows" <<'PY'
import sys, statistics as st
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
r1 = st.median(o1 / f1 for f1, o1, f2, o2 in rows)
r2 = st.median(o2 / f1 for f1, o1, f2, o2 in rows)
rf = st.median(f2 / f1 for f1, o1, f2, o2 in rows)
print(f"median per-fd: floor1 {st.median(r[0] for r in rows):.2f}us ovlfix1 {st.median(r[1] for r in rows):.2f}us "
      f"floor2 {st.median(r[2] for r in rows):.2f}us ovlfix2 {st.median(r[3] for r in rows):.2f}us")
print(f"ratio ovlfix(1 thread)/floor(1 thread) = {r1:.3f}  (goal <= 1.15) {'PASS' if r1 <= 1.15 else 'MISS'}")
print(f"ratio ovlfix(2 workers)/floor(1 thread) = {r2:.3f}  (goal <= 0.65) {'PASS' if r2 <= 0.65 else 'MISS'}")
print(f"(reference: floor(2 threads)/floor(1 thread) = {rf:.3f})")
PY
