#!/bin/sh
# Run capture.py inside a lab kernel:  run-kernel.sh -s SHARE capture-lab.sh 6.1
# The fixtures land in SHARE/out.
set -e
mkdir -p "$LAB_SHARE/out"
exec unshare -m --propagation private /usr/bin/python3 "$LAB_SCRIPT_DIR/capture.py" "$LAB_SHARE/out"
