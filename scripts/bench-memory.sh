#!/usr/bin/env bash
# The memory benchmark (not a test): what the CRDT keyspace costs per key
# against redis-server holding the same data, on the same machine.
#
#   bash scripts/bench-memory.sh
#
# Starts a 3-instance Active-Active database (`concord up --instances 3`,
# endpoints on ports BASE..BASE+2) and one redis-server (BASE+50), then loads
# three data sets one after the other:
#   strings  1,000,000 keys (11-byte keys, 8-byte values), as bench.sh
#   sets     10,000 sets of 100 members (10-byte members)
#   hashes   10,000 hashes of 100 fields (9-byte fields, 8-byte values)
# Writes go round-robin over the three instances (string i to instance i % 3;
# member j of every set and hash to instance j % 3), so the metadata of three
# origins is present, as in a real Active-Active database; redis-server gets
# every command. After each data set the script waits until the instances
# converge (same DBSIZE, same observed version vector `crdt_ovc`), then
# prints per key (strings) or per member (sets, hashes):
#   used_memory   INFO used_memory growth at instance 1 (jemalloc's allocated
#                 bytes) and at redis-server, and the ratio concord/redis;
#   backlog       of concord's growth, the part that is the replication
#                 backlog (bounded: 1% of the machine's memory by default, not
#                 per key), measured by trimming it (CONFIG SET
#                 repl-backlog-size 16384 once the instances converged, then
#                 back); "keyspace" is the growth without it;
#   RSS           the process's resident memory growth (VmRSS).
#
# Environment: BENCH_MEM_BASE_PORT (default 16000), BENCH_MEM_KEYS (strings,
#   default 1000000), BENCH_MEM_OBJECTS (sets and hashes, default 10000),
#   CONCORD_BIN (binary to run instead of target/release/concord; skips the
#   build). Only numbers from the same machine are comparable.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

base=${BENCH_MEM_BASE_PORT:-16000}
keys=${BENCH_MEM_KEYS:-1000000}
objects=${BENCH_MEM_OBJECTS:-10000}
members=100
instances=3
target_dir=${CARGO_TARGET_DIR:-$CONCORD_ROOT/target}
work=$target_dir/bench-memory
converge_timeout=150

ensure_packages redis-server:redis-server redis-cli:redis-tools
if [[ -z ${CONCORD_BIN:-} ]]; then
    log "building target/release/concord"
    (cd "$CONCORD_ROOT" && cargo build --release --bin concord --quiet)
fi
bin=$(concord_bin)
rm -rf "$work"
mkdir -p "$work"

up_pid='' redis_pid=''
cleanup() {
    [[ -n $up_pid ]] && stop_server "$up_pid"
    [[ -n $redis_pid ]] && stop_server "$redis_pid"
}
trap cleanup EXIT

redis_port=$((base + 50))
"$bin" up --instances "$instances" --base-port "$base" --dir "$work/aa" >"$work/up.log" 2>&1 &
up_pid=$!
start_server redis "$redis_port" "$work/redis-data" "$work/redis.log"
redis_pid=$SERVER_PID
wait_for_server "$redis_port" "$redis_pid" 20 || die "redis-server did not start; see $work/redis.log"
for i in $(seq 0 $((instances - 1))); do
    wait_for_server $((base + i)) "$up_pid" 30 || die "instance $((i + 1)) did not start; see $work/up.log"
done
# Instance 1's shard process (the endpoint is a proxy): its pid from up.json.
shard_pid=$(awk '/"id": 1,/ { inst = 1 } inst && /"shard": \{ "pid":/ { gsub(/,/, ""); print $4; exit }' "$work/aa/up.json")
[[ $shard_pid =~ ^[0-9]+$ ]] || die "no shard pid for instance 1 in $work/aa/up.json"
log "3 instances on ports $base-$((base + instances - 1)) (instance 1's shard pid $shard_pid), redis-server on $redis_port"

cli() { timeout 30 redis-cli -h 127.0.0.1 -p "$1" "${@:2}" 2>/dev/null | tr -d '\r'; }
info_field() { cli "$1" INFO "$2" | sed -n "s/^$3:\(.*\)$/\1/p"; }
rss_bytes() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status" 2>/dev/null; }
backlog_size=$(cli "$base" CONFIG GET repl-backlog-size | sed -n 2p)
[[ $backlog_size =~ ^[0-9]+$ ]] || die "cannot read repl-backlog-size at instance 1"

# Generates the commands of one data set: $work/<set>-<r>.resp for instance r.
generate() {
    local set=$1
    awk -v set="$set" -v n="$keys" -v objs="$objects" -v m="$members" -v inst="$instances" -v dir="$work" '
    function bulk(s) { return sprintf("$%d\r\n%s\r\n", length(s), s) }
    BEGIN {
        for (r = 0; r < inst; r++) file[r] = sprintf("%s/%s-%d.resp", dir, set, r)
        if (set == "strings") {
            for (i = 0; i < n; i++) {
                printf "*3\r\n$3\r\nSET\r\n%s%s", bulk(sprintf("key:%07d", i)), bulk(sprintf("%08d", i)) > file[i % inst]
            }
        } else {
            for (o = 0; o < objs; o++) {
                for (r = 0; r < inst; r++) {
                    cnt = 0; body = ""
                    for (j = r; j < m; j += inst) {
                        cnt++
                        if (set == "sets") body = body bulk(sprintf("member:%03d", j))
                        else { body = body bulk(sprintf("field:%03d", j)) bulk(sprintf("%08d", o * m + j)); cnt++ }
                    }
                    if (set == "sets") printf "*%d\r\n$4\r\nSADD\r\n%s%s", cnt + 2, bulk(sprintf("set:%05d", o)), body > file[r]
                    else printf "*%d\r\n$4\r\nHSET\r\n%s%s", cnt + 2, bulk(sprintf("hash:%05d", o)), body > file[r]
                }
            }
        }
    }'
}

