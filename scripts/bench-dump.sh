#!/usr/bin/env bash
# Cost of the whole `ovlfix dump` command against lsof, as ratios measured in
# one run (docs/benchmarks.md). Not part of CI: it times whole processes.
#
# Builds ovlfix and ../shared/bench's C holder into a temp dir (never into
# ../shared), starts the holder (FDS fds over an overlay in a private mount
# namespace, 100 mmaps), runs `ovlfix check` once so that the probe cache is
# warm, then alternates ROUNDS times:
#   ovlfix dump PID -o json   ovlfix dump PID -o text   ovlfix dump PID -D DIR
#   lsof -p PID -n -P         lsfd -p PID -J (when lsfd exists)
# each under /usr/bin/time -f '%e %U %S %M', output to /dev/null (-D into a
# fresh directory each time), and prints the medians, the ratios against
# lsof and PASS/MISS against the goals:
#   -o json, -o text: wall <= 0.8x lsof, CPU (user+sys) <= 1.0x lsof, peak RSS <= 25 MB
#   -D:               wall <= 1.0x lsof
# Needs root (the holder mounts; ovlfix reads other processes' /proc).
# lsof and GNU time are installed with apt-get when missing (idempotent:
# only when the command is not found). lsfd (util-linux) is optional.
#
# Usage: scripts/bench-dump.sh [ROUNDS] [FDS]     (defaults 11, 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-11}; FDS=${2:-10000}
SRC=${OVLFIX_BENCH_SRC:-../shared/bench/src}

need_pkg() { # need_pkg COMMAND PACKAGE: install PACKAGE when COMMAND is missing
  [ -x "$1" ] || command -v "$1" >/dev/null 2>&1 && return 0
  echo "bench-dump: installing $2 (apt-get)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }
}
need_pkg lsof lsof
need_pkg /usr/bin/time time

out=$(mktemp -d /tmp/ovlfix-bench-dump.XXXXXX)
holder_pid=
cleanup() {
  if [ -n "$holder_pid" ]; then kill "$holder_pid" 2>/dev/null || true; wait "$holder_pid" 2>/dev/null || true; fi
  rm -rf "$out"
}
trap cleanup EXIT
gcc -O2 -o "$out/holder" "$SRC/holder.c"
go build -o "$out/ovlfix" ./cmd/ovlfix
mkdir -p "$out/base"
"$out/holder" -d "$out/base" -N "$FDS" -F 1000 -P 100 -o "$out/ready" > "$out/holder.log" 2>&1 &
holder_pid=$!
for _ in $(seq 100); do [ -s "$out/ready" ] && break; sleep 0.1; done
[ -s "$out/ready" ] || { cat "$out/holder.log"; echo "bench-dump: holder did not start" >&2; exit 1; }
pid=$(cat "$out/ready")
"$out/ovlfix" check > /dev/null || { echo "bench-dump: ovlfix check failed" >&2; exit 1; }

tools=(json text dir lsof)
lsfd -p "$pid" -J > /dev/null 2>&1 && tools+=(lsfd)
echo "bench-dump: holder pid $pid with $FDS fds; $ROUNDS rounds alternating ${tools[*]}; $(nproc) cores; kernel $(uname -r)"

# run TOOL: one timed run, appends "TOOL wall user sys maxrss_kb" to rows.
run() {
  local t=$1 cmd
  case $t in
    json) cmd=("$out/ovlfix" dump "$pid" -o json) ;;
    text) cmd=("$out/ovlfix" dump "$pid" -o text) ;;
    dir)  rm -rf "$out/img"; cmd=("$out/ovlfix" dump "$pid" -D "$out/img") ;;
    lsof) cmd=(lsof -p "$pid" -n -P) ;;
    lsfd) cmd=(lsfd -p "$pid" -J) ;;
  esac
  # lsof exits 1 when it warns about something it could not read; the
  # timing is what matters, a failure of ovlfix is not.
  if ! /usr/bin/time -o "$out/t" -f '%e %U %S %M' "${cmd[@]}" > /dev/null 2> "$out/err"; then
    case $t in lsof|lsfd) ;; *) cat "$out/err" >&2; echo "bench-dump: $t failed" >&2; exit 1 ;; esac
  fi
  echo "$t $(tail -n1 "$out/t")" >> "$out/rows"
}
: > "$out/rows"
for _ in $(seq "$ROUNDS"); do
  for t in "${tools[@]}"; do run "$t"; done
done

python3 - "$out/rows" <<'PY'
import sys, statistics as st
rows = {}
for l in open(sys.argv[1]):
    t, wall, user, sys_, rss = l.split()
    rows.setdefault(t, []).append((float(wall), float(user) + float(sys_), int(rss) / 1024))
med = {t: tuple(st.median(r[i] for r in v) for i in range(3)) for t, v in rows.items()}
names = {"json": "ovlfix dump -o json", "text": "ovlfix dump -o text", "dir": "ovlfix dump -D",
         "lsof": "lsof -p -n -P", "lsfd": "lsfd -p -J"}
L = med["lsof"]
print(f"{'command':22} {'wall s':>7} {'cpu s':>7} {'rss MB':>7} {'wall/lsof':>10} {'cpu/lsof':>9} {'rss/lsof':>9}")
for t in ("json", "text", "dir", "lsof", "lsfd"):
    if t not in med: continue
    w, c, m = med[t]
    print(f"{names[t]:22} {w:7.3f} {c:7.3f} {m:7.1f} {w/L[0]:10.2f} {c/L[1]:9.2f} {m/L[2]:9.2f}")
def v(ok): return "PASS" if ok else "MISS"
for t in ("json", "text"):
    w, c, m = med[t]
    print(f"goal {names[t]}: wall {w/L[0]:.2f}x <= 0.8x {v(w <= 0.8*L[0])}; "
          f"cpu {c/L[1]:.2f}x <= 1.0x {v(c <= L[1])}; rss {m:.1f} MB <= 25 MB {v(m <= 25)}")
w = med["dir"][0]
print(f"goal {names['dir']}: wall {w/L[0]:.2f}x <= 1.0x {v(w <= L[0])}")
PY
