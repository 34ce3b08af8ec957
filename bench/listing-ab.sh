#!/bin/bash
# Listing's effect on a concurrent loadgen run (issue 13): 3-node `dynamo up`, loadgen with and
# without a `dynamo ls` loop over a 10,000-key bucket.
set -u
# Build first: cargo build --release --bin dynamo --bin loadgen
B=${CARGO_TARGET_DIR:-target}/release
D=${TMPDIR:-/tmp}/listing-ab-lg-data
rm -rf $D
$B/dynamo up --data-dir $D --http-port 18301 --peer-port 19301 --binary-port 17301 > ${TMPDIR:-/tmp}/listing-ab-up.log 2>&1 < <(sleep 100000) &
UP=$!
NODES=http://127.0.0.1:18301,http://127.0.0.1:18302,http://127.0.0.1:18303
for i in $(seq 1 100); do curl -sf http://127.0.0.1:18303/ping >/dev/null && break; sleep 0.3; done
sleep 3
# the bucket listed: 10,000 keys of 1 KiB
$B/loadgen --nodes $NODES --clients 32 --duration 1s --warmup 0s --keys 10000 --value-size 1024 --bucket lsb --preload > ${TMPDIR:-/tmp}/listing-ab-preload.log 2>&1
$B/dynamo ls lsb --node http://127.0.0.1:18301 | wc -l
run() { # $1 = bucket
  $B/loadgen --nodes $NODES --clients 32 --duration 20s --warmup 3s --keys 10000 --value-size 1024 \
    --read-ratio 0.5 --bucket $1 --preload
}
echo "=== A: loadgen alone"; run lgA
echo "=== B: loadgen with a dynamo ls loop"
( n=0; while true; do $B/dynamo ls lsb --node http://127.0.0.1:18301 > /dev/null || echo ls-failed; n=$((n+1)); echo $n > ${TMPDIR:-/tmp}/listing-ab-ls-count; done ) &
LS=$!
sleep 1
run lgB
kill $LS; wait $LS 2>/dev/null
echo "listings completed during B (incl. preload phase): $(cat ${TMPDIR:-/tmp}/listing-ab-ls-count)"
echo "=== A2: loadgen alone again"; run lgA2
kill -INT $UP; wait $UP
