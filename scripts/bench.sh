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
med() { sed -n "s/.*per_fd_us_best=\([0-9.]*\) per_fd_us_median=\([0-9.]*\).*/\2 \1/p"; }
: > "$out/rows"
for r in $(seq "$ROUNDS"); do
  f1=$("$out/floor" -t 1 -r "$REPS" -v "$pid" 2>&1 >/dev/null | med)
  o1=$("$out/scanbench" -t 1 -r "$REPS" "$pid" | med)
  f2=$("$out/floor" -t 2 -r "$REPS" -v "$pid" 2>&1 >/dev/null | med)
  o2=$("$out/scanbench" -t 2 -r "$REPS" "$pid" | med)
  echo "$f1 $o1 $f2 $o2" >> "$out/rows"
  echo "round $r (median best): floor1 ${f1} ovlfix1 ${o1} floor2 ${f2} ovlfix2 ${o2} (us/fd)"
done
python3 - "$out/rows" <<'PY'
import sys, statistics as st
# each row: floor1 (median best) ovlfix1 (median best) floor2 (...) ovlfix2 (...)
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
F1, O1, F2, O2 = ([r[i] for r in rows] for i in (0, 2, 4, 6))     # medians
bF1, bO1, bF2, bO2 = (min(r[i] for r in rows) for i in (1, 3, 5, 7))  # bests
print(f"per-fd median of medians: floor1 {st.median(F1):.2f}us ovlfix1 {st.median(O1):.2f}us "
      f"floor2 {st.median(F2):.2f}us ovlfix2 {st.median(O2):.2f}us")
print(f"per-fd best of all:       floor1 {bF1:.2f}us ovlfix1 {bO1:.2f}us floor2 {bF2:.2f}us ovlfix2 {bO2:.2f}us")
def verdict(x, goal): return "PASS" if x <= goal else "MISS"
r1 = st.median(o / f for o, f in zip(O1, F1)); r2 = st.median(o / f for o, f in zip(O2, F1))
print(f"ovlfix(1 thread)/floor(1 thread):  median of per-round ratios {r1:.3f}, best/best {bO1/bF1:.3f}  (goal <= 1.15) {verdict(r1, 1.15)}/{verdict(bO1/bF1, 1.15)}")
print(f"ovlfix(2 workers)/floor(1 thread): median of per-round ratios {r2:.3f}, best/best {bO2/bF1:.3f}  (goal <= 0.65) {verdict(r2, 0.65)}/{verdict(bO2/bF1, 0.65)}")
print(f"reference, the C floor itself with 2 threads: floor2/floor1 median {st.median(f2 / f for f2, f in zip(F2, F1)):.3f}, best/best {bF2/bF1:.3f}")
PY
