#!/usr/bin/env bash
# The scaling curve of issue "Many cores": our 3-node cluster at several shard counts per node
# (`dynamo up --shards N`), then Netflix Dynomite over redis and a single redis-server, under
# the same closed-loop workload, in one run; a CSV line per run and an SVG of ops/s against
# shards (the peers and the 124,000 ops/s target as horizontal lines). See bench/MANY-CORES.md.
#
# Two steps, on two machines:
#
#   bench/many-cores.sh --prepare [DIR]   on the dev machine (Rust, network): builds the release
#                                         binaries, strips them and copies them, the peers'
#                                         binaries and the libraries these need, and the peers'
#                                         scripts into DIR (default bench/.many-cores-bin).
#   bench/many-cores.sh OUTDIR            on the measuring machine (no Rust, no network needed):
#                                         runs everything from the prepared directory ($BIN_DIR,
#                                         default bench/.many-cores-bin, or the directory of this
#                                         script when it holds the binaries) and writes
#                                         OUTDIR/many-cores.csv and OUTDIR/many-cores.svg.
#
# Environment of the run (defaults: the issue's workload; one round takes about 3 min on 16
# cores): SHARDS=1,2,4,8 (empty: no shard count at all) DUR=20s WARMUP=3s ROUNDS=1 CLIENTS=64
# READS=0.5 ENGINE=lsm DURABILITY=all PROTOCOL=binary KEYS=10000 VALUE_SIZE=1024
# SYSTEMS=ours,dynomite,redis TARGET=124000 FIRST_PORT=24000 WORK_DIR=<a new directory in /tmp>.
#
# Environment of --prepare: CARGO_TARGET_DIR (honoured), DYNAMO (a dynamo binary to take instead
# of building one), REDIS_SERVER (default: redis-server on the PATH, installed with
# bench/peers/install-redis.sh when missing), DYNOMITE (default target/peers/dynomite/bin/dynomite,
# built with bench/peers/build-dynomite.sh when missing; DYNOMITE_SRC is passed on to it).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
prog=$(basename "$0")
say() { echo "$prog: $*" >&2; }
die() {
    say "$*"
    exit 1
}

# The libraries every Debian or Ubuntu has, which must match its glibc: never copied. glibc's
# own, and GCC's runtime (libgcc_s, libstdc++: apt itself needs them), whose copies from here
# would need this machine's newer glibc.
is_base() {
    case "$(basename "$1")" in
    linux-vdso.so* | ld-linux*.so* | libc.so.* | libm.so.* | libdl.so.* | libpthread.so.* | \
        librt.so.* | libresolv.so.* | libutil.so.* | libanl.so.* | libnsl.so.* | libmvec.so.* | \
        libgcc_s.so.* | libstdc++.so.*)
        return 0
        ;;
    esac
    return 1
}

# The newest GLIBC_x.y symbol version the ELF files given need (empty when none).
glibc_needed() {
    local f
    for f in "$@"; do
        objdump -T "$f" 2>/dev/null | grep -o 'GLIBC_[0-9][0-9.]*' || true
    done | sed 's/GLIBC_//' | sort -V | tail -1
}

# Writes an executable wrapper DIR/NAME that runs DIR/libexec/NAME with DIR/lib first in the
# library path (exec: the wrapper's pid becomes the program's, as the peers' scripts expect).
write_wrapper() {
    local dir=$1 name=$2
    cat >"$dir/$name" <<WRAP
#!/bin/sh
# Written by bench/many-cores.sh --prepare: runs the copy of $name beside this file with the
# shared libraries it was built against (lib/), which a bare machine may lack.
here=\$(cd "\$(dirname "\$0")" && pwd)
LD_LIBRARY_PATH="\$here/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
exec "\$here/libexec/$name" "\$@"
WRAP
    chmod +x "$dir/$name"
}

