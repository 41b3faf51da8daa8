#!/usr/bin/env bash
# Every fuzz target of the repository, one at a time, SECONDS each.
#
# Finds each `func FuzzXxx(f *testing.F)` in the *_test.go files (per
# package), runs
#   go test -run '^$' -fuzz '^FuzzXxx$' -fuzztime ${SECONDS}s ./pkg/
# and prints one line per target: result, name, package, exec count and
# the fuzzer's new interesting inputs. A finding (a failing input, which go
# writes to pkg/testdata/fuzz/FuzzXxx/ as a regression seed) or a target
# that does not build makes the script exit 1, after all targets ran; its
# log tail and the input's path are printed.
#
# Not part of CI (scripts/test.sh runs the seed corpora as ordinary tests).
# FUZZ_PARALLEL sets go test -parallel (default: GOMAXPROCS workers).
# Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
S=${1:-60}
case $S in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2 ;; esac
logs=$(mktemp -d /tmp/ovlfix-fuzz.XXXXXX)
trap 'rm -rf "$logs"' EXIT
par=()
[ -n "${FUZZ_PARALLEL:-}" ] && par=(-parallel "$FUZZ_PARALLEL")

# "dir name" for every target, sorted; vendored and hidden trees skipped.
mapfile -t targets < <(
  grep -rE --include='*_test.go' --exclude-dir=vendor --exclude-dir='.?*' \
    '^func Fuzz[A-Za-z0-9_]*\(' . |
    sed -E 's|^\./(.*)/[^/]*:func (Fuzz[A-Za-z0-9_]*)\(.*|\1 \2|; s|^\./[^/]*:func (Fuzz[A-Za-z0-9_]*)\(.*|. \1|' |
    sort -u
)
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no fuzz targets found" >&2; exit 1; }
echo "fuzz: ${#targets[@]} targets, ${S}s each, $(nproc) cores, $(go version | cut -d' ' -f3)"

failed=0
for t in "${targets[@]}"; do
  dir=${t% *}; name=${t#* }
  log="$logs/$name.log"
  start=$(date +%s)
  set +e
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "${S}s" -timeout "$((S + 600))s" "${par[@]}" "./$dir/" >"$log" 2>&1
  rc=$?
  set -e
  took=$(($(date +%s) - start))
  # The fuzzer's last progress line: "fuzz: elapsed: 1m0s, execs: 1234 (20/sec), new interesting: 5 (total: 9)".
  progress=$(grep -E '^fuzz: elapsed: .*execs: ' "$log" | tail -1 || true)
  execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$progress")
  fresh=$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$progress")
  if [ "$rc" -eq 0 ]; then
    printf 'PASS  %-28s ./%-10s %4ss  execs=%s  new-interesting=%s\n' "$name" "$dir" "$took" "${execs:-?}" "${fresh:-?}"
    continue
  fi
  failed=1
  input=$(sed -nE 's/.*Failing input written to (.*)$/\1/p' "$log" | tail -1)
  [ -n "$input" ] && input="$dir/$input"
  printf 'FAIL  %-28s ./%-10s %4ss  execs=%s  input=%s\n' "$name" "$dir" "$took" "${execs:-?}" "${input:-none (see log)}"
  sed 's/^/    | /' "$log" | tail -25
  [ -n "$input" ] && [ -f "$input" ] && sed 's/^/    > /' "$input"
done
exit $failed
