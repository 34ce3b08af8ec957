#!/usr/bin/env bash
# CI's fuzz step (see FUZZING.md): builds every fuzz target once, then runs each for a few
# seconds on its committed corpus, so that a decoder change that makes an old input crash, or
# one the mutations reach quickly, fails CI. The long campaign is run by hand.
#
#   FUZZ_SECONDS   seconds per target (default 5)
#
# Installs what it needs when missing: the nightly toolchain (minimal profile) and cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-5}"

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# No sanitizer: the crates under test have no unsafe code, and without AddressSanitizer the
# build is smaller and the targets run several times faster (src/lib.rs bounds allocations
# instead). 16 codegen units: a shorter build for short runs. Debug assertions and overflow
# checks stay on (cargo fuzz's default).
build=(-s none --codegen-units 16)

cargo +nightly fuzz build "${build[@]}"

# New inputs go to a scratch directory, never into the committed corpora.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

failed=()
for target in $(cargo +nightly fuzz list); do
    echo "--- fuzz: $target (${seconds}s on corpus/$target)"
    mkdir -p "$scratch/$target"
    if ! cargo +nightly fuzz run "${build[@]}" "$target" "$scratch/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 2>"$scratch/$target.log"; then
        # The panic (or libFuzzer's error), then where the input went and how to replay it.
        grep -m 1 -A 6 -E 'panicked at|ERROR: libFuzzer' "$scratch/$target.log" || true
        tail -n 25 "$scratch/$target.log"
        failed+=("$target")
    else
        grep -E '^(#[0-9]+[[:space:]]+DONE|Done )' "$scratch/$target.log" || true
    fi
done

if ((${#failed[@]})); then
    echo "fuzz: crashes in: ${failed[*]} (reproducers under fuzz/artifacts/<target>/;" \
        "cargo +nightly fuzz run ${build[*]} <target> <file> replays one)" >&2
    exit 1
fi
echo "fuzz: every target ran ${seconds}s on its corpus without a crash"