# Copies into DIR/lib the shared libraries (but the base system's) that ELF file FILE loads, as
# ldd finds them here.
copy_libs() {
    local dir=$1 file=$2 lib
    mkdir -p "$dir/lib"
    while read -r lib; do
        [ -n "$lib" ] || continue
        is_base "$lib" && continue
        cp -L "$lib" "$dir/lib/$(basename "$lib")"
    done < <(ldd "$file" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')
}

prepare() {
    local dir=${1:-$here/.many-cores-bin}
    local root
    root=$(cd "$here/.." && pwd)
    # Paths given relative to where it was started, before moving to the workspace root.
    [[ $dir == /* ]] || dir=$PWD/$dir
    if [ -n "${DYNAMO:-}" ] && [[ $DYNAMO != /* ]]; then DYNAMO=$PWD/$DYNAMO; fi
    if [ -n "${DYNOMITE:-}" ] && [[ $DYNOMITE != /* ]]; then DYNOMITE=$PWD/$DYNOMITE; fi
    if [ -n "${DYNOMITE_SRC:-}" ] && [[ $DYNOMITE_SRC != /* ]]; then export DYNOMITE_SRC=$PWD/$DYNOMITE_SRC; fi
    cd "$root"
    command -v strip >/dev/null || die "no strip (apt-get install binutils)"
    command -v objdump >/dev/null || die "no objdump (apt-get install binutils)"
    local target=${CARGO_TARGET_DIR:-$root/target}
    local rel=$target/release
    local missing=()

    # Our binaries.
    local dynamo=${DYNAMO:-}
    if [ -z "$dynamo" ]; then
        say "building dynamo (release; target dir $target)"
        cargo build --release --bin dynamo
        dynamo=$rel/dynamo
    else
        say "taking dynamo from DYNAMO=$dynamo (not building it)"
        [ -x "$dynamo" ] || die "DYNAMO=$dynamo is not an executable"
    fi
    say "building loadgen, cluster-compare, scaling-svg (release)"
    cargo build --release -p bench --bin loadgen --bin cluster-compare --bin scaling-svg

    # The peers: installed or built here when missing.
    local redis=${REDIS_SERVER:-}
    if [ -z "$redis" ]; then
        if ! command -v redis-server >/dev/null 2>&1; then
            say "no redis-server: installing it (bench/peers/install-redis.sh)"
            bench/peers/install-redis.sh >&2 || say "WARNING: install-redis.sh failed"
        fi
        redis=$(command -v redis-server || true)
    fi
    if [ -n "$redis" ]; then
        redis=$(readlink -f "$redis")
    else
        missing+=("redis-server (bench/peers/install-redis.sh could not install it; set REDIS_SERVER)")
    fi
    local dynomite=${DYNOMITE:-target/peers/dynomite/bin/dynomite}
    if [ ! -x "$dynomite" ]; then
        if [ -n "${DYNOMITE:-}" ]; then
            say "WARNING: DYNOMITE=$DYNOMITE is not an executable"
        else
            say "no $dynomite: building it (bench/peers/build-dynomite.sh${DYNOMITE_SRC:+, DYNOMITE_SRC=$DYNOMITE_SRC})"
            bench/peers/build-dynomite.sh >&2 || say "WARNING: build-dynomite.sh failed"
        fi
    fi
    if [ ! -x "$dynomite" ]; then
        missing+=("dynomite (bench/peers/build-dynomite.sh could not build it: it needs the source, from DYNOMITE_SRC or a clone of github.com/Netflix/dynomite, and apt-get for its build tools)")
        dynomite=
    fi

    # The directory: emptied only when it is one of ours (or new, or empty).
    if [ -e "$dir" ] && [ ! -f "$dir/MANIFEST" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
        die "$dir exists and is not a prepared directory (no MANIFEST): not emptying it"
    fi
    rm -rf "$dir"
    mkdir -p "$dir/peers" "$dir/libexec" "$dir/lib"
    dir=$(cd "$dir" && pwd)

    local name
    for name in loadgen cluster-compare scaling-svg; do
        strip -o "$dir/$name" "$rel/$name"
    done
    strip -o "$dir/dynamo" "$dynamo"
    cp "$here/many-cores.sh" "$dir/many-cores.sh"
    for name in common.sh dynomite-up.sh dynomite-down.sh redis-up.sh redis-down.sh; do
        cp "bench/peers/$name" "$dir/peers/$name"
    done
    local elves=("$dir/dynamo" "$dir/loadgen" "$dir/cluster-compare" "$dir/scaling-svg")
    if [ -n "$redis" ]; then
        # Debian's redis-server is a link to redis-check-rdb: one binary that picks its role
        # from the name it is run by, so the copy keeps the name redis-server.
        strip -o "$dir/libexec/redis-server" "$redis"
        copy_libs "$dir" "$redis"
        write_wrapper "$dir" redis-server
        elves+=("$dir/libexec/redis-server")
    fi
    if [ -n "$dynomite" ]; then
        strip -o "$dir/libexec/dynomite" "$dynomite"
        copy_libs "$dir" "$dynomite"
        write_wrapper "$dir" dynomite
        elves+=("$dir/libexec/dynomite")
    fi
    local lib
    for lib in "$dir"/lib/*; do
        [ -e "$lib" ] && elves+=("$lib")
    done

    # What it is: the commit, the versions, the glibc it needs.
    local commit
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo "-")
    if [ "$commit" != "-" ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
        commit="$commit-dirty"
    fi
    echo "$commit" >"$dir/COMMIT"
    glibc_needed "${elves[@]}" >"$dir/GLIBC"
    {
        echo "Prepared by bench/many-cores.sh --prepare on $(uname -n) at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "commit: $commit (dynamo: ${DYNAMO:-built from the working tree})"
        echo "dynamo: $("$dir/dynamo" --version 2>&1 | head -1)"
        echo "up --shards: $("$dir/dynamo" up --help 2>/dev/null | grep -q -- --shards && echo yes || echo "no (only shards=1 runs)")"
        if [ -n "$redis" ]; then
            echo "redis-server: $("$dir/redis-server" --version | head -1) (from $redis)"
        else
            echo "redis-server: MISSING"
        fi
        if [ -n "$dynomite" ]; then
            echo "dynomite: from $dynomite$([ -f target/peers/dynomite/COMMIT ] && [ "$dynomite" = target/peers/dynomite/bin/dynomite ] && echo ", commit $(cat target/peers/dynomite/COMMIT)")"
        else
            echo "dynomite: MISSING"
        fi
        echo "needs glibc >= $(cat "$dir/GLIBC") (this machine: $(getconf GNU_LIBC_VERSION 2>/dev/null))"
        echo "libraries in lib/: $(cd "$dir/lib" && ls | tr '\n' ' ')"
        echo
        (cd "$dir" && find . -type f -printf '%s\t%p\n' | sort -k2)
    } >"$dir/MANIFEST"

    local bytes
    bytes=$(du -sb "$dir" | cut -f1)
    cat "$dir/MANIFEST" >&2
    say "prepared $dir: $((bytes / 1024 / 1024)) MiB ($bytes bytes)"
    if [ "$bytes" -gt $((60 * 1024 * 1024)) ]; then
        die "$dir is over 60 MiB: too big to carry"
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
        local m
        for m in "${missing[@]}"; do
            say "WARNING: missing $m: the run will skip it"
        done
    fi
    say "run it there with: bench/many-cores.sh OUTDIR   (or BIN_DIR=$dir bench/many-cores.sh OUTDIR)"
}

# The newer of two versions (sort -V) is the second: succeeds when A <= B.
version_le() {
    [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$1" ]
}

run() {
    local out=$1
    local bin=${BIN_DIR:-}
    if [ -z "$bin" ]; then
        if [ -x "$here/cluster-compare" ]; then
            bin=$here
        else
            bin=$here/.many-cores-bin
        fi
    fi
    [ -d "$bin" ] || die "no $bin: run bench/many-cores.sh --prepare first (on a machine with Rust), or set BIN_DIR"
    bin=$(cd "$bin" && pwd)
    local name
    for name in dynamo loadgen cluster-compare scaling-svg; do
        [ -x "$bin/$name" ] || die "no $bin/$name: run bench/many-cores.sh --prepare $bin first"
    done
    local need have
    need=$(cat "$bin/GLIBC" 2>/dev/null || true)
    have=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{ print $2 }')
    if [ -n "$need" ] && [ -n "$have" ] && ! version_le "$need" "$have"; then
        say "WARNING: the binaries need glibc >= $need, this machine has $have: they may not start"
    fi
    "$bin/dynamo" --version >/dev/null 2>&1 || die "$bin/dynamo does not run here: $("$bin/dynamo" --version 2>&1 | head -3)"

    local shards=${SHARDS-1,2,4,8}
    shards=$(echo "$shards" | tr ' ' ',' | sed 's/,,*/,/g; s/^,//; s/,$//')
    local dur=${DUR:-20s} warmup=${WARMUP:-3s} rounds=${ROUNDS:-1} clients=${CLIENTS:-64}
    local reads=${READS:-0.5} engine=${ENGINE:-lsm} durability=${DURABILITY:-all}
    local protocol=${PROTOCOL:-binary} keys=${KEYS:-10000} value_size=${VALUE_SIZE:-1024}
    local target=${TARGET:-124000} first_port=${FIRST_PORT:-24000}
    local systems=() system
    IFS=, read -r -a wanted <<<"${SYSTEMS:-ours,dynomite,redis}"
    for system in "${wanted[@]}"; do
        case "$system" in
        dynomite)
            if [ -x "$bin/dynomite" ] && [ -x "$bin/redis-server" ]; then
                systems+=(dynomite)
            else
                say "WARNING: skipping dynomite: $bin has no dynomite or no redis-server (--prepare could not get them; see $bin/MANIFEST)"
            fi
            ;;
        redis)
            if [ -x "$bin/redis-server" ]; then
                systems+=(redis)
            else
                say "WARNING: skipping redis: $bin has no redis-server (see $bin/MANIFEST)"
            fi
            ;;
        *) systems+=("$system") ;;
        esac
    done
    [ "${#systems[@]}" -gt 0 ] || die "nothing to run"

    mkdir -p "$out"
    out=$(cd "$out" && pwd)
    local csv=$out/many-cores.csv svg=$out/many-cores.svg
    if [ -s "$csv" ]; then
        local keep
        keep="$csv.$(date -u +%Y%m%dT%H%M%SZ)"
        mv "$csv" "$keep"
        say "moved the earlier $csv to $keep"
    fi
    local work=${WORK_DIR:-}
    local own_work=0
    if [ -z "$work" ]; then
        work=$(mktemp -d /tmp/many-cores.XXXXXX)
        own_work=1
    fi
    mkdir -p "$work"
    {
        echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "host: $(uname -n)"
        echo "cores (nproc): $(nproc)"
        echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
        echo "memory: $(grep -m1 MemTotal /proc/meminfo | awk '{ printf "%.1f GiB", $2 / 1048576 }')"
        echo "kernel: $(uname -r)"
        echo "glibc: ${have:-?}"
        echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "settings: SHARDS=$shards DUR=$dur WARMUP=$warmup ROUNDS=$rounds CLIENTS=$clients READS=$reads ENGINE=$engine DURABILITY=$durability PROTOCOL=$protocol KEYS=$keys VALUE_SIZE=$value_size SYSTEMS=$(
            IFS=,
            echo "${systems[*]}"
        )"
        echo "binaries: $bin"
        echo
        cat "$bin/MANIFEST" 2>/dev/null || true
    } >"$out/machine.txt"

    local args=(
        --dynamo "$bin/dynamo" --loadgen "$bin/loadgen"
        --peers-dir "$bin/peers" --dynomite "$bin/dynomite" --redis-server "$bin/redis-server"
        --systems "$(
            IFS=,
            echo "${systems[*]}"
        )"
        --engines "$engine" --durabilities "$durability" --protocols "$protocol"
        --read-ratios "$reads" --rounds "$rounds" --clients "$clients"
        --duration "$dur" --warmup "$warmup" --keys "$keys" --value-size "$value_size"
        --first-port "$first_port" --work-dir "$work"
        --csv "$out/compare.csv" --scaling-csv "$csv"
        --commit "$(cat "$bin/COMMIT" 2>/dev/null || echo -)"
    )
    if [ -n "$shards" ]; then
        args+=(--shards "$shards")
    fi
    say "running: cluster-compare ${args[*]}"
    local started rc=0
    started=$(date +%s)
    # The table on stdout into table.md, the progress into progress.log; both on the terminal.
    "$bin/cluster-compare" "${args[@]}" \
        > >(tee "$out/table.md") 2> >(tee "$out/progress.log" >&2) || rc=$?
    wait
    say "cluster-compare ended ($rc) after $(($(date +%s) - started)) s"
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"

    # The logs of the systems (their ends: data directories are left out).
    mkdir -p "$out/logs"
    local log rel
    while IFS= read -r -d '' log; do
        rel=${log#"$work"/}
        mkdir -p "$out/logs/$(dirname "$rel")"
        tail -n 300 "$log" >"$out/logs/$rel"
    done < <(find "$work" -name '*.log' -type f -print0 2>/dev/null)
    if [ "$own_work" -eq 1 ]; then
        rm -rf "$work"
    fi

    if [ -s "$csv" ] && [ "$(wc -l <"$csv")" -gt 1 ]; then
        "$bin/scaling-svg" "$csv" "$svg" --target "$target" --machine-cores "$(nproc)" || rc=$?
        say "CSV: $csv"
        say "SVG: $svg"
    else
        say "no runs in $csv: no chart"
        [ "$rc" -ne 0 ] || rc=1
    fi
    return "$rc"
}

case "${1:-}" in
--prepare) prepare "${2:-}" ;;
"" | -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    [ -n "${1:-}" ]
    ;;
-*) die "unknown option $1 (--prepare [DIR], or OUTDIR)" ;;
*) run "$1" ;;
esac
