# shellcheck shell=bash
# Helpers shared by the scripts in bench/peers/ (sourced, not run).

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "$0: need root (or sudo) to run: $*" >&2
        return 1
    fi
}

# Installs the Debian packages given whose status is not "installed" (one apt-get call for all).
apt_install() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "$0: no apt-get here; install these yourself: ${missing[*]}" >&2
        return 1
    fi
    echo "$0: installing ${missing[*]}" >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Sends one command (its words as arguments) to the RESP server at HOST PORT and prints the first
# line of the answer without its type mark: OK, PONG, 1, ERR ... (the length line for a bulk
# string). Uses redis-cli when present, else bash's /dev/tcp; fails when nothing answers in 2 s.
resp_call() {
    local host=$1 port=$2
    shift 2
    if command -v redis-cli >/dev/null 2>&1; then
        timeout 2 redis-cli -h "$host" -p "$port" "$@" 2>/dev/null | head -n 1
        return "${PIPESTATUS[0]}"
    fi
    timeout 2 bash -c "$(declare -f resp_call_tcp); resp_call_tcp \"\$@\"" resp_call \
        "$host" "$port" "$@" 2>/dev/null
}

# The /dev/tcp half of resp_call (run by it in a bash of its own, under `timeout`): writes the
# command as an array of bulk strings, reads the first line of the answer.
resp_call_tcp() {
    local host=$1 port=$2 word line request
    shift 2
    exec 3<>"/dev/tcp/$host/$port" || return 1
    request="*$#"$'\r\n'
    for word in "$@"; do
        request+="\$${#word}"$'\r\n'"$word"$'\r\n'
    done
    printf '%s' "$request" >&3
    IFS= read -r line <&3 || return 1
    line=${line%$'\r'}
    printf '%s\n' "${line:1}"
}

# Succeeds when HOST PORT answers a RESP PING with PONG.
resp_ping() {
    [ "$(resp_call "$1" "$2" PING)" = "PONG" ]
}

# Waits up to SECONDS (default 30) until HOST PORT answers a RESP PING.
wait_for_ping() {
    local host=$1 port=$2 seconds=${3:-30} i
    for ((i = 0; i < seconds * 10; i++)); do
        if resp_ping "$host" "$port"; then
            return 0
        fi
        sleep 0.1
    done
    echo "$0: nothing answers PING at $host:$port after ${seconds}s" >&2
    return 1
}

# Sends SIGTERM to every pid listed in FILE (one per line), waits up to 20 s for them to exit,
# then SIGKILLs what is left, and removes FILE.
stop_pids() {
    local file=$1 pid i alive
    [ -f "$file" ] || { echo "$0: no $file: nothing to stop" >&2; return 0; }
    while read -r pid; do
        if [ -n "$pid" ]; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done <"$file"
    for ((i = 0; i < 200; i++)); do
        alive=0
        while read -r pid; do
            if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
                alive=1
            fi
        done <"$file"
        if [ "$alive" -eq 0 ]; then
            break
        fi
        sleep 0.1
    done
    while read -r pid; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            echo "$0: pid $pid did not stop in 20 s: killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done <"$file"
    rm -f "$file"
}

# Writes a redis configuration for a cache-only server (no RDB snapshots, no append-only file)
# listening on 127.0.0.1:PORT, with its working directory WORKDIR, to FILE.
write_redis_conf() {
    local file=$1 port=$2 workdir=$3
    cat >"$file" <<CONF
# Written by bench/peers: an in-memory redis, no persistence.
bind 127.0.0.1
port $port
daemonize no
dir $workdir
save ""
appendonly no
logfile ""
CONF
}

# Starts redis-server on 127.0.0.1:PORT in the background with its files under DIR (config
# DIR/redis-PORT.conf, log DIR/redis-PORT.log) and appends its pid to DIR/pids.
start_redis() {
    local dir=$1 port=$2
    local redis=${REDIS_SERVER:-redis-server}
    if ! command -v "$redis" >/dev/null 2>&1; then
        echo "$0: no $redis (run bench/peers/install-redis.sh, or set REDIS_SERVER)" >&2
        return 1
    fi
    write_redis_conf "$dir/redis-$port.conf" "$port" "$dir"
    "$redis" "$dir/redis-$port.conf" </dev/null >"$dir/redis-$port.log" 2>&1 &
    echo $! >>"$dir/pids"
}

# Refuses to start when DIR/pids lists a process still alive (a cluster already up there).
check_not_running() {
    local dir=$1 pid
    [ -f "$dir/pids" ] || return 0
    while read -r pid; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            echo "$0: $dir/pids lists pid $pid, still running: stop it first" >&2
            return 1
        fi
    done <"$dir/pids"
    rm -f "$dir/pids"
}
