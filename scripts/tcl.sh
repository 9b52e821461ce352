#!/usr/bin/env bash
# Runs Redis's own Tcl test suite (Redis 7.0, from Debian's source package)
# in external-server mode against `concord shard`, one unit at a time, each
# against a fresh server, and compares the failing tests with the checked-in
# list tests/tcl/expected-failures.txt.
#
# The run fails on any failure not in the list AND on any listed test that
# now passes, so the list only ever shrinks as Concord improves.
#
# Usage: scripts/tcl.sh [--against concord|redis] [--bless] [UNIT ...]
#   --against redis  run against redis-server instead (self-check of this
#                    runner: then every test must pass, the list is ignored)
#   --bless          rewrite tests/tcl/expected-failures.txt from this run
#   UNIT ...         run only these units (default: tests/tcl/units.txt)
# Environment: CONCORD_TCL_AGAINST, CONCORD_TCL_BLESS=1,
#   CONCORD_TCL_UNIT_TIMEOUT (seconds per unit, default 240),
#   CONCORD_TCL_BUDGET (seconds after which no further unit starts; the
#   units left are reported as failed; default 420),
#   CONCORD_TCL_JOBS (units run at once, each against its own server; 2),
#   CONCORD_TCL_NO_BUILD=1 (use the existing target/release/concord),
#   CONCORD_BIN (run this binary instead of target/release/concord),
#   CONCORD_TCL_RUN_DIR (where logs and results go; default a new
#   directory under target/tcl-run/, which target/tcl-run/latest points to).
#
# Redis's suite is Redis's code: it is fetched at test time into
# target/redis-src/ (cached there) and never committed.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

against=${CONCORD_TCL_AGAINST:-concord}
bless=${CONCORD_TCL_BLESS:-0}
unit_timeout=${CONCORD_TCL_UNIT_TIMEOUT:-240}
budget=${CONCORD_TCL_BUDGET:-420}
parallel=${CONCORD_TCL_JOBS:-2}
units=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --against) against=$2; shift 2 ;;
        --bless) bless=1; shift ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        -*) die "unknown option $1" ;;
        *) units+=("$1"); shift ;;
    esac
done
[[ $against == concord || $against == redis ]] || die "--against must be concord or redis"

target_dir=${CARGO_TARGET_DIR:-$CONCORD_ROOT/target}
src_cache=$target_dir/redis-src
# Each run gets its own directory (several people may share a work tree);
# target/tcl-run/latest points to the newest.
run_dir=${CONCORD_TCL_RUN_DIR:-$target_dir/tcl-run/$(date +%Y%m%d-%H%M%S)-$$}
expected_file=$CONCORD_ROOT/tests/tcl/expected-failures.txt
skip_file=$CONCORD_ROOT/tests/tcl/skip.txt
units_file=$CONCORD_ROOT/tests/tcl/units.txt

# Adds deb-src entries that mirror the machine's own Debian entries (same
# URIs, mirror or proxy included, same suites), so `apt-get source` works.
ensure_deb_src() {
    local out=/etc/apt/sources.list.d/concord-deb-src.sources
    local list_out=/etc/apt/sources.list.d/concord-deb-src.list
    if grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        return 0
    fi
    log "adding deb-src entries for Debian's repositories"
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        # Copies each enabled stanza whose URIs name a Debian archive, as deb-src.
        awk 'BEGIN { RS = ""; ORS = "\n\n" }
             /(^|\n)URIs:[^\n]*debian/ && /(^|\n)Types:[^\n]*deb/ && !/(^|\n)Enabled: *no/ {
                 sub(/(^|\n)Types:[^\n]*/, "\nTypes: deb-src"); sub(/^\n/, ""); print }' "$f"
    done >"$out.tmp"
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $f ]] || continue
        sed -nE 's/^deb (.*debian.*)$/deb-src \1/p' "$f"
    done >"$list_out.tmp"
    if [[ -s $out.tmp ]]; then mv "$out.tmp" "$out"; else rm -f "$out.tmp"; fi
    if [[ -s $list_out.tmp ]]; then mv "$list_out.tmp" "$list_out"; else rm -f "$list_out.tmp"; fi
    [[ -f $out || -f $list_out ]] || die "found no Debian apt source to mirror as deb-src"
    apt_get update -qq >/dev/null
}

