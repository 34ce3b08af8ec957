#!/usr/bin/env bash
# Starts a 3-rack Dynomite cluster on loopback: one datacenter (dc1), racks rack1..rack3 with one
# node each, every node in front of its own redis-server (no persistence). All three nodes hold
# the same token, so each rack holds a full copy of the data, and reads and writes wait for a
# quorum of the datacenter's racks (DC_QUORUM: 2 of 3).
#
# Usage: bench/peers/dynomite-up.sh DIR [BASEPORT]      (default BASEPORT 22100)
#
# Ports, for node i = 0, 1, 2: redis BASEPORT+i, dynomite client (RESP) BASEPORT+10+i, dynomite
# peer BASEPORT+20+i, dynomite stats (HTTP) BASEPORT+30+i. Configs, logs, DIR/pids (every
# process: three dynomite, three redis), DIR/ports (the client ports) and DIR/store-ports (the
# redis ports) are written in DIR.
# Stop it with bench/peers/dynomite-down.sh DIR.
#
# Environment: DYNOMITE, the dynomite binary (default target/peers/dynomite/bin/dynomite, else
# dynomite on the PATH; build it with bench/peers/build-dynomite.sh); REDIS_SERVER, the
# redis-server binary (default: on the PATH).
set -euo pipefail
. "$(dirname "$0")/common.sh"

dir=${1:?usage: $0 DIR [BASEPORT]}
base=${2:-22100}
dynomite=${DYNOMITE:-target/peers/dynomite/bin/dynomite}
if [ ! -x "$dynomite" ]; then
    dynomite=$(command -v dynomite || true)
fi
if [ -z "$dynomite" ]; then
    echo "$0: no dynomite binary (run bench/peers/build-dynomite.sh, or set DYNOMITE)" >&2
    exit 1
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
check_not_running "$dir"
trap 'echo "$0: failed; stopping what started" >&2; stop_pids "$dir/pids"' ERR

token=12345678
racks=(rack1 rack2 rack3)
client_ports=()

for i in 0 1 2; do
    start_redis "$dir" $((base + i))
done
for i in 0 1 2; do
    wait_for_ping 127.0.0.1 $((base + i))
done

for i in 0 1 2; do
    conf="$dir/dynomite-${racks[i]}.yml"
    {
        echo "# Written by bench/peers/dynomite-up.sh: node $((i + 1)) of 3, ${racks[i]} of dc1."
        echo "dyn_o_mite:"
        echo "  datacenter: dc1"
        echo "  rack: ${racks[i]}"
        echo "  listen: 127.0.0.1:$((base + 10 + i))"
        echo "  dyn_listen: 127.0.0.1:$((base + 20 + i))"
        echo "  stats_listen: 127.0.0.1:$((base + 30 + i))"
        echo "  dyn_seeds:"
        for j in 0 1 2; do
            if [ "$j" -ne "$i" ]; then
                echo "  - 127.0.0.1:$((base + 20 + j)):${racks[j]}:dc1:$token"
            fi
        done
        echo "  tokens: '$token'"
        echo "  servers:"
        echo "  - 127.0.0.1:$((base + i)):1"
        echo "  data_store: 0"
        echo "  read_consistency: DC_QUORUM"
        echo "  write_consistency: DC_QUORUM"
    } >"$conf"
    "$dynomite" -t -c "$conf" >"$dir/dynomite-${racks[i]}.test.log" 2>&1 || {
        cat "$dir/dynomite-${racks[i]}.test.log" >&2
        false
    }
    "$dynomite" -c "$conf" -o "$dir/dynomite-${racks[i]}.log" </dev/null >/dev/null 2>&1 &
    echo $! >>"$dir/pids"
    client_ports+=($((base + 10 + i)))
done
for port in "${client_ports[@]}"; do
    wait_for_ping 127.0.0.1 "$port"
done

# Answering PING is not being ready: a node connects to its peers lazily, and one started before
# the others retries only after a while, failing quorum requests until then. Ready is: a write
# through each node reaches all three redis servers.
echo "waiting for the nodes to connect to each other..." >&2
for ((t = 0; ; t++)); do
    ready=1
    for i in 0 1 2; do
        [ "$(resp_call 127.0.0.1 $((base + 10 + i)) SET "bench-peers-probe-$i" x)" = "OK" ] || ready=0
    done
    for i in 0 1 2; do
        for j in 0 1 2; do
            [ "$(resp_call 127.0.0.1 $((base + j)) EXISTS "bench-peers-probe-$i")" = "1" ] || ready=0
        done
    done
    [ "$ready" -eq 1 ] && break
    if [ "$t" -ge 600 ]; then
        echo "$0: the nodes did not all connect to each other within 60 s; see $dir/*.log" >&2
        false
    fi
    sleep 0.1
done
for j in 0 1 2; do
    resp_call 127.0.0.1 $((base + j)) DEL bench-peers-probe-0 bench-peers-probe-1 bench-peers-probe-2 >/dev/null
done

echo "${client_ports[*]}" >"$dir/ports"
echo "$base $((base + 1)) $((base + 2))" >"$dir/store-ports"
echo "dynomite up: 3 racks of dc1, DC_QUORUM, data in $dir (pids: $(tr '\n' ' ' <"$dir/pids"))"
echo "client ports: ${client_ports[*]}"
