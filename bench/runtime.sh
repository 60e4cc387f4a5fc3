#!/usr/bin/env bash
# The local runtime against `wasmtime serve` (not a test; not run by CI).
#
#   bench/runtime.sh [seconds]        default 10 seconds per step
#
# Both serve bench/echo (an HTTP-only spin-sdk 7 component answering a fixed
# JSON body) on 127.0.0.1; `wrk` (Debian's) drives each at 1, 16 and 64
# connections and reports requests/s and latency percentiles. `ourvidz up`
# runs the release build with verify_jwt off for this route; it still routes,
# applies the gateway rules, logs a line per request and instantiates a fresh
# instance per request, as Spin does. Needs `wasmtime` 48.0.8 on PATH
# (`cargo install --locked wasmtime-cli --version 48.0.8`, about 12 minutes)
# and a Postgres (OURVIDZ_TEST_PG) in which it creates database bench_runtime
# for the runtime's Storage API.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
seconds=${1:-10}
: "${OURVIDZ_TEST_PG:?set OURVIDZ_TEST_PG to a Postgres URL (the runtime mounts the Storage API on it)}"

command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
command -v wasmtime >/dev/null || { echo "wasmtime (48.0.8) is not on PATH" >&2; exit 1; }

cargo build -q --release -p ourvidz-runtime
cargo build -q --release --target wasm32-wasip2 --manifest-path bench/echo/Cargo.toml \
    --target-dir target

# a database of its own with the Supabase bootstrap (the Storage API needs it)
database_url="${OURVIDZ_TEST_PG%/*}/bench_runtime"
psql -X -q "$OURVIDZ_TEST_PG" -c "drop database if exists bench_runtime with (force)" -c "create database bench_runtime"
psql -X -q "$database_url" -f pg_extension/bootstrap/supabase_compat.sql >/dev/null

home=$(mktemp -d)
ourvidz_port=54381
wasmtime_port=54382
fresh_port=54383
target/release/ourvidz up --home "$home" --db-url "$database_url" --no-build --no-worker \
    --manifest bench/echo/spin.toml --supabase-config bench/echo/supabase/config.toml \
    --listen "127.0.0.1:$ourvidz_port" >/dev/null 2>"$home/ourvidz.log" &
ourvidz_pid=$!
wasmtime serve -S cli=y --addr "127.0.0.1:$wasmtime_port" target/wasm32-wasip2/release/bench_echo.wasm \
    >/dev/null 2>"$home/wasmtime.log" &
wasmtime_pid=$!
# wasmtime serve reuses a WASIp3 instance for up to 128 requests (16 at once)
# by default; Spin and ourvidz give every request a fresh instance. Both
# modes are measured.
wasmtime serve -S cli=y --addr "127.0.0.1:$fresh_port" \
    --max-instance-reuse-count 1 --max-instance-concurrent-reuse-count 1 \
    target/wasm32-wasip2/release/bench_echo.wasm >/dev/null 2>"$home/wasmtime-fresh.log" &
fresh_pid=$!
trap 'kill $ourvidz_pid $wasmtime_pid $fresh_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$home"' EXIT

wait_for() {
    for _ in $(seq 1 300); do
        curl -sf -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "no answer from $1" >&2
    exit 1
}
wait_for "http://127.0.0.1:$ourvidz_port/functions/v1/echo"
wait_for "http://127.0.0.1:$wasmtime_port/"
wait_for "http://127.0.0.1:$fresh_port/"

printf '%-22s %5s %10s %9s %9s %9s\n' host conns req/s p50 p90 p99
for url in "ourvidz http://127.0.0.1:$ourvidz_port/functions/v1/echo" \
           "wasmtime-serve-fresh http://127.0.0.1:$fresh_port/" \
           "wasmtime-serve-reuse http://127.0.0.1:$wasmtime_port/"; do
    read -r name address <<<"$url"
    for connections in 1 16 64; do
        wrk -t 1 -c "$connections" -d "${seconds}s" --latency "$address" >"$home/wrk.out"
        rate=$(awk '/^Requests\/sec/ { print $2 }' "$home/wrk.out")
        p50=$(awk '$1 == "50%" { print $2 }' "$home/wrk.out")
        p90=$(awk '$1 == "90%" { print $2 }' "$home/wrk.out")
        p99=$(awk '$1 == "99%" { print $2 }' "$home/wrk.out")
        errors=$(awk '/Non-2xx|Socket errors/ { print }' "$home/wrk.out")
        printf '%-22s %5s %10s %9s %9s %9s %s\n' "$name" "$connections" "$rate" "$p50" "$p90" "$p99" "$errors"
    done
done
