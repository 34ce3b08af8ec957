#!/usr/bin/env bash
# Stops what bench/peers/dynomite-up.sh DIR started (the three dynomite and three redis
# processes): every pid in DIR/pids, then waits for them to exit (SIGKILL after 20 s).
#
# Usage: bench/peers/dynomite-down.sh DIR
set -euo pipefail
. "$(dirname "$0")/common.sh"

dir=${1:?usage: $0 DIR}
stop_pids "$dir/pids"
echo "stopped"
