#!/usr/bin/env bash
# The shard benchmark (not a test): `concord shard` and `redis-server` side
# by side on loopback, on the same machine, measured the same way.
#
#   bash scripts/bench.sh
#
# 1. Throughput: redis-benchmark -c 50 -n 200000 for SET GET INCR LPUSH RPOP
#    SADD HSET ZADD, without pipelining (-P 1) and with -P 16, against each
#    server in turn, ROUNDS times alternating; prints the median ops/s, p99
#    latency and ratio concord/redis, and the server's CPU time per request
#    (all its threads, from /proc/PID/task/*/schedstat): on a shared or
#    virtual machine throughput swings by tens of percent from run to run,
#    CPU time per request much less. It also prints the load generator's
#    own CPU share (redis-benchmark's user + system time over wall time,
#    the median over both servers' runs): a row where that share is near
#    100% measured redis-benchmark, not the server (marked "client-bound"),
#    and its throughput ratio is 1.0 give or take the run-to-run noise,
#    whichever server is faster; CPU per request still compares the servers.
# 2. Memory: loads the same 1,000,000 small string keys into each server
#    (11-byte keys, 8-byte values, generated deterministically and sent with
#    redis-cli --pipe) and prints bytes per key, from the server's own
#    INFO used_memory and from the process's resident memory (VmRSS).
# A row that a server cannot run (unknown command, crash) shows n/a.
#
# Environment: CONCORD_BENCH_REQUESTS (default 200000),
#   CONCORD_BENCH_ROUNDS (default 5),
#   CONCORD_BENCH_KEYS (default 1000000), CONCORD_BIN (binary to run
#   instead of target/release/concord; skips the build).
# On a machine with 2 or more CPUs (and taskset), both servers are pinned to
# the last CPU and redis-benchmark to the first, for both servers alike:
# otherwise the scheduler moves the server and the client between CPUs
# mid-run, and that, not the server, decides much of the number.
# Only numbers from the same machine are comparable.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

requests=${CONCORD_BENCH_REQUESTS:-200000}
rounds=${CONCORD_BENCH_ROUNDS:-5}
keys=${CONCORD_BENCH_KEYS:-1000000}
clients=50
target_dir=${CARGO_TARGET_DIR:-$CONCORD_ROOT/target}
work=$target_dir/bench
# One benchmark run may take this long before its row becomes n/a.
run_timeout=300

ensure_packages redis-server:redis-server redis-cli:redis-tools redis-benchmark:redis-tools
if [[ -z ${CONCORD_BIN:-} ]]; then
    log "building target/release/concord"
    (cd "$CONCORD_ROOT" && cargo build --release --bin concord --quiet)
fi
rm -rf "$work"
mkdir -p "$work"

declare -A port pid
cleanup() {
    local kind
    for kind in "${!pid[@]}"; do stop_server "${pid[$kind]}"; done
}
trap cleanup EXIT

for kind in redis concord; do
    port[$kind]=$(free_port)
    start_server "$kind" "${port[$kind]}" "$work/$kind-data" "$work/$kind.log"
    pid[$kind]=$SERVER_PID
    wait_for_server "${port[$kind]}" "${pid[$kind]}" 20 || die "$kind did not start; see $work/$kind.log"
done
log "redis-server on port ${port[redis]}, concord on port ${port[concord]}"
# Pinning (see the header): every thread of each server on the last CPU,
# the load generator on the first.
bench_cpu=()
ncpu=$(nproc)
if ((ncpu >= 2)) && command -v taskset >/dev/null; then
    for kind in redis concord; do
        taskset -a -p -c $((ncpu - 1)) "${pid[$kind]}" >/dev/null
    done
    bench_cpu=(taskset -c 0)
    log "servers pinned to CPU $((ncpu - 1)), redis-benchmark to CPU 0"
fi

cli() { timeout 60 redis-cli -h 127.0.0.1 -p "${port[$1]}" "${@:2}"; }

# The benchmark's tests: name, the probe command that must succeed first,
# and redis-benchmark's arguments.
tests=(
    "SET|SET bench:probe v|-t set"
    "GET|GET bench:probe|-t get"
    "INCR|INCR bench:counter|-t incr"
    "LPUSH|LPUSH bench:list v|-t lpush"
    "RPOP|RPOP bench:list|-t rpop"
    "SADD|SADD bench:set v|-t sadd"
    "HSET|HSET bench:hash f v|-t hset"
    "ZADD|ZADD bench:zset 1 m|-r 100000 ZADD myzset __rand_int__ element:__rand_int__"
)

