#!/usr/bin/env bash
# Installs redis-server (and redis-cli) from the Debian package when `redis-server` is not on the
# PATH. Idempotent: does nothing when it is.
#
# Usage: bench/peers/install-redis.sh
set -euo pipefail
. "$(dirname "$0")/common.sh"

if command -v redis-server >/dev/null 2>&1; then
    echo "redis-server present: $(command -v redis-server) ($(redis-server --version | head -1))"
    exit 0
fi
apt_install redis-server redis-tools
# The package may start a system-wide redis on port 6379; the benchmark scripts start their
# own processes on other ports and do not use it.
echo "redis-server installed: $(command -v redis-server) ($(redis-server --version | head -1))"
