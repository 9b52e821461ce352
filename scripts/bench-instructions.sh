#!/usr/bin/env bash
# CPU work per request (not a test): instructions the server executes per
# request, counted by valgrind's callgrind, for `concord shard` and
# `redis-server` under the same redis-benchmark load (-c 50 -P 16).
#
#   bash scripts/bench-instructions.sh [TEST ...]   (default: set get incr lpush rpop sadd hset zadd)
#
# Wall-clock throughput (scripts/bench.sh) swings with whatever else runs on
# the machine; instruction counts do not, so this is the number to compare
# between two versions of Concord on a busy or shared machine. Each server
# runs twice under callgrind, serving SMALL and then LARGE requests; the
# difference divided by LARGE - SMALL removes start-up and shutdown. It does
# not see cache misses or system calls: confirm a win with bench.sh.
#
# Environment: CONCORD_BIN (binary; skips the build), BENCH_SMALL (10000),
# BENCH_LARGE (60000), BENCH_RANDOM (redis-benchmark -r: random keys out of
# that many instead of one key; unset by default).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

small=${BENCH_SMALL:-10000}
large=${BENCH_LARGE:-60000}
random=()
[[ -n ${BENCH_RANDOM:-} ]] && random=(-r "$BENCH_RANDOM")
tests=("$@")
[[ ${#tests[@]} -gt 0 ]] || tests=(set get incr lpush rpop sadd hset zadd)
target_dir=${CARGO_TARGET_DIR:-$CONCORD_ROOT/target}
work=$target_dir/bench-instructions
bin=${CONCORD_BIN:-$target_dir/release/concord}

ensure_packages redis-server:redis-server redis-benchmark:redis-tools valgrind:valgrind callgrind_annotate:valgrind
if [[ -z ${CONCORD_BIN:-} ]]; then
    log "building target/release/concord"
    (cd "$CONCORD_ROOT" && cargo build --release --bin concord --quiet)
fi
rm -rf "$work"
mkdir -p "$work"

# Instructions of one server run under callgrind that serves `n` requests
# of `test` (after `pre_n` requests of `pre`, if given).
# Usage: run_ir concord|redis test n [pre pre_n]
run_ir() {
    local kind=$1 test=$2 n=$3 pre=${4:-} pre_n=${5:-0}
    local port dir pid total
    port=$(free_port)
    dir=$(mktemp -d "$work/run.XXXXXX")
    if [[ $kind == redis ]]; then
        valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" \
            redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >"$dir/log" 2>&1 &
    else
        valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" \
            "$bin" shard --port "$port" --dir "$dir/data" --appendonly no >"$dir/log" 2>&1 &
    fi
    pid=$!
    wait_for_server "$port" "$pid" 120 || die "$kind under valgrind did not start; see $dir/log"
    if [[ -n $pre ]]; then
        timeout 600 redis-benchmark -p "$port" -c 50 -P 16 "${random[@]}" -n "$pre_n" -t "$pre" -q >/dev/null 2>&1
    fi
    timeout 600 redis-benchmark -p "$port" -c 50 -P 16 "${random[@]}" -n "$n" -t "$test" -q >/dev/null 2>&1
    if [[ $kind == redis ]]; then
        timeout 60 redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    else
        kill -TERM "$pid"
    fi
    wait "$pid" || true
    total=$(grep -h '^summary:\|^totals:' "$dir"/cg.out* | head -1 | awk '{print $2}')
    [[ -n $total ]] || die "no callgrind totals for $kind $test; see $dir"
    rm -rf "$dir"
    echo "$total"
}

per_request() {
    local kind=$1 test=$2 pre=() a b
    # RPOP needs a list to pop from: LPUSH more than it pops first.
    [[ $test == rpop ]] && pre=(lpush $((large * 2)))
    # A server that does not start (its random port taken meanwhile) is
    # tried again; after three failures the row shows n/a.
    local attempt
    for attempt in 1 2 3; do
        if a=$(run_ir "$kind" "$test" "$small" "${pre[@]}") && b=$(run_ir "$kind" "$test" "$large" "${pre[@]}"); then
            echo $(((b - a) / (large - small)))
            return
        fi
        log "$kind $test: attempt $attempt failed"
    done
    echo n/a
}

printf '%-8s %14s %14s %8s\n' test redis concord ratio
for test in "${tests[@]}"; do
    r=$(per_request redis "$test")
    c=$(per_request concord "$test")
    ratio=n/a
    [[ $r == n/a || $c == n/a ]] || ratio=$(awk -v c="$c" -v r="$r" 'BEGIN { printf "%.2f", c / r }')
    printf '%-8s %14s %14s %8s\n' "$test" "$r" "$c" "$ratio"
done
echo "(instructions per request, -c 50 -P 16${BENCH_RANDOM:+ -r $BENCH_RANDOM}; ratio concord/redis, lower is better)"
