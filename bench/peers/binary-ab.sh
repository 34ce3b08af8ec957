#!/usr/bin/env bash
# Before/after A/B of two `dynamo` binaries (e.g. two commits' release builds) on the same
# local 3-node cluster layout and the same loadgen workload, in alternating rounds, so that
# a ratio measured side by side says whether a change made the request path slower.
#
#   usage: bench/peers/binary-ab.sh A_BIN B_BIN
#   env:   ROUNDS=3 DUR=15s ENGINE=lsm CLIENTS=32 READS=0.5 RATE=<ops/s, open loop> OUT=/tmp/binary-ab
#          A_ARGS, B_ARGS: more flags of `dynamo up` for each side (e.g. "--shards 2")
#
# Needs the release loadgen of this tree (cargo build --release --bin loadgen); A_BIN and
# B_BIN are `dynamo` binaries (build the other commit in its own directory and target dir).
# Prints one line per run and writes each run's loadgen JSON under $OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
A=${1:?usage: binary-ab.sh A_BIN B_BIN}
B=${2:?usage: binary-ab.sh A_BIN B_BIN}
OUT=${OUT:-/tmp/binary-ab}
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-15s}
ENGINE=${ENGINE:-lsm}
CLIENTS=${CLIENTS:-32}
READS=${READS:-0.5}
LOADGEN=target/release/loadgen
mkdir -p "$OUT"
UP=
stop() { [ -n "$UP" ] && kill "$UP" 2>/dev/null && wait "$UP" 2>/dev/null; UP=; }
trap stop EXIT
NODES=http://127.0.0.1:8001,http://127.0.0.1:8002,http://127.0.0.1:8003
for r in $(seq 1 "$ROUNDS"); do
  for side in A B; do
    bin=$A; args=${A_ARGS:-}
    [ "$side" = B ] && bin=$B && args=${B_ARGS:-}
    rm -rf "$OUT/cluster"
    # shellcheck disable=SC2086 # the flags are words
    "$bin" up --engine "$ENGINE" --data-dir "$OUT/cluster" --log warn $args > "$OUT/up.log" 2>&1 &
    UP=$!
    for _ in $(seq 1 150); do grep -q "Try it" "$OUT/up.log" && break; sleep 0.2; done
    grep -q "Try it" "$OUT/up.log" || { echo "cluster of $bin did not start"; cat "$OUT/up.log"; exit 1; }
    PIDS=$(pgrep -f "node --config $OUT/cluster" | paste -sd,)
    "$LOADGEN" --nodes "$NODES" --clients "$CLIENTS" --duration "$DUR" --warmup 3s \
      --keys 10000 --value-size 1024 --read-ratio "$READS" --preload --seed "$r" \
      ${RATE:+--rate "$RATE"} --cpu-pids "$PIDS" --json > "$OUT/run-$r-$side.json" 2> "$OUT/run-$r-$side.err"
    stop
    python3 - "$OUT/run-$r-$side.json" "$r" "$side" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
g, p = d["get"]["latency_us"], d["put"]["latency_us"]
print(f"round {sys.argv[2]} {sys.argv[3]} ops/s {d['ops_per_sec']:8.0f} errors {d['errors']['total']:3} "
      f"get p50/p99/p99.9 us {g['p50']}/{g['p99']}/{g['p999']} put p50/p99/p99.9 us {p['p50']}/{p['p99']}/{p['p999']} "
      f"node_cpu/op {d['node_cpu_us_per_op']}")
PY
  done
done