# Sets REDIS_SRC to an unpacked Redis 7.0.x source tree, downloading
# Debian's `redis` source package once into target/redis-src/.
fetch_redis_src() {
    local dir
    dir=$(find "$src_cache" -maxdepth 1 -type d -name 'redis-7.0.*' 2>/dev/null | sort | tail -1) || true
    if [[ -z $dir || ! -f $dir/tests/test_helper.tcl ]]; then
        ensure_deb_src
        log "fetching Debian's redis source package into $src_cache"
        rm -rf "$src_cache"
        mkdir -p "$src_cache"
        (cd "$src_cache" && apt_get source -qq redis >/dev/null 2>"$src_cache/apt-source.log") ||
            { cat "$src_cache/apt-source.log" >&2; die "apt-get source redis failed"; }
        dir=$(find "$src_cache" -maxdepth 1 -type d -name 'redis-*' | sort | tail -1)
    fi
    [[ -n $dir && -f $dir/tests/test_helper.tcl ]] || die "no Redis test suite under $src_cache"
    local version
    version=$(sed -nE 's/^#define REDIS_VERSION "([^"]+)"/\1/p' "$dir/src/version.h")
    [[ $version == 7.0.* ]] || die "Redis source is $version, expected 7.0.x (expected lists are for 7.0)"
    REDIS_SRC=$dir
    REDIS_SRC_VERSION=$version
}

# Reads skip.txt into runtest flags: --tags "-a -b" and --skipfile FILE.
build_skip_args() {
    local tags=() line
    : >"$run_dir/skiptests.txt"
    while IFS= read -r line || [[ -n $line ]]; do
        case $line in
            ''|'#'*) ;;
            'tag '*) tags+=("-${line#tag }") ;;
            'test '*) printf '%s\n' "${line#test }" >>"$run_dir/skiptests.txt" ;;
            *) die "skip.txt: cannot read line: $line" ;;
        esac
    done <"$skip_file"
    SKIP_ARGS=(--tags "${tags[*]}")
    [[ -s $run_dir/skiptests.txt ]] && SKIP_ARGS+=(--skipfile "$run_dir/skiptests.txt")
    return 0
}