# Nanoseconds the server has run on a CPU, all threads.
cpu_ns() {
    local pid=$1 total=0 t ns
    for t in /proc/"$pid"/task/*/schedstat; do
        read -r ns _ <"$t" 2>/dev/null || continue
        total=$((total + ns))
    done
    echo "$total"
}

# Prints "OPS P99 CPU_NS_PER_REQUEST CLIENT_CPU_PERCENT" for one run, or
# "n/a n/a n/a n/a".
bench_one() {
    local kind=$1 probe=$2 args=$3 pipeline=$4 out cpu_before cpu_after times client
    local -a probe_words bench_args
    read -r -a probe_words <<<"$probe"
    read -r -a bench_args <<<"$args"
    local probe_reply
    probe_reply=$(cli "$kind" "${probe_words[@]}" 2>&1) || probe_reply="ERR redis-cli failed"
    if ! kill -0 "${pid[$kind]}" 2>/dev/null || grep -qE '^(ERR|WRONGTYPE|\(error\))|Could not connect' <<<"$probe_reply"; then
        echo "n/a n/a n/a n/a"
        return
    fi
    cpu_before=$(cpu_ns "${pid[$kind]}")
    # `time` reports the wall, user and system seconds of redis-benchmark
    # (waited for through timeout and taskset, so its times are included).
    if ! out=$( { TIMEFORMAT='%R %U %S'; time timeout "$run_timeout" "${bench_cpu[@]}" redis-benchmark \
        -h 127.0.0.1 -p "${port[$kind]}" -c "$clients" -n "$requests" -P "$pipeline" --csv "${bench_args[@]}" \
        2>/dev/null; } 2>"$work/time.txt"); then
        echo "n/a n/a n/a n/a"
        return
    fi
    cpu_after=$(cpu_ns "${pid[$kind]}")
    read -r times <"$work/time.txt" || times=""
    client=$(awk '{ if (NF == 3 && $1 > 0) printf "%.0f", 100 * ($2 + $3) / $1; else print "n/a" }' <<<"$times")
    # CSV: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms",...
    awk -F, -v cpu=$(((cpu_after - cpu_before) / requests)) -v client="$client" \
        'NR > 1 && NF >= 7 { gsub(/"/, ""); printf "%.0f %s %d %s\n", $2, $7, cpu, client; found = 1; exit }
        END { if (!found) print "n/a n/a n/a n/a" }' <<<"$out"
}

# The median of its arguments (n/a if any is n/a).
median() {
    local v
    for v in "$@"; do [[ $v == n/a ]] && { echo n/a; return; }; done
    printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

ratio() {
    if [[ $1 == n/a || $2 == n/a || $1 == 0 ]]; then echo n/a; else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; fi
}

report=$work/results.txt
{
    echo "Throughput: redis-benchmark -c $clients -n $requests, median of $rounds alternating runs${bench_cpu:+ (servers pinned to CPU $((ncpu - 1)), redis-benchmark to CPU 0)}:"
    echo "ops/s, p99 latency (ms), server CPU per request (ns, all threads); ratio = concord/redis ops/s"
    echo "bench% = redis-benchmark's CPU share (user + system over wall time); 90% or more: client-bound (*)"
    printf '%-6s %4s %10s %10s %8s %8s %8s %8s %7s %7s %7s\n' test P redis concord "r p99" "c p99" "r cpu" "c cpu" "cpu x" ratio bench%
} | tee "$report"
for pipeline in 1 16; do
    for entry in "${tests[@]}"; do
        IFS='|' read -r name probe args <<<"$entry"
        declare -A got=()
        for kind in redis concord; do got[$kind-ops]="" got[$kind-p99]="" got[$kind-cpu]=""; done
        got[client]=""
        for ((round = 0; round < rounds; round++)); do
            for kind in redis concord; do
                read -r ops p99 cpu client < <(bench_one "$kind" "$probe" "$args" "$pipeline")
                got[$kind-ops]+=" $ops" got[$kind-p99]+=" $p99" got[$kind-cpu]+=" $cpu" got[client]+=" $client"
            done
        done
        declare -A med=()
        for k in "${!got[@]}"; do
            # shellcheck disable=SC2086 # word splitting intended
            med[$k]=$(median ${got[$k]})
        done
        bound=${med[client]}
        [[ $bound != n/a ]] && ((bound >= 90)) && bound="$bound*"
        printf '%-6s %4s %10s %10s %8s %8s %8s %8s %7s %7s %7s\n' "$name" "$pipeline" "${med[redis-ops]}" "${med[concord-ops]}" \
            "${med[redis-p99]}" "${med[concord-p99]}" "${med[redis-cpu]}" "${med[concord-cpu]}" \
            "$(ratio "${med[redis-cpu]}" "${med[concord-cpu]}")" "$(ratio "${med[redis-ops]}" "${med[concord-ops]}")" \
            "$bound" | tee -a "$report"
    done
done
{
    echo "(cpu x = concord/redis CPU per request: below 1 is better; ratio = concord/redis throughput: above 1 is better;"
    echo " * = redis-benchmark used 90% or more of its CPU: it, not the server, set the pace of that row)"
} | tee -a "$report"

# Memory: the same keys for both, generated once.
log "generating $keys SET commands"
awk -v n="$keys" 'BEGIN {
    for (i = 0; i < n; i++) {
        k = sprintf("key:%07d", i); v = sprintf("%08d", i)
        printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v
    }
}' >"$work/load.resp"

used_memory() { cli "$1" INFO memory 2>/dev/null | tr -d '\r' | sed -n 's/^used_memory:\([0-9]*\)$/\1/p'; }
rss_bytes() { awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/${pid[$1]}/status" 2>/dev/null; }

declare -A mem_per_key rss_per_key loaded
for kind in redis concord; do
    mem_per_key[$kind]=n/a rss_per_key[$kind]=n/a loaded[$kind]=n/a
    kill -0 "${pid[$kind]}" 2>/dev/null || continue
    cli "$kind" FLUSHALL >/dev/null 2>&1 || true
    sleep 1
    mem_before=$(used_memory "$kind")
    rss_before=$(rss_bytes "$kind")
    if ! pipe_out=$(timeout "$run_timeout" redis-cli -h 127.0.0.1 -p "${port[$kind]}" --pipe <"$work/load.resp" 2>&1); then
        log "$kind: loading failed: $(tail -2 <<<"$pipe_out")"
        continue
    fi
    grep -q 'errors: 0,' <<<"$pipe_out" || log "$kind: $(tail -1 <<<"$pipe_out")"
    sleep 1
    count=$(cli "$kind" DBSIZE 2>/dev/null | tr -d '\r')
    [[ $count =~ ^[0-9]+$ && $count -gt 0 ]] || continue
    loaded[$kind]=$count
    mem_after=$(used_memory "$kind")
    rss_after=$(rss_bytes "$kind")
    if [[ -n $mem_before && -n $mem_after ]]; then
        mem_per_key[$kind]=$(((mem_after - mem_before) / count))
    fi
    if [[ -n $rss_before && -n $rss_after ]]; then
        rss_per_key[$kind]=$(((rss_after - rss_before) / count))
    fi
done

{
    echo
    echo "Memory: $keys string keys (11-byte keys, 8-byte values), bytes per key"
    printf '%-24s %12s %12s %8s\n' measure redis concord ratio
    printf '%-24s %12s %12s %8s\n' "keys loaded (DBSIZE)" "${loaded[redis]}" "${loaded[concord]}" ""
    printf '%-24s %12s %12s %8s\n' "INFO used_memory/key" "${mem_per_key[redis]}" "${mem_per_key[concord]}" \
        "$(ratio "${mem_per_key[redis]}" "${mem_per_key[concord]}")"
    printf '%-24s %12s %12s %8s\n' "VmRSS growth/key" "${rss_per_key[redis]}" "${rss_per_key[concord]}" \
        "$(ratio "${rss_per_key[redis]}" "${rss_per_key[concord]}")"
    echo
    echo "(ratio is concord/redis; redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), $(nproc) cores)"
} | tee -a "$report"
log "results saved to $report"
