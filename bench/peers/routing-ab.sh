#!/usr/bin/env bash
# A/B of loadgen --routing any vs partition-aware on a local 4-node cluster (N=3, R=W=2), in
# alternating rounds (BENCHMARKS.md, "Client-driven against server-driven coordination").
# Needs the release binaries: cargo build --release --bin dynamo --bin loadgen
#   usage: ROUNDS=2 DUR=10s ENGINE=lsm bench/peers/routing-ab.sh
# RATE=<ops/s> runs an open loop at that rate (latency from each operation's intended start),
# which compares the routings' tails below saturation rather than their queues at it.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/routing-ab}
mkdir -p "$OUT"
BIN=target/release
ROUNDS=${ROUNDS:-2}
DUR=${DUR:-15s}
ENGINE=${ENGINE:-lsm}
rm -rf $OUT/cluster
$BIN/dynamo up --nodes 4 --engine $ENGINE --data-dir $OUT/cluster --log warn > $OUT/up.log 2>&1 &
UP=$!
trap 'kill $UP 2>/dev/null; wait $UP 2>/dev/null' EXIT
for i in $(seq 1 100); do grep -q "Try it" $OUT/up.log && break; sleep 0.2; done
PIDS=$(pgrep -f "dynamo node --config $OUT/cluster" | paste -sd,)
NODES=http://127.0.0.1:8001,http://127.0.0.1:8002,http://127.0.0.1:8003,http://127.0.0.1:8004
for r in $(seq 1 $ROUNDS); do
  for routing in any partition-aware; do
    $BIN/loadgen --nodes $NODES --routing $routing --clients 32 --duration $DUR --warmup 3s \
      --keys 10000 --value-size 1024 --read-ratio 0.5 --preload --seed $r --bucket "r$r-$routing" \
      ${RATE:+--rate $RATE} --cpu-pids $PIDS --json > $OUT/routing-$r-$routing.json 2>$OUT/routing-$r-$routing.err
    python3 - "$r" "$routing" "$OUT" <<'PY'
import json,sys
d=json.load(open(f"{sys.argv[3]}/routing-{sys.argv[1]}-{sys.argv[2]}.json"))
g,p=d["get"],d["put"]
print(f"round {sys.argv[1]} {sys.argv[2]:16} ops/s {d['ops_per_sec']:8.0f} errors {d['errors']['total']:3} "
      f"get p50us {g['latency_us']['p50']} p99.9 {g['latency_us']['p999']} put p50us {p['latency_us']['p50']} p99.9 {p['latency_us']['p999']} "
      f"forwards {d['forwards']} node_cpu/op {d['node_cpu_us_per_op']} loadgen_cpu/op {d['loadgen_cpu_us_per_op']}")
PY
  done
done