# Runs one unit against a fresh server; writes `STATUS<TAB>KEY` lines to
# results/UNIT.tsv, where KEY is "UNIT: TEST NAME" and STATUS is ok, err,
# skip or ignore. Problems of the unit as a whole (time-out, crash,
# exception) become err lines with a bracketed pseudo-name.
run_unit() {
    local unit=$1 port pid rc=0 logfile server_log start=$SECONDS
    local safe=${unit//\//_}
    local results=$run_dir/results/$safe.tsv
    logfile=$run_dir/logs/$safe.log
    server_log=$run_dir/logs/$safe.server.log
    : >"$results"
    # Units run in parallel, so a port found free can be taken before the
    # server binds it: try a few fresh ports before giving up.
    local attempt started=0
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        start_server "$against" "$port" "$run_dir/data/$safe" "$server_log"
        pid=$SERVER_PID
        if wait_for_server "$port" "$pid" 20; then
            started=1
            break
        fi
        stop_server "$pid"
        log "$unit: server start attempt $attempt failed; retrying on another port"
    done
    if [[ $started -ne 1 ]]; then
        printf 'err\t%s: [server did not start]\n' "$unit" >>"$results"
        return 0
    fi
    # The suite's own test server listens on a port below --baseport; it
    # checks that port is free and then binds it, so a unit running in
    # parallel can take it in between ("couldn't open socket: address
    # already in use" before any test ran): run the unit again then.
    local test_server_port try
    for try in 1 2 3 4 5; do
        rc=0
        test_server_port=$(free_port)
        (cd "$REDIS_SRC" && TERM=dumb timeout -k 10 "$unit_timeout" ./runtest \
            --host 127.0.0.1 --port "$port" --singledb --durable --clients 1 \
            --baseport "$((test_server_port + 32))" \
            --ignore-encoding --ignore-digest --timeout "$unit_timeout" \
            "${SKIP_ARGS[@]}" --single "$unit" </dev/null >"$logfile" 2>&1) || rc=$?
        if [[ $rc -ne 0 ]] && grep -q "couldn't open socket: address already in use" "$logfile" \
            && ! grep -q '^\[\(ok\|err\)\]' "$logfile"; then
            log "$unit: the suite's test server could not bind its port (attempt $try); running the unit again"
            continue
        fi
        break
    done
    local crashed=0
    kill -0 "$pid" 2>/dev/null || crashed=1
    stop_server "$pid"
    # Test names end in " (N ms)" when ok and " in tests/UNIT.tcl" when err.
    # An err line without that suffix is an error between tests (in a
    # start_server block, with --durable): its text is an error message,
    # not a stable name, so it gets a fixed one.
    awk -v unit="$unit" '
        /^\[ok\]: /     { n = substr($0, 7); sub(/ \([0-9]+ ms\)$/, "", n); print "ok\t" unit ": " n; next }
        /^\[err\]: .* in tests\/.*\.tcl$/ { n = substr($0, 8); sub(/ in tests\/.*\.tcl$/, "", n); print "err\t" unit ": " n; next }
        /^\[err\]: /    { print "err\t" unit ": [error outside a test]"; next }
        /^\[skip\]: /   { print "skip\t" unit ": " substr($0, 9); next }
        /^\[ignore\]: / { print "ignore\t" unit ": " substr($0, 11); next }
        /^\[exception\]: / { print "err\t" unit ": [exception]"; next }
    ' "$logfile" >>"$results"
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then
        printf 'err\t%s: [unit timed out]\n' "$unit" >>"$results"
    elif [[ $crashed -eq 1 ]]; then
        printf 'err\t%s: [server crashed]\n' "$unit" >>"$results"
    elif [[ $rc -ne 0 ]] && ! grep -q '^err' "$results"; then
        printf 'err\t%s: [runner failed with exit code %s]\n' "$unit" "$rc" >>"$results"
    fi
    local counts
    counts=$(awk -F'\t' '{ c[$1]++ }
        END { printf "%d ok, %d err, %d skipped", c["ok"], c["err"], c["skip"] + c["ignore"] }' "$results")
    printf '  %-24s %s (%ss)\n' "$unit" "$counts" "$((SECONDS - start))" >&2
}

main() {
    ensure_test_packages
    fetch_redis_src
    if [[ $against == concord && ${CONCORD_TCL_NO_BUILD:-0} != 1 && -z ${CONCORD_BIN:-} ]]; then
        log "building target/release/concord"
        (cd "$CONCORD_ROOT" && cargo build --release --bin concord --quiet)
    fi
    if [[ ${#units[@]} -eq 0 ]]; then
        mapfile -t units < <(grep -vE '^[[:space:]]*(#|$)' "$units_file")
    fi
    rm -rf "$run_dir"
    mkdir -p "$run_dir/logs" "$run_dir/data" "$run_dir/results" "$target_dir/tcl-run"
    ln -sfn "$run_dir" "$target_dir/tcl-run/latest" 2>/dev/null || true
    # Keeps the five newest runs.
    find "$target_dir/tcl-run" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' 2>/dev/null |
        sort -rn | tail -n +6 | cut -d' ' -f2- | xargs -r rm -rf
    build_skip_args
    log "Redis $REDIS_SRC_VERSION Tcl suite against $against: ${#units[@]} units," \
        "$parallel at a time, ${unit_timeout}s limit each, no new unit after ${budget}s"
    local unit deadline=$((SECONDS + budget))
    for unit in "${units[@]}"; do
        while [[ $(jobs -rp | wc -l) -ge $parallel ]]; do
            wait -n || true
        done
        if ((SECONDS >= deadline)); then
            printf 'err\t%s: [not run: time budget of %ss used up]\n' "$unit" "$budget" \
                >"$run_dir/results/${unit//\//_}.tsv"
            continue
        fi
        run_unit "$unit" &
    done
    wait
    # Results in the order of the units list, whatever order they ran in.
    for unit in "${units[@]}"; do
        cat "$run_dir/results/${unit//\//_}.tsv"
    done >"$run_dir/results.tsv"
    report
}

# A test name can occur more than once in a unit (loops over encodings):
# such a key fails if any occurrence fails.
report() {
    local results=$run_dir/results.tsv expected=$run_dir/expected.txt
    awk -F'\t' '$1 == "err" { print $2 }' "$results" | sort -u >"$run_dir/failing.txt"
    awk -F'\t' '$1 == "ok" { print $2 }' "$results" | sort -u |
        comm -23 - "$run_dir/failing.txt" >"$run_dir/passing.txt"
    log "logs: $run_dir/logs/"

    if [[ $bless == 1 ]]; then
        [[ $against == concord ]] || die "--bless only makes sense against concord"
        {
            echo "# Tests of Redis's Tcl suite that fail against concord today, one"
            echo "# \"UNIT: TEST NAME\" a line. Data read by scripts/tcl.sh: a failure not"
            echo "# listed here fails the run, and so does a listed test that now passes."
            echo "# Regenerate with: scripts/tcl.sh --bless (then review the diff)."
            # Entries of units that did not run this time are kept.
            {
                [[ -f $expected_file ]] && awk -F'\t' '
                    FILENAME == ARGV[1] { u = $2; sub(/: .*/, "", u); ran[u] = 1; next }
                    /^[[:space:]]*(#|$)/ { next }
                    { u = $0; sub(/: .*/, "", u); if (!ran[u]) print }
                ' "$results" "$expected_file"
                cat "$run_dir/failing.txt"
            } | sort -u
        } >"$expected_file.new"
        mv "$expected_file.new" "$expected_file"
        log "wrote $(grep -cvE '^[[:space:]]*(#|$)' "$expected_file") entries to $expected_file"
    fi

    # Against redis-server every test must pass: the list is about concord.
    if [[ $against == concord && -f $expected_file ]]; then
        grep -vE '^[[:space:]]*(#|$)' "$expected_file" | sort -u >"$expected" || true
    else
        : >"$expected"
    fi
    local unexpected=$run_dir/unexpected-failures.txt now_passing=$run_dir/now-passing.txt
    local stale=$run_dir/stale.txt
    comm -23 "$run_dir/failing.txt" "$expected" >"$unexpected"
    comm -12 "$run_dir/passing.txt" "$expected" >"$now_passing"
    # Listed tests that did not run at all, in a unit that ran to its end:
    # renamed or removed tests. Units that did not run this time, or broke
    # off (time-out, crash), say nothing about their listed tests.
    awk -F'\t' '
        FILENAME == ARGV[1] { seen[$2] = 1; u = $2; sub(/: .*/, "", u); ran[u] = 1
                              if ($2 ~ /: \[(unit timed out|server crashed|server did not start|exception|not run)/) broken[u] = 1
                              next }
        { u = $0; sub(/: .*/, "", u); if (ran[u] && !broken[u] && !seen[$0]) print }
    ' "$results" "$expected" >"$stale"

    local status=0
    if [[ -s $unexpected ]]; then
        echo
        echo "NEW FAILURES (not in tests/tcl/expected-failures.txt):"
        sed 's/^/  - /' "$unexpected"
        echo "  (details: grep -A8 '^\[err\]' $run_dir/logs/UNIT.log)"
        status=1
    fi
    if [[ -s $now_passing ]]; then
        echo
        echo "NOW PASSING (listed in tests/tcl/expected-failures.txt: remove them):"
        sed 's/^/  + /' "$now_passing"
        status=1
    fi
    if [[ -s $stale ]]; then
        echo
        echo "STALE (listed in tests/tcl/expected-failures.txt, but no such test ran):"
        sed 's/^/  ? /' "$stale"
        status=1
    fi
    # Counts are of test runs (a name looped over encodings counts each time).
    local n_ok n_err n_known n_skip n_bad
    n_ok=$(awk -F'\t' '$1 == "ok"' "$results" | wc -l)
    n_err=$(awk -F'\t' '$1 == "err"' "$results" | wc -l)
    n_skip=$(awk -F'\t' '$1 == "skip" || $1 == "ignore"' "$results" | wc -l)
    n_known=$(awk -F'\t' 'FILENAME == ARGV[1] { k[$0] = 1; next } $1 == "err" && k[$2]' "$expected" "$results" | wc -l)
    n_bad=$(( $(wc -l <"$unexpected") + $(wc -l <"$now_passing") + $(wc -l <"$stale") ))
    echo
    echo "Redis $REDIS_SRC_VERSION Tcl suite against $against: $n_ok ok, $n_err err" \
        "($n_known in the expected-failures list), $n_skip skipped by tags or skip list"
    # The plain closing line. "failed" counts what fails the run; the known
    # failures are counted with the skipped ones (neither is a pass).
    printf 'tcl: %d passed, %d failed, %d skipped\n' "$n_ok" "$n_bad" "$((n_skip + n_known))"
    printf 'passed=%d failed=%d skipped=%d known=%d\n' "$n_ok" "$n_bad" "$n_skip" "$n_known" >"$run_dir/summary.env"
    return "$status"
}

main
