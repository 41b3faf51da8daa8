#!/usr/bin/env bash
# The freeze ovlfix adds to a runc checkpoint (issue 11 item 5;
# docs/benchmarks.md). Not part of CI: it times real checkpoints.
#
# Builds ovlfix (with ovlfix-criu and ovlfix-hook symlinks), bench/scanbench,
# bench/downtimebench and its static holder into a temp dir, then runs
# downtimebench: for each fd count F (50 and 10,000) one runc container on an
# overlay rootfs whose process holds F fds on lower-layer files (RLIMIT_NOFILE
# F+64 in the bundle), checkpointed ROUNDS times by each route, alternating
# (the order rotates every round), each `runc checkpoint --leave-running`
# into a fresh images dir:
#   plain   runc --criu CRIU                     no ovlfix
#   proxy   runc --criu ovlfix-criu              OVLFIX_REAL_CRIU=CRIU
#   script  runc --criu CRIU, `action-script ovlfix-hook` in the file of the
#           bundle's org.criu.config annotation (empty for the other routes)
# CRIU's frozen_time comes from each stats-dump. Each round also times the
# bare scan of the same process: `ovlfix dump PID -o json` (whole process)
# and one fdinfo Scan (bench/scanbench -r 1). Prints medians, the added freeze
# (median of each round's difference to that round's plain checkpoint) and
# PASS/MISS against the goals: added <= 5 ms at 50 fds; added <= 1.2x the
# bare scan at 10,000 fds.
# Needs root, runc, gcc with a static libc, CRIU 4.2 (../shared/criu/4.2/criu
# or $OVLFIX_CRIU42).
#
# -v prints every measurement, each action point's time and the hook's lines.
# OVLFIX_DOWNTIME_PHASES=FILE also times post-dump's parts in one process on one
# more plain checkpoint per fd count (downtimebench -phases) and writes a CPU
# profile of the hook.Run rounds to FILE (`go tool pprof -top FILE`).
#
# Usage: scripts/bench-downtime.sh [ROUNDS] [FDS,...] [-v]   (defaults 7, 50,10000)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-7}; FDS=${2:-50,10000}; VERBOSE=${3:-}
CRIU=${OVLFIX_CRIU42:-../shared/criu/4.2/criu}
CRIU=$(realpath "$CRIU")
RUNC=$(command -v runc) || { echo "bench-downtime: needs runc (apt-get install runc)" >&2; exit 1; }
"$CRIU" --version | grep -qx 'Version: 4.2' || { echo "bench-downtime: $CRIU is not CRIU 4.2" >&2; exit 1; }

out=$(mktemp -d /tmp/ovlfix-bench-downtime.XXXXXX)
trap 'rm -rf "$out"' EXIT
go build -o "$out/ovlfix" ./cmd/ovlfix
ln -s ovlfix "$out/ovlfix-criu"
ln -s ovlfix "$out/ovlfix-hook"
go build -o "$out/scanbench" ./bench/scanbench
go build -o "$out/downtimebench" ./bench/downtimebench
gcc -static -O2 -Wall -Werror -o "$out/holder" bench/downtimebench/holder/holder.c
"$out/ovlfix" check > /dev/null || { echo "bench-downtime: ovlfix check failed (the hook reads its probe cache)" >&2; exit 1; }
echo "bench-downtime: $(date -u '+%F %T UTC'); $(nproc) cores; kernel $(uname -r); $("$CRIU" --version | head -1); $("$RUNC" --version | head -1); load:$(uptime | sed 's/.*load average://')"
"$out/downtimebench" -runc "$RUNC" -criu "$CRIU" -proxy "$out/ovlfix-criu" -hook "$out/ovlfix-hook" \
  -ovlfix "$out/ovlfix" -scanbench "$out/scanbench" -holder "$out/holder" \
  -rounds "$ROUNDS" -fds "$FDS" -work "$out" ${VERBOSE:+-v} ${OVLFIX_DOWNTIME_PHASES:+-phases -cpuprofile "$OVLFIX_DOWNTIME_PHASES"}
echo "bench-downtime: done; load:$(uptime | sed 's/.*load average://')"
