# shellcheck shell=bash
# Shared helpers for scripts/*.sh. Source it; it defines functions only.
#
# Every wait here is bounded: a server that never comes up, or a package
# install that hangs, fails the script instead of hanging CI.

# Repository root (this file lives in scripts/).
CONCORD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CONCORD_ROOT

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs apt-get as root (we are root on CI and dev machines; sudo otherwise).
apt_get() {
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || die "need root or sudo to run apt-get $*"
        sudo=(sudo)
    fi
    DEBIAN_FRONTEND=noninteractive timeout 900 "${sudo[@]}" apt-get "$@" </dev/null
}

# Installs the Debian packages whose command is missing.
# Usage: ensure_packages cmd:package [cmd:package ...]
ensure_packages() {
    local missing=() pair cmd pkg
    for pair in "$@"; do
        cmd=${pair%%:*}
        pkg=${pair#*:}
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    log "installing missing packages: ${missing[*]}"
    apt_get update -qq >/dev/null
    apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The packages every script needs: servers and clients for comparison,
# Tcl for Redis's own test suite, dpkg-source to unpack it.
ensure_test_packages() {
    ensure_packages redis-server:redis-server redis-cli:redis-tools \
        redis-benchmark:redis-tools tclsh:tcl dpkg-source:dpkg-dev
}

# Prints a loopback TCP port that nothing listens on right now, from
# CONCORD_PORT_RANGE (LOW-HIGH, default 30000-49999: on a shared machine,
# give each user of the scripts a range of its own).
# A race with another process is possible; callers wait for their server
# with wait_for_server, which fails clearly if the port was taken.
free_port() {
    local port tries range=${CONCORD_PORT_RANGE:-30000-49999}
    local low=${range%-*} high=${range#*-}
    for tries in $(seq 1 200); do
        port=$((low + (RANDOM * 32768 + RANDOM) % (high - low + 1)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    die "no free port found after $tries tries"
}

# Waits until a server answers PING on 127.0.0.1:PORT, or PID exits, or
# TIMEOUT seconds pass. Usage: wait_for_server PORT PID [TIMEOUT] [PASSWORD]
wait_for_server() {
    local port=$1 pid=$2 timeout_s=${3:-20} password=${4:-}
    local deadline=$((SECONDS + timeout_s)) auth=()
    [[ -n $password ]] && auth=(--no-auth-warning -a "$password")
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "server pid $pid exited before answering on port $port"
            return 1
        fi
        if [[ $(timeout 2 redis-cli -h 127.0.0.1 -p "$port" "${auth[@]}" PING 2>/dev/null) == PONG ]]; then
            return 0
        fi
        sleep 0.1
    done
    log "server on port $port did not answer PING within ${timeout_s}s"
    return 1
}

# Stops a server we started: SIGTERM, then SIGKILL after 5 s.
stop_server() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    log "server pid $pid ignored SIGTERM for 5s (after $i checks); killing it"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# The concord binary the scripts run: CONCORD_BIN overrides the release build.
concord_bin() {
    echo "${CONCORD_BIN:-$CONCORD_ROOT/target/release/concord}"
}

# Starts a server in the background on 127.0.0.1:PORT with DIR as its
# working/data dir and LOG as its output. KIND is `concord` or `redis`.
# Sets SERVER_PID. Usage: start_server KIND PORT DIR LOG
start_server() {
    local kind=$1 port=$2 dir=$3 logfile=$4 bin
    bin=$(concord_bin)
    mkdir -p "$dir"
    case $kind in
        concord)
            [[ -x $bin ]] || die "$bin not found: build it with cargo build --release"
            # Like the redis-server below: no persistence, so both do the same work.
            "$bin" shard --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly no >"$logfile" 2>&1 &
            ;;
        redis)
            (cd "$dir" && exec redis-server --port "$port" --bind 127.0.0.1 \
                --save '' --appendonly no --dir "$dir" >"$logfile" 2>&1) &
            ;;
        *) die "unknown server kind: $kind" ;;
    esac
    # shellcheck disable=SC2034 # read by the scripts that source this file
    SERVER_PID=$!
}
