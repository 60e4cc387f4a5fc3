#!/usr/bin/env bash
# /rest/v1 against a native Postgres client on the same read (not a test; not run by CI).
#
#   bench/rest.sh [seconds]        default 10 seconds per step
#
# Workload (issue 9): a 20-row page of user_library for a user with 10,000
# rows among 1,000,000 (1,000 users), newest first, at 1, 16 and 64
# connections, three ways in one run:
#   rest    GET /rest/v1/user_library?select=*&user_id=eq.<user>&order=created_at.desc&limit=20
#           with the user's token (wrk; the release runtime, REST pool of 10 as PostgREST's db-pool)
#   rpc     GET /rest/v1/rpc/bench_library_page?page_size=20 (a stable SQL function made for
#           this run: the same select, by auth.uid())
#   native  pgbench (libpq, prepared) running what /rest/v1 runs around the same select:
#           BEGIN; set_config of role and claims; SELECT ... LIMIT 20; COMMIT — RLS applies alike
# Everything shares the machine's cores: Postgres, the server and the load generator.
# Needs a Postgres with the ourvidz extension installed (OURVIDZ_TEST_PG, a superuser URL;
# scripts/test.sh install), in which it creates database bench_rest. It builds the release
# runtime first (long: fat LTO); OURVIDZ_BENCH_PREBUILT=1 runs the binaries already built.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
seconds=${1:-10}
: "${OURVIDZ_TEST_PG:?set OURVIDZ_TEST_PG to a superuser URL of a Postgres with the ourvidz extension}"
pg_bin=$(/usr/bin/pg_config --bindir)

command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null

if [ "${OURVIDZ_BENCH_PREBUILT:-0}" != 1 ]; then
    cargo build -q --release -p ourvidz-runtime
    cargo build -q --release --target wasm32-wasip2 -p queue-job -p job-callback -p workspace-actions -p delete-workspace-item
fi

db="${OURVIDZ_TEST_PG%/*}/bench_rest"
psql -X -q "$OURVIDZ_TEST_PG" -c "drop database if exists bench_rest with (force)" -c "create database bench_rest"
psql -X -q "$db" -f pg_extension/bootstrap/supabase_compat.sql >/dev/null 2>&1
psql -X -q "$db" -c "create extension ourvidz"

user=$(cat /proc/sys/kernel/random/uuid)
echo "loading 1,000,000 library rows (10,000 of user $user)..."
psql -X -q -v ON_ERROR_STOP=1 "$db" <<SQL
insert into auth.users (id) values ('$user');
insert into auth.users (id) select gen_random_uuid() from generate_series(1, 999);
create temp table others as
    select id, row_number() over (order by id) as n from auth.users where id <> '$user';
insert into user_library (user_id, asset_type, storage_path, file_size_bytes, mime_type,
                          original_prompt, model_used, tags, created_at)
select o.id, 'image', o.id || '/' || g || '.png', 1000 + g % 997, 'image/png',
       'bench prompt ' || g, 'sdxl', array['bench'], now() - make_interval(secs => g)
from generate_series(1, 990000) g join others o on o.n = g % 999 + 1;
insert into user_library (user_id, asset_type, storage_path, file_size_bytes, mime_type,
                          original_prompt, model_used, tags, created_at)
select '$user', 'image', '$user/' || g || '.png', 1000 + g % 997, 'image/png',
       'bench prompt ' || g, 'sdxl', array['bench'], now() - make_interval(secs => g)
from generate_series(1, 10000) g;
vacuum analyze user_library;
-- The RPC side of the comparison: the same page by auth.uid(), made for this run only.
create function public.bench_library_page(page_size integer default 20) returns setof public.user_library
    language sql stable
    as 'select * from public.user_library where user_id = auth.uid() order by created_at desc limit page_size';
grant execute on function public.bench_library_page(integer) to authenticated;
SQL