# Loads FILEs into the server on PORT with redis-cli --pipe.
load() {
    local port=$1 f out
    shift
    for f in "$@"; do
        out=$(timeout 300 redis-cli -h 127.0.0.1 -p "$port" --pipe <"$f" 2>&1) || die "loading $f into $port failed: $(tail -2 <<<"$out")"
        grep -q 'errors: 0,' <<<"$out" || die "errors loading $f into $port: $(tail -1 <<<"$out")"
    done
}

# Waits until every instance has DBSIZE $1 and the same crdt_ovc.
converge() {
    local want=$1 deadline=$((SECONDS + converge_timeout)) i sizes ovcs
    while ((SECONDS < deadline)); do
        sizes='' ovcs=''
        for i in $(seq 0 $((instances - 1))); do
            sizes+="$(cli $((base + i)) DBSIZE) "
            ovcs+="$(info_field $((base + i)) crdt crdt_ovc)|"
        done
        if [[ $(tr ' ' '\n' <<<"$sizes" | sort -u | grep -c .) == 1 && ${sizes%% *} == "$want" &&
            $(tr '|' '\n' <<<"$ovcs" | sort -u | grep -c .) == 1 ]]; then
            return 0
        fi
        sleep 0.5
    done
    die "instances did not converge in ${converge_timeout}s: DBSIZE $sizes, crdt_ovc $ovcs"
}

ratio() {
    if [[ $1 == n/a || $2 == n/a || $1 == 0 ]]; then echo n/a; else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; fi
}
per() { awk -v d="$1" -v n="$2" 'BEGIN { printf "%.1f", d / n }'; }

report=$work/results.txt
{
    echo "Memory: 3 Active-Active instances (writes round-robin) vs redis-server, bytes per key or member"
    printf '%-8s %9s %11s %11s %11s %8s %9s %9s %8s %7s\n' "data" "unit" "redis used" "concord" "backlog" \
        "keyspace" "ratio" "redis RSS" "conc RSS" "load s"
} | tee "$report"

total_keys=0
for set in strings sets hashes; do
    generate "$set"
    case $set in
        strings) added=$keys units=$keys unit=key ;;
        *) added=$objects units=$((objects * members)) unit=member ;;
    esac
    total_keys=$((total_keys + added))
    r_used0=$(info_field "$redis_port" memory used_memory) r_rss0=$(rss_bytes "$redis_pid")
    c_used0=$(info_field "$base" memory used_memory) c_rss0=$(rss_bytes "$shard_pid")
    start=$SECONDS
    pids=()
    for r in $(seq 0 $((instances - 1))); do
        load $((base + r)) "$work/$set-$r.resp" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || die "loading $set failed"; done
    converge "$total_keys"
    secs=$((SECONDS - start))
    load "$redis_port" "$work/$set"-*.resp
    [[ $(cli "$redis_port" DBSIZE) == "$total_keys" ]] || die "redis-server DBSIZE is not $total_keys"
    sleep 1
    r_used=$(($(info_field "$redis_port" memory used_memory) - r_used0))
    r_rss=$(($(rss_bytes "$redis_pid") - r_rss0))
    c_used=$(($(info_field "$base" memory used_memory) - c_used0))
    c_rss=$(($(rss_bytes "$shard_pid") - c_rss0))
    # The backlog's real size: what trimming it frees (the others have pulled
    # everything, so nobody needs it); then its old limit again.
    cli "$base" CONFIG SET repl-backlog-size 16384 crdt-repl-backlog-size 16384 >/dev/null
    sleep 0.5
    keyspace=$(($(info_field "$base" memory used_memory) - c_used0))
    cli "$base" CONFIG SET repl-backlog-size "$backlog_size" crdt-repl-backlog-size auto >/dev/null
    c_bl=$((c_used - keyspace))
    printf '%-8s %9s %11s %11s %11s %8s %9s %9s %8s %7s\n' "$set" "$unit" "$(per "$r_used" "$units")" \
        "$(per "$c_used" "$units")" "$(per "$c_bl" "$units")" "$(per "$keyspace" "$units")" \
        "$(ratio "$r_used" "$keyspace")" "$(per "$r_rss" "$units")" "$(per "$c_rss" "$units")" "$secs" | tee -a "$report"
done
{
    echo
    echo "(concord = used_memory growth at instance 1; keyspace = concord - backlog; ratio = keyspace/redis;"
    echo " RSS = VmRSS growth of instance 1's shard and of redis-server; load s = loading + convergence;"
    echo " redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), $(nproc) cores)"
} | tee -a "$report"
log "results saved to $report"
