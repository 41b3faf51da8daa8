# lib.sh - helpers shared by the hook end-to-end scripts of this directory.
# Sourced inside the kernel lab's guest (../../scripts/hook-e2e.sh runs them
# through ../shared/lab/run-kernel.sh); needs bash, python3, criu, crit.
OUT=${LAB_SHARE:?run me with run-kernel.sh (scripts/hook-e2e.sh)}
OVLFIX=${OVLFIX:-$OUT/ovlfix}
FAILED=0

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; FAILED=1; }
# check DESCRIPTION COMMAND...: PASS when the command succeeds
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
step() { echo; echo "== $*"; }

# The hook as CRIU's action-script: a symlink named ovlfix-hook (the name
# makes ovlfix run `hook`). /tmp is the guest's writable tmpfs.
setup_hook() {
	[ -x "$OVLFIX" ] || { echo "FAIL: no ovlfix binary at $OVLFIX"; exit 1; }
	mkdir -p /tmp/bin && ln -sf "$OVLFIX" /tmp/bin/ovlfix-hook
	HOOK=/tmp/bin/ovlfix-hook
	echo "kernel: $(uname -r)"
	criu --version | head -1
}

# criu_log_lines LOG: the lines of a CRIU log worth showing
criu_log_lines() {
	grep -E 'ovlfix-hook|irmap|Irmap|fsnotify|Error|cannot|Can.t|Pre dump|Post dump|Running .* scripts' "$1" | grep -v 'Refresh stat\|Refilling\|Scanning .* hint' | head -${2:-40}
}

# wait_pidfile FILE: wait until FILE holds a pid, print it
wait_pidfile() {
	for _ in $(seq 200); do [ -s "$1" ] && break; sleep 0.1; done
	cat "$1" 2>/dev/null
}

# sha_tree DIR: one checksum of every file's name and content in DIR
sha_tree() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1); }

# irmap_has FILE DEV INODE PATH: crit decodes FILE to an irmap-cache holding
# exactly that entry
irmap_has() {
	crit decode -i "$1" | python3 -c '
import json, sys
dev, ino, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
es = json.load(sys.stdin)["entries"]
sys.exit(0 if any(e["dev"] == dev and e["inode"] == ino and e["path"] == path for e in es) else 1)' "$2" "$3" "$4"
}
