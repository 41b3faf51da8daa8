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
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
go test -count=1 -v ./... 2>&1 | tee "$log" | grep -E '^(=== RUN|    --- |--- |ok |FAIL|PASS|panic)' | grep -v '^=== RUN'
status=${PIPESTATUS[0]}
set -e
passed=$(grep -cE -- '--- PASS' "$log" || true)
failed=$(grep -cE -- '--- FAIL' "$log" || true)
skipped=$(grep -cE -- '--- SKIP' "$log" || true)
if [ "$skipped" -gt 0 ]; then
  echo "skipped tests:"; grep -E -A1 -- '--- SKIP' "$log" | grep -vE '^--$' | sed 's/^/  /'
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit "$status"
