#!/usr/bin/env bash
# The page's live latency: the reference worker's job-callback to the 1x3 set
# visible in headless Chromium (not a test; not run by CI).
#
#   bench/page.sh [runs]       (default 10)
#
# Starts a Postgres cluster of its own under $OURVIDZ_HOME/bench-pg (port
# $OURVIDZ_BENCH_PORT, default 54339) with the local stack's settings (durable:
# fsync and synchronous commits on, wal_level=logical), builds what the stack
# needs, runs bench/page.mjs against it (the workload is described there) and
# stops the cluster. Needs scripts/setup.sh's Chromium and tests/js packages
# and the extension installed (scripts/test.sh install). Prints a Markdown table.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=../scripts/lib/pg.sh
. "$root/scripts/lib/pg.sh"

cargo build -q -p ourvidz-runtime -p ourvidz-worker
cargo build -q --target wasm32-wasip2 --release \
    -p queue-job -p job-callback -p workspace-actions -p library-actions -p delete-workspace-item -p storage-drain

home=$(ourvidz_home "$root")
dir=$home/bench-pg
port=${OURVIDZ_BENCH_PORT:-54339}
mkdir -p "$home"
pg_cluster_init "$dir" postgres
pg_cluster_start "$dir" "$port"
trap 'pg_cluster_stop "$dir"' EXIT
OURVIDZ_TEST_PG="postgresql://postgres:postgres@127.0.0.1:$port/postgres" \
    node --experimental-websocket bench/page.mjs "$@"
