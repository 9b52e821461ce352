#!/usr/bin/env bash
# The Active-Active replication benchmark (not a test): two instances on
# loopback (shard + proxy + syncer each, real processes), writes at one,
# visibility at the other. Prints the lag p50/p99/max at 10k, 50k and the
# maximum writes/s, the apply rate at the receiver, and the catch-up time of
# 1M effects after a cut. See crates/concord/examples/aa_bench.rs.
#
#   bash scripts/bench-aa.sh
#
# Environment: AA_BENCH_SECONDS (per rate, default 5), AA_BENCH_CATCHUP
# (effects written during the cut, default 1000000), CONCORD_BIN.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
cargo build --release --quiet --bin concord --example aa_bench
exec target/release/examples/aa_bench
