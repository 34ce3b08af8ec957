#!/usr/bin/env bash
# Instructions per operation, adapter beside raw crate, counted by callgrind: a measure that
# other processes on the machine cannot disturb, to tell an adapter's own overhead from noise.
#
#   bench/callgrind-ops.sh [engine...]        (default: lmdb lsm redb mem)
#
# Each figure runs `engine-ops` twice under callgrind with two operation counts and divides the
# difference in instructions by the difference in counts, so that preloading the store cancels
# out. Needs valgrind. Uses CARGO_TARGET_DIR (default /work/target-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-bench}"
# valgrind cannot map LMDB's default 1 TiB map: give every store a 4 GiB limit instead.
export BENCH_MAX_SIZE_BYTES="${BENCH_MAX_SIZE_BYTES:-4294967296}"
cargo build -q --profile bench -p bench --bin engine-ops
ops="$CARGO_TARGET_DIR/release/engine-ops"

instructions() {
    local out
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" "$ops" "$@" 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
    rm -f "$out"
}

per_op() { # engine variant workload n1 n2
    local a b
    a=$(instructions "$1" "$2" "$3" "$4")
    b=$(instructions "$1" "$2" "$3" "$5")
    echo $(((b - a) / ($5 - $4)))
}

engines=("$@")
[ ${#engines[@]} -eq 0 ] && engines=(lmdb lsm redb mem)
echo "| workload | engine | adapter Ir/op | raw Ir/op | raw ÷ adapter |"
echo "|---|---|---:|---:|---:|"
for workload in reads reads_1k scans writes batch_writes; do
    case $workload in
        reads | reads_1k) n1=100000 n2=200000 ;;
        scans) n1=50000 n2=100000 ;;
        writes) n1=500 n2=1500 ;;
        batch_writes) n1=10 n2=30 ;;
    esac
    for engine in "${engines[@]}"; do
        adapter=$(per_op "$engine" adapter "$workload" $n1 $n2)
        raw=$(per_op "$engine" raw "$workload" $n1 $n2)
        ratio=$(awk -v a="$adapter" -v r="$raw" 'BEGIN { printf "%.2f", r / a }')
        echo "| $workload | $engine | $adapter | $raw | $ratio |"
    done
done
