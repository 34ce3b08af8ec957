#!/usr/bin/env bash
# Stops what bench/peers/redis-up.sh DIR started: every pid in DIR/pids, then waits for them to
# exit (SIGKILL after 20 s).
#
# Usage: bench/peers/redis-down.sh DIR
set -euo pipefail
. "$(dirname "$0")/common.sh"

dir=${1:?usage: $0 DIR}
stop_pids "$dir/pids"
echo "stopped"
