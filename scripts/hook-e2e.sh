#!/usr/bin/env bash
# hook-e2e.sh - end-to-end proof of `ovlfix hook` with real CRIU (Debian's
# criu 3.17.1) in a real Debian 6.1 kernel under qemu: builds ovlfix here,
# and the static watcher of tests/runc/testdata/watcher.c (the guest cannot
# compile quickly), then runs tests/lab/hook-inotify.sh, hook-nested.sh,
# hook-deleted.sh (plain criu --action-script), hook-runc.sh (runc through
# the proxy ovlfix-criu, the config route's abort, a fresh-root restore) and
# hook-podman.sh (Podman with runc through the proxy) inside the guest
# through ../shared/lab/run-kernel.sh. Prints each script's output (its PASS/FAIL
# lines) and one summary line per script; exits non-zero when any check
# failed or a script could not run.
# Usage: scripts/hook-e2e.sh [KERNEL [SCRIPT...]]
#   KERNEL  default 6.1; each script boots its own guest, 1-3 min on TCG
#   SCRIPT  names in tests/lab without .sh (default: all five), e.g.
#           scripts/hook-e2e.sh 6.1 hook-deleted
set -uo pipefail
cd "$(dirname "$0")/.."
LAB=${OVLFIX_LAB:-../shared/lab/run-kernel.sh}
[ -x "$LAB" ] || { echo "FAIL: $LAB not found (the shared lab sits beside the repo)"; exit 1; }
command -v criu >/dev/null && command -v crit >/dev/null ||
	{ echo "FAIL: criu and crit must be installed on the host (apt-get install criu): the guest runs the host's"; exit 1; }
kernel=${1:-6.1}
shift $(($# > 0 ? 1 : 0))
scripts=("$@")
[ ${#scripts[@]} -gt 0 ] || scripts=(hook-inotify hook-nested hook-deleted hook-runc hook-podman)
for t in "${scripts[@]}"; do
	[ -f "tests/lab/$t.sh" ] || { echo "FAIL: no tests/lab/$t.sh"; exit 1; }
done
share=$(mktemp -d /var/tmp/ovlfix-hook-e2e.XXXXXX)
trap 'rm -rf "$share"' EXIT
go build -o "$share/ovlfix" ./cmd/ovlfix || { echo "FAIL: go build"; exit 1; }
gcc -static -O2 -o "$share/watcher" tests/runc/testdata/watcher.c ||
	{ echo "FAIL: gcc -static tests/runc/testdata/watcher.c (needs gcc and libc6-dev)"; exit 1; }
# The guest sees the host read-only with a fresh /tmp (a clone may live
# there): run the scripts from the share, where lib.sh sits beside them.
cp -r tests/lab "$share/lab"
status=0
for t in "${scripts[@]}"; do
	echo "######## $t ($kernel)"
	"$LAB" -t 900 -s "$share" "$share/lab/$t.sh" "$kernel" 2>&1 | tee "$share/$t.out"
	rc=${PIPESTATUS[0]}
	passed=$(grep -c '^PASS: ' "$share/$t.out")
	failed=$(grep -c '^FAIL: ' "$share/$t.out")
	if [ "$rc" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; then
		echo "PASS: $t: $passed checks passed (exit $rc)"
	else
		echo "FAIL: $t: $passed passed, $failed failed (exit $rc)"
		status=1
	fi
done
exit $status
