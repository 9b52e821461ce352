#!/usr/bin/env bash
# The in-cluster replication benchmark (not a test): full sync of N keys to
# a new replica, Concord against redis-server side by side on loopback
# (time from the replica's start to an up link at the primary's offset, and
# bytes the primary sent to it), the longest pause a client saw meanwhile
# (a GET loop on the primary: crates/concord/examples/latency_probe.rs) and
# the primary's latest_fork_usec (Concord: the longest hold of the keyspace
# lock by the snapshot capture; Redis: the fork), then write throughput with
# the append-only file: concord --appendfsync everysec against redis
# --appendonly yes.
#
#   bash scripts/bench-replica.sh            # N = 1000000
#   BENCH_KEYS=10000000 bash scripts/bench-replica.sh
#   BENCH_AOF=0 bash scripts/bench-replica.sh   # the full syncs only
#
# The GET loop also runs for one second before the replica starts: its
# longest wait then is the machine's own noise (other processes taking the
# CPU), printed as the baseline.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$CONCORD_ROOT"
ensure_test_packages
keys=${BENCH_KEYS:-1000000}
bin=${CONCORD_BIN:-target/release/concord}
[[ -x $bin ]] || cargo build --release --quiet --bin concord
cargo build --release --quiet -p concord --example latency_probe
probe=target/release/examples/latency_probe
work=$(mktemp -d /tmp/bench-replica.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

field() { redis-cli -p "$1" info "$2" | tr -d '\r' | sed -n "s/^$3://p"; }

# SET key:<i> value:<i> for i in 1..N, as RESP, through redis-cli --pipe.
fill() { # port
    awk -v n="$keys" 'BEGIN { for (i = 1; i <= n; i++) { k = "key:" i; v = "value:" i;
        printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v } }' |
        redis-cli -p "$1" --pipe >/dev/null
}

# Starts a server on a free port (another one if the port was taken
# meanwhile) and waits until it answers; sets $port.
start() { # kind dir [replicaof-port] [more args...]
    local kind=$1 dir=$2 of=${3:-} pid attempt
    shift 3 || shift $#
    mkdir -p "$dir"
    for attempt in 1 2 3; do
        port=$(free_port)
        if [[ $kind == concord ]]; then
            "$bin" shard --port "$port" --dir "$dir" ${of:+--replicaof 127.0.0.1 "$of"} "$@" >"$dir/log" 2>&1 &
        else
            redis-server --port "$port" --dir "$dir" --save '' --repl-diskless-sync-delay 0 \
                ${of:+--replicaof 127.0.0.1 "$of"} "$@" >"$dir/log" 2>&1 &
        fi
        pid=$!
        pids+=("$pid")
        for _ in $(seq 1 300); do
            redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.05
        done
        kill "$pid" 2>/dev/null || true
        log "$kind did not start on port $port (attempt $attempt)"
    done
    tail -n 5 "$dir/log" >&2 || true
    die "$kind did not start"
}

full_sync() { # kind -> prints "seconds bytes probe_samples probe_p50_us probe_p99_us probe_max_us fork_usec baseline_max_us"
    local kind=$1 p1 p2 t0 t1 b0 b1 probe_pid base
    if [[ $kind == concord ]]; then start concord "$work/$kind-p" "" --appendfsync everysec
    else start redis "$work/$kind-p" "" --appendonly no; fi
    p1=$port
    fill "$p1"
    [[ $(redis-cli -p "$p1" dbsize) == "$keys" ]] || die "$kind holds $(redis-cli -p "$p1" dbsize) keys, not $keys"
    b0=$(field "$p1" stats total_net_repl_output_bytes)
    rm -f "$work/stop"
    ( sleep 1; touch "$work/stop" ) &
    local stopper=$!
    base=$("$probe" "$p1" "$work/stop" 2>/dev/null | cut -d' ' -f4)
    wait "$stopper"
    rm -f "$work/stop"
    "$probe" "$p1" "$work/stop" >"$work/probe-$kind" 2>"$work/probe-$kind.err" &
    probe_pid=$!
    sleep 0.2
    t0=$(date +%s.%N)
    if [[ $kind == concord ]]; then start concord "$work/$kind-r" "$p1" --appendfsync everysec
    else start redis "$work/$kind-r" "$p1" --appendonly no; fi
    p2=$port
    local deadline=$((SECONDS + 600))
    while true; do
        (( SECONDS < deadline )) || die "the $kind replica did not catch up within 600 s (logs in $work)"
        if [[ $(field "$p2" replication master_link_status) == up &&
              $(field "$p2" replication master_repl_offset) == $(field "$p1" replication master_repl_offset) ]]; then
            break
        fi
        sleep 0.01
    done
    t1=$(date +%s.%N)
    touch "$work/stop"
    wait "$probe_pid" || die "the latency probe failed"
    [[ $(redis-cli -p "$p2" dbsize) == "$keys" ]] || die "the $kind replica holds $(redis-cli -p "$p2" dbsize) keys"
    b1=$(field "$p1" stats total_net_repl_output_bytes)
    echo "$(echo "$t1 - $t0" | bc -l) $((b1 - b0)) $(cat "$work/probe-$kind") $(field "$p1" stats latest_fork_usec) $base"
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    pids=()
}

log "full sync of $keys keys: concord"
read -r ct cb cn c50 c99 cmax cfork cbase < <(full_sync concord)
log "full sync of $keys keys: redis"
read -r rt rb rn r50 r99 rmax rfork rbase < <(full_sync redis)
printf 'full sync %d keys: concord %.2fs %d bytes | redis %.2fs %d bytes | time ratio concord/redis %.2f, bytes ratio %.2f\n' \
    "$keys" "$ct" "$cb" "$rt" "$rb" "$(echo "$ct / $rt" | bc -l)" "$(echo "$cb / $rb" | bc -l)"
printf 'primary pause during the full sync: concord latest_fork_usec %d, GET loop max %d us (p99 %d, p50 %d, %d GETs; 1 s before: max %d us) | redis latest_fork_usec %d, GET loop max %d us (p99 %d, p50 %d, %d GETs; 1 s before: max %d us)\n' \
    "$cfork" "$cmax" "$c99" "$c50" "$cn" "$cbase" "$rfork" "$rmax" "$r99" "$r50" "$rn" "$rbase"
[[ ${BENCH_AOF:-1} == 1 ]] || exit 0

aof() { # kind -> requests/s of SET with the append-only file on
    local kind=$1
    if [[ $kind == concord ]]; then start concord "$work/$kind-aof" "" --appendfsync everysec
    else start redis "$work/$kind-aof" "" --appendonly yes --appendfsync everysec; fi
    redis-benchmark -p "$port" -t set -n 500000 -r 100000 -c 50 -P 16 -q --csv | tail -1 | cut -d, -f2 | tr -d '"'
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    pids=()
}
log "SET throughput with the append-only file (everysec)"
ca=$(aof concord); ra=$(aof redis)
printf 'SET with AOF everysec (50 clients, pipeline 16): concord %.0f/s | redis %.0f/s | ratio %.2f\n' \
    "$ca" "$ra" "$(echo "$ca / $ra" | bc -l)"