home=$(mktemp -d)
port=54391
stack_pid=
cleanup() {
    if [ -n "$stack_pid" ]; then
        kill "$stack_pid" 2>/dev/null || true
        wait "$stack_pid" 2>/dev/null || true
    fi
    psql -X -q "$OURVIDZ_TEST_PG" -c "drop database if exists bench_rest with (force)" || true
    rm -rf "$home"
}
trap cleanup EXIT

OURVIDZ_HOME=$home target/release/ourvidz up --db-url "$db" --no-build --no-worker \
    --listen "127.0.0.1:$port" >/dev/null 2>"$home/ourvidz.log" &
stack_pid=$!
for _ in $(seq 1 600); do
    curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.2
done
token=$(OURVIDZ_HOME=$home target/release/ourvidz token --user "$user" --ttl 86400)
anon=$(OURVIDZ_HOME=$home target/release/ourvidz token --role anon --ttl 86400)
rest_url="http://127.0.0.1:$port/rest/v1/user_library?select=*&user_id=eq.$user&order=created_at.desc&limit=20"
rpc_url="http://127.0.0.1:$port/rest/v1/rpc/bench_library_page?page_size=20"

rows() { curl -fs "$1" -H "Authorization: Bearer $token" -H "apikey: $anon" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
[ "$(rows "$rest_url")" = 20 ] || { echo "the REST page is not 20 rows" >&2; exit 1; }
[ "$(rows "$rpc_url")" = 20 ] || { echo "the RPC page is not 20 rows" >&2; exit 1; }

claims=$(printf '{"sub":"%s","role":"authenticated","aud":"authenticated"}' "$user")
script=$home/page.sql
cat >"$script" <<'SQL'
BEGIN;
SELECT set_config('role', 'authenticated', true), set_config('request.jwt.claims', :claims, true);
SELECT * FROM user_library WHERE user_id = :uid ORDER BY created_at DESC LIMIT 20;
COMMIT;
SQL

# wrk: "<p50 ms> <requests/s>"
http_step() {
    local url=$1 connections=$2 threads=$(( $2 < 2 ? 1 : 2 ))
    wrk -t "$threads" -c "$connections" -d "${seconds}s" --latency \
        -H "Authorization: Bearer $token" -H "apikey: $anon" "$url" | awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        $1 == "50%" { p50 = ms($2) }
        $1 == "Requests/sec:" { rps = $2 }
        END { printf "%.2f %.0f\n", p50, rps }'
}

# pgbench: "<p50 ms> <transactions/s>"
native_step() {
    local connections=$1 threads=$(( $1 < 2 ? 1 : 2 )) logs=$home/pgbench-$1
    mkdir -p "$logs"
    local tps
    tps=$(cd "$logs" && "$pg_bin/pgbench" -n -M prepared -c "$connections" -j "$threads" -T "$seconds" -l \
        -f "$script" -D uid="$user" -D claims="$claims" "$db" 2>/dev/null | awk '/^tps/ { print $3; exit }')
    local p50
    p50=$(cat "$logs"/pgbench_log.* | awk '{ print $3 }' | sort -n | awk '{ a[NR] = $1 } END { printf "%.2f", a[int((NR + 1) / 2)] / 1000 }')
    echo "$p50 ${tps%.*}"
}

printf '\n%-12s %-8s %10s %12s\n' "path" "conns" "p50 (ms)" "requests/s"
for connections in 1 16 64; do
    read -r native_p50 native_rps < <(native_step "$connections")
    read -r rest_p50 rest_rps < <(http_step "$rest_url" "$connections")
    read -r rpc_p50 rpc_rps < <(http_step "$rpc_url" "$connections")
    printf '%-12s %-8s %10s %12s\n' "native" "$connections" "$native_p50" "$native_rps"
    printf '%-12s %-8s %10s %12s\n' "/rest/v1" "$connections" "$rest_p50" "$rest_rps"
    printf '%-12s %-8s %10s %12s\n' "rpc" "$connections" "$rpc_p50" "$rpc_rps"
done
