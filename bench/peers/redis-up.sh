#!/usr/bin/env bash
# Starts one redis-server on 127.0.0.1:PORT (no persistence), the 1-node baseline of the cluster
# comparison. Its config, log and pid file (DIR/pids) live in DIR; DIR/ports and
# DIR/store-ports get the port.
# Stop it with bench/peers/redis-down.sh DIR.
#
# Usage: bench/peers/redis-up.sh DIR [PORT]      (default PORT 22200)
# Environment: REDIS_SERVER, the redis-server binary (default: redis-server on the PATH).
set -euo pipefail
. "$(dirname "$0")/common.sh"

dir=${1:?usage: $0 DIR [PORT]}
port=${2:-22200}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
check_not_running "$dir"
trap 'echo "$0: failed; stopping what started" >&2; stop_pids "$dir/pids"' ERR

start_redis "$dir" "$port"
wait_for_ping 127.0.0.1 "$port"
echo "$port" >"$dir/ports"
echo "$port" >"$dir/store-ports"
echo "redis up: 127.0.0.1:$port (pid $(cat "$dir/pids"))"
echo "client ports: $port"
