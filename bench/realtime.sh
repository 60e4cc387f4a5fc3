#!/usr/bin/env bash
# Realtime: commit-to-event latency of postgres_changes and the change rate it
# sustains (not a test; not run by CI).
#
#   bench/realtime.sh
#
# Starts a Postgres cluster of its own under $OURVIDZ_HOME/bench-pg (port
# $OURVIDZ_BENCH_PORT, default 54339) with the local stack's settings (durable:
# fsync and synchronous commits on, wal_level=logical), then runs
# `cargo bench -p ourvidz-realtime --bench latency` against it and stops it.
# The workload (subscribers, sessions, rates, what "falls behind" means) is
# described at the top of crates/realtime/benches/latency.rs; it prints a
# Markdown table.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=../scripts/lib/pg.sh
. "$root/scripts/lib/pg.sh"

home=$(ourvidz_home "$root")
dir=$home/bench-pg
port=${OURVIDZ_BENCH_PORT:-54339}
mkdir -p "$home"
pg_cluster_init "$dir" postgres
pg_cluster_start "$dir" "$port"
trap 'pg_cluster_stop "$dir"' EXIT
OURVIDZ_TEST_PG="postgresql://postgres:postgres@127.0.0.1:$port/postgres" \
    cargo bench -q -p ourvidz-realtime --bench latency
