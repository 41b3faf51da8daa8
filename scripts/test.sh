#!/usr/bin/env bash
# The whole test suite: the README's test command and what CI runs.
# As root (CI, or `sudo`), live tests build real overlays in private mount
# namespaces and check real processes; without root they skip with a reason
# (and with CI=true a skip of such a test is a failure).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export GOFLAGS=-mod=readonly
go vet ./...
# 32-bit builds too (fdinfo picks fstatat64 there): ~1 s with a warm cache.
GOARCH=386 go vet ./...
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
go test -count=1 -v ./... 2>&1 | tee "$log" | grep -E '^(=== RUN|    --- |--- |ok |FAIL|PASS|panic)' | grep -v '^=== RUN'
status=${PIPESTATUS[0]}
set -e
passed=$(grep -cE -- '--- PASS' "$log" || true)
failed=$(grep -cE -- '--- FAIL' "$log" || true)
skipped=$(grep -cE -- '--- SKIP' "$log" || true)

# The same test binaries inside real 6.1 and 6.12 kernels (pre-6.8 maps,
# generic inotify handles), when the shared lab is beside the repo.
if [ -x ../shared/lab/run-kernel.sh ] && [ "$(id -u)" -eq 0 ]; then
  echo "lab: running the package tests inside Debian's 6.1 and 6.12 kernels"
  set +e
  ./scripts/lab-test.sh 2>&1 | tee "$log.lab"
  labstatus=${PIPESTATUS[0]}
  set -e
  [ "$labstatus" -eq 0 ] || status=1
  while read -r p f s; do
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  done < <(sed -n 's/^lab .*: \([0-9]*\) passed, \([0-9]*\) failed, \([0-9]*\) skipped$/\1 \2 \3/p' "$log.lab")
  rm -f "$log.lab"
  # `ovlfix hook` end to end with Debian's real criu 3.17.1 in 6.1.
  echo "lab: ovlfix hook with real CRIU (scripts/hook-e2e.sh)"
  set +e
  ./scripts/hook-e2e.sh 2>&1 | tee "$log.e2e" | grep -E '^(PASS|FAIL|########)'
  e2estatus=${PIPESTATUS[0]}
  set -e
  [ "$e2estatus" -eq 0 ] || status=1
  e2e_pass=$(sed -n 's/^PASS: hook-[a-z]*: \([0-9]*\) checks passed.*/\1/p' "$log.e2e" | awk '{s+=$1} END {print s+0}')
  e2e_fail=$(grep -c '^FAIL: ' "$log.e2e" || true)
  passed=$((passed + ${e2e_pass:-0})); failed=$((failed + e2e_fail))
  rm -f "$log.e2e"
elif [ "${CI:-}" = true ]; then
  echo "lab: ../shared/lab/run-kernel.sh missing or not root: CI must run the real-kernel tests" >&2
  status=1
else
  echo "lab: skipped (needs root and ../shared/lab beside the repo)"
fi
if [ "$skipped" -gt 0 ]; then
  echo "skipped tests:"; grep -E -A1 -- '--- SKIP' "$log" | grep -vE '^--$' | sed 's/^/  /'
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
