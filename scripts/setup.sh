#!/usr/bin/env bash
# Install what ovlfix's tests need, idempotently: Debian's criu (for crit,
# CRIU's own image reader, criu itself for the lab tests, and the shared
# libraries ../shared/criu/4.2/criu needs for tests/criuhost), gcc (the
# benchmark's C holder and floor programs) with a static libc (libc6-dev:
# tests/criuhost's holder runs inside a pivot_root'ed root), nsenter
# (util-linux), for tests/podman Podman with runc (crun, Podman's default,
# cannot checkpoint here), Debian's static busybox (the test image's shell)
# and zstd (reads Podman's default archives), and the Go modules pinned in
# go.sum (so that no test touches the network). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v crit >/dev/null 2>&1 || need+=(criu)
command -v gcc  >/dev/null 2>&1 || need+=(gcc)
# gcc -static needs libc.a; gcc prints the bare name when it has none
command -v gcc  >/dev/null 2>&1 && [ -e "$(gcc -print-file-name=libc.a)" ] || need+=(libc6-dev)
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc   >/dev/null 2>&1 || need+=(runc)
command -v zstd   >/dev/null 2>&1 || need+=(zstd)
command -v strace >/dev/null 2>&1 || need+=(strace)   # cmd/ovlfix: what an unused hook action opens
# the static build: Debian's busybox package has a dynamic /bin/busybox
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing ${need[*]}; run as root or: sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v go >/dev/null 2>&1 || { echo "setup: Go is not installed (https://go.dev/doc/install)" >&2; exit 1; }
go mod download
# checkpointctl (pinned in tools/checkpointctl/go.mod, a module of its own),
# for tests/podman's run of ovlfix as its plugin; rebuilt only when missing
# or older than its go.mod.
cctl=tools/checkpointctl/bin/checkpointctl
if [ ! -x "$cctl" ] || [ tools/checkpointctl/go.mod -nt "$cctl" ]; then
  (cd tools/checkpointctl && go build -o bin/checkpointctl github.com/checkpoint-restore/checkpointctl)
fi
echo "setup: ok ($(go version | cut -d' ' -f3), $(crit --help >/dev/null 2>&1 && echo crit present))"
