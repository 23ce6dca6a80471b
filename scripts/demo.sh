#!/usr/bin/env bash
# The service on its embedded defaults plus a small simulated fleet; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f var/listening.json
.venv/bin/telediag serve &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server' EXIT
for _ in $(seq 100); do [ -f var/listening.json ] && break; sleep 0.1; done
.venv/bin/telediag-sim --devices 12 --interval 2 --duration 3600 --progress-every 10
