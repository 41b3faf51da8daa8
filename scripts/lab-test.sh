#!/usr/bin/env bash
# Run the package test binaries inside real Debian kernels (6.1: pre-6.8
# maps, generic inotify handles; 6.12) with ../shared/lab/run-kernel.sh,
# which boots each under qemu with this machine's filesystem read-only.
# Test binaries are built here; inside the guest they run from each
# package's directory of a copy of the tree (testdata is read relative to it).
# Usage: scripts/lab-test.sh [KERNEL...]   (default: 6.1 6.12)
set -euo pipefail
cd "$(dirname "$0")/.."
LAB=${OVLFIX_LAB:-../shared/lab/run-kernel.sh}
[ -x "$LAB" ] || { echo "lab-test: $LAB not found (the shared lab sits beside the repo)" >&2; exit 1; }
kernels=("$@"); [ ${#kernels[@]} -gt 0 ] || kernels=(6.1 6.12)
# OVLFIX_LAB_PKGS overrides the package list (e.g. to try one package).
read -r -a pkgs <<< "${OVLFIX_LAB_PKGS:-resolve fdinfo dump mountns proto quirks fixup hook}"
share=$(mktemp -d /var/tmp/ovlfix-lab.XXXXXX)
trap 'rm -rf "$share"' EXIT
for p in "${pkgs[@]}"; do go test -c -o "$share/$p.test" "./$p"; done
# The guest sees the host read-only but with a fresh /tmp, and the clone may
# live there: give the tests a copy of the tracked tree (their testdata).
mkdir -p "$share/tree"
git ls-files -z | tar --null -c -T - | tar -x -C "$share/tree"
cat > "$share/run.sh" <<GUEST
#!/bin/sh
rc=0
for p in ${pkgs[*]}; do
  cd "\$LAB_SHARE/tree/\$p" || exit 1
  out="\$LAB_SHARE/out-\$p.txt"
  "\$LAB_SHARE/\$p.test" -test.count=1 -test.v > "\$out" 2>&1 || rc=1
  echo "lab \$(uname -r) \$p: \$(grep -c -- '--- PASS' "\$out") passed, \$(grep -c -- '--- FAIL' "\$out") failed, \$(grep -c -- '--- SKIP' "\$out") skipped"
  grep -B1 -A8 -- '--- FAIL' "\$out" | head -40
  grep -h 'kernel maps' "\$out" | sed 's/^ */  /' | head -6
done
exit \$rc
GUEST
chmod +x "$share/run.sh"
status=0
for k in "${kernels[@]}"; do
  "$LAB" -q -t 900 -s "$share" "$share/run.sh" "$k" || status=1
done
exit $status
