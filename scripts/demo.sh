#!/usr/bin/env bash
# make demo: runs the mesh on this machine with sample services and traffic (needs root).
# DEMO_SECONDS (30): how long part one (when run in a terminal; Enter goes on) and part two stay up.
# Each part runs on its own: a failed one is one line naming its log (under $TMPDIR/nodemesh-demo-*/),
# the next one still runs, and the exit status is 1 at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then echo "make demo needs root (cgroup2, bpffs, eBPF programs)" >&2; exit 1; fi
exec "$(cat .tools/node-path)" dist/scripts/demo.js "$@"
