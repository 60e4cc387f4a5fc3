#!/usr/bin/env bash
# The local runtime against `wasmtime serve` (not a test; not run by CI).
# Prints a table, and one machine-readable `BENCH|...` line per figure
# (bench/run.sh's table).
#
#   bench/runtime.sh [seconds]        default 10 seconds per step
#
# All three serve bench/echo (an HTTP-only spin-sdk 7 component answering a
# fixed JSON body) on 127.0.0.1; `wrk` (Debian's) drives each at 1, 16 and 64
# connections and reports requests/s and latency percentiles:
#   ourvidz               `ourvidz up` (release) with verify_jwt off for this
#                         route; it still routes, applies the gateway rules,
#                         logs a line per request and gives every request a
#                         fresh instance, as Spin does;
#   wasmtime-serve-fresh  `wasmtime serve` with an instance per request too
#                         (--max-instance-reuse-count 1): the like-for-like
#                         baseline;
#   wasmtime-serve-reuse  `wasmtime serve` as it comes: a WASIp3 instance
#                         serves up to 128 requests (16 at once), which no
#                         multi-tenant host may do (two users' data would meet
#                         in one guest memory).
# The runtime's resident memory is sampled during its 64-connection step.
# Needs `wasmtime` 48.0.8 (`cargo install --locked wasmtime-cli --version
# 48.0.8`, about 12 minutes; $WASMTIME or on PATH) and a Postgres
# (OURVIDZ_TEST_PG) in which it creates database bench_runtime for the
# runtime's Storage API. Ports: $OURVIDZ_BENCH_HTTP_PORT (default 54381) and
# the next two. OURVIDZ_BENCH_PREBUILT=1 uses the binaries already built.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
seconds=${1:-10}
: "${OURVIDZ_TEST_PG:?set OURVIDZ_TEST_PG to a Postgres URL (the runtime mounts the Storage API on it)}"
wasmtime=${WASMTIME:-$(command -v wasmtime || true)}
[ -x "$wasmtime" ] || { echo "wasmtime (48.0.8) is not on PATH and WASMTIME is not set" >&2; exit 1; }
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null

if [ "${OURVIDZ_BENCH_PREBUILT:-0}" != 1 ]; then
    cargo build -q --release -p ourvidz-runtime
    cargo build -q --release --target wasm32-wasip2 --manifest-path bench/echo/Cargo.toml --target-dir target
fi

# a database of its own with the Supabase bootstrap (the Storage API needs it)
database_url="${OURVIDZ_TEST_PG%/*}/bench_runtime"
psql -X -q "$OURVIDZ_TEST_PG" -c "drop database if exists bench_runtime with (force)" -c "create database bench_runtime"
psql -X -q "$database_url" -f pg_extension/bootstrap/supabase_compat.sql >/dev/null

home=$(mktemp -d)
ourvidz_port=${OURVIDZ_BENCH_HTTP_PORT:-54381}
wasmtime_port=$((ourvidz_port + 1))
fresh_port=$((ourvidz_port + 2))
component=target/wasm32-wasip2/release/bench_echo.wasm
target/release/ourvidz up --home "$home" --db-url "$database_url" --no-build --no-worker \
    --manifest bench/echo/spin.toml --supabase-config bench/echo/supabase/config.toml \
    --listen "127.0.0.1:$ourvidz_port" >/dev/null 2>"$home/ourvidz.log" &
ourvidz_pid=$!
"$wasmtime" serve -S cli=y --addr "127.0.0.1:$wasmtime_port" "$component" >/dev/null 2>"$home/wasmtime.log" &
wasmtime_pid=$!
"$wasmtime" serve -S cli=y --addr "127.0.0.1:$fresh_port" \
    --max-instance-reuse-count 1 --max-instance-concurrent-reuse-count 1 \
    "$component" >/dev/null 2>"$home/wasmtime-fresh.log" &
fresh_pid=$!
trap 'kill $ourvidz_pid $wasmtime_pid $fresh_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$home"; psql -X -q "$OURVIDZ_TEST_PG" -c "drop database if exists bench_runtime with (force)" || true' EXIT

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

# Largest resident set of the runtime while a step runs, in MB.
sample_rss() {
    local peak=0 kb
    while kill -0 "$ourvidz_pid" 2>/dev/null; do
        kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$ourvidz_pid/status" 2>/dev/null || echo 0)
        [ "${kb:-0}" -gt "$peak" ] && peak=$kb
        echo "$peak" >"$home/rss"
        sleep 0.2
    done
}

# wrk ADDRESS CONNECTIONS: "<req/s> <p50 ms> <p90 ms> <p99 ms> <errors>"
step() {
    local threads=$(( $2 < 2 ? 1 : 2 ))
    wrk -t "$threads" -c "$2" -d "${seconds}s" --latency "$1" | awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        /^Requests\/sec/ { rate = $2 }
        $1 == "50%" { p50 = ms($2) } $1 == "90%" { p90 = ms($2) } $1 == "99%" { p99 = ms($2) }
        /Non-2xx|Socket errors/ { errors = errors $0 }
        END { printf "%.0f %.3f %.3f %.3f %s\n", rate, p50, p90, p99, (errors == "" ? "-" : "errors") }'
}

declare -A rate p99
printf '%-22s %5s %10s %9s %9s %9s\n' host conns req/s "p50 ms" "p90 ms" "p99 ms"
for target in "ourvidz http://127.0.0.1:$ourvidz_port/functions/v1/echo" \
              "wasmtime-serve-fresh http://127.0.0.1:$fresh_port/" \
              "wasmtime-serve-reuse http://127.0.0.1:$wasmtime_port/"; do
    read -r name address <<<"$target"
    for connections in 1 16 64; do
        sampler=
        if [ "$name" = ourvidz ] && [ "$connections" = 64 ]; then
            sample_rss &
            sampler=$!
        fi
        read -r r p50 p90 p99v errors <<<"$(step "$address" "$connections")"
        [ -n "$sampler" ] && kill "$sampler" 2>/dev/null && wait "$sampler" 2>/dev/null || true
        rate[$name $connections]=$r
        p99[$name $connections]=$p99v
        printf '%-22s %5s %10s %9s %9s %9s %s\n' "$name" "$connections" "$r" "$p50" "$p90" "$p99v" "${errors/-/}"
    done
done
rss=$(awk '{ printf "%.0f", $1 / 1024 }' "$home/rss")
echo "runtime resident memory under 64 connections: $rss MB"

# BENCH|figure|ours|baseline|unit|target
bench_line() { printf 'BENCH|%s|%s|%s|%s|%s\n' "$@"; }
for connections in 1 16 64; do
    bench_line "host vs wasmtime serve, instance per request: req/s at $connections conns" \
        "${rate[ourvidz $connections]}" "${rate[wasmtime-serve-fresh $connections]}" req/s "ratio>=1.5"
    bench_line "host vs wasmtime serve, instance reuse: req/s at $connections conns" \
        "${rate[ourvidz $connections]}" "${rate[wasmtime-serve-reuse $connections]}" req/s "ratio>=0.5"
    bench_line "host vs wasmtime serve, instance per request: p99 at $connections conns" \
        "${p99[ourvidz $connections]}" "${p99[wasmtime-serve-fresh $connections]}" ms "ratio<=1.0"
done
bench_line "runtime resident memory under 64 connections" "$rss" "-" MB "ours<=200"
