#!/usr/bin/env bash
# Runs every test of the project — the README's test command and what CI runs.
#
#   scripts/test.sh             all stages, in order
#   scripts/test.sh regress     only the named stages (setup always runs first)
#
# Stages:
#   pgrx      #[pg_test]s of the extension (cargo pgrx test, server run as postgres)
#   install   install the extension into the system Postgres (cargo pgrx install)
#   regress   pg_regress + isolation suite against both builds: the extension,
#             and the pure-SQL migrations (after checking they are not stale),
#             pushed and linted by the Supabase CLI as on hosted Supabase; then
#             the differential test of the twins (tests/differential)
#   native    cargo test of the native crates (JWT, Storage API, Realtime, runtime, edge,
#             worker); the test cluster runs with wal_level=logical for Realtime
#   e2e       the whole stack: the Spin components (release) on the runtime, the
#             Storage API, the worker, against a database with the extension
#   js        the same stack through the JavaScript clients (supabase-js under
#             node --test, tests/js), the app page among them in headless
#             Chromium (playwright-core; screenshots in target/browser/)
#
# Test clusters live under $OURVIDZ_HOME (default <repo>/.ourvidz) and are
# stopped on exit. Nothing here needs a server to be running beforehand.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=lib/pg.sh
. "$root/scripts/lib/pg.sh"

home=$(ourvidz_home "$root")
test_pg=$home/test-pg
test_port=${OURVIDZ_TEST_PORT:-54329}
regress_dir=pg_extension/tests/pg_regress
isolation_dir=pg_extension/tests/isolation
pgxs=$(cd "$(dirname "$(/usr/bin/pg_config --pgxs)")/../.." && pwd)

stage() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }

cleanup() {
    pg_cluster_stop "$test_pg" || true
}
trap cleanup EXIT

# pg_cron, as hosted Supabase runs it: its scheduler works in one database
# (the e2e schedule test builds the database there) and runs jobs in
# background workers, so it needs no login of its own.
cron_db=ourvidz_cron
cron_settings="-c shared_preload_libraries=pg_cron -c cron.database_name=$cron_db -c cron.use_background_workers=on"

start_test_cluster() {
    mkdir -p "$home"
    pg_cluster_init "$test_pg" postgres
    pg_cluster_start "$test_pg" "$test_port" "-c fsync=off -c full_page_writes=off -c synchronous_commit=off $cron_settings"
    if [ -z "$(pg_psql "$test_pg" "$test_port" -d postgres -tAc "select 1 from pg_database where datname = '$cron_db'")" ]; then
        pg_psql "$test_pg" "$test_port" -d postgres -c "create database $cron_db"
    fi
    export OURVIDZ_TEST_PG="postgresql://postgres:postgres@127.0.0.1:$test_port/postgres"
}

# The Supabase CLI, pinned and installed by setup.sh.
supabase() {
    "$root/.tools/supabase/node_modules/.bin/supabase" --workdir "$root" "$@"
}

# fresh_database NAME: drop and recreate NAME with the compatibility bootstrap.
fresh_database() {
    local db=$1
    pg_psql "$test_pg" "$test_port" -d postgres -c "drop database if exists $db with (force)" -c "create database $db"
    pg_psql "$test_pg" "$test_port" -d "$db" -f pg_extension/bootstrap/supabase_compat.sql >/dev/null
}

# run_suites BUILD DB: the pg_regress and isolation suites against database DB.
run_suites() {
    local build=$1 db=$2
    local out=$home/regress-out/$build
    rm -rf "$out"
    mkdir -p "$out/isolation"
    local status=0
    "$pgxs/src/test/regress/pg_regress" --use-existing --bindir="$PG_BIN" \
        --host="$test_pg/run" --port="$test_port" --user=postgres --dbname="$db" \
        --inputdir="$regress_dir" --outputdir="$out" \
        --schedule="$regress_dir/schedule" || status=$?
    "$pgxs/src/test/isolation/pg_isolation_regress" --use-existing --bindir="$PG_BIN" \
        --host="$test_pg/run" --port="$test_port" --user=postgres --dbname="$db" \
        --inputdir="$isolation_dir" --outputdir="$out/isolation" \
        --schedule="$isolation_dir/schedule" || status=$?
    if [ "$status" -ne 0 ]; then
        cat "$out/regression.diffs" "$out/isolation/regression.diffs" 2>/dev/null || true
        echo "regress suite failed against the $build build (outputs in $out)" >&2
        return 1
    fi
}

stage_pgrx() {
    stage "extension #[pg_test]s"
    # pgrx's --runas creates and initdbs the data directory as postgres, so its
    # parent must be writable by postgres and the directory itself must not exist.
    local dir=$home/pgrx
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$dir"
        (cd pg_extension && cargo pgrx test pg15 --runas postgres --pgdata "$dir/data")
    else
        (cd pg_extension && cargo pgrx test pg15)
    fi
}

stage_install() {
    stage "install the extension"
    (cd pg_extension && cargo pgrx install --pg-config /usr/bin/pg_config)
}

stage_regress() {
    stage "pg_regress suite: extension build"
    start_test_cluster
    fresh_database ourvidz_regress_extension
    pg_psql "$test_pg" "$test_port" -d ourvidz_regress_extension -c "create extension ourvidz"
    run_suites extension ourvidz_regress_extension

    stage "pg_regress suite: pure-SQL migrations build, pushed by the Supabase CLI (parity)"
    bash scripts/build-migrations.sh --check
    fresh_database ourvidz_regress_migrations
    local url="postgresql://postgres:postgres@127.0.0.1:$test_port/ourvidz_regress_migrations?sslmode=disable"
    supabase db push --db-url "$url" --yes
    # every migration is recorded as applied, as hosted Supabase records it
    local listed migration version
    listed=$(supabase migration list --db-url "$url")
    for migration in migrations/*.sql; do
        version=$(basename "$migration" | cut -d_ -f1)
        if ! grep -Eq "$version.? +[|] +.?$version" <<<"$listed"; then
            printf '%s\n' "$listed" >&2
            echo "supabase migration list does not show $migration applied" >&2
            return 1
        fi
    done
    supabase db lint --db-url "$url" --level warning --fail-on warning
    run_suites migrations ourvidz_regress_migrations

    stage "differential test of the twins: extension against pure SQL"
    cargo test -p ourvidz-differential
}

stage_native() {
    stage "native crates"
    start_test_cluster
    cargo test --workspace --exclude ourvidz --exclude queue-job --exclude job-callback \
        --exclude workspace-actions --exclude library-actions --exclude delete-workspace-item --exclude storage-drain \
        --exclude ourvidz-e2e \
        --exclude ourvidz-differential
}

stage_e2e() {
    stage "end to end: components, runtime, Storage API, worker"
    cargo build -p ourvidz-runtime -p ourvidz-worker
    cargo build --target wasm32-wasip2 --release \
        -p queue-job -p job-callback -p workspace-actions -p library-actions -p delete-workspace-item -p storage-drain
    start_test_cluster
    cargo test -p ourvidz-e2e
}

stage_js() {
    stage "JavaScript clients: supabase-js and the page in Chromium against the stack"
    cargo build -p ourvidz-runtime -p ourvidz-worker
    cargo build --target wasm32-wasip2 --release \
        -p queue-job -p job-callback -p workspace-actions -p library-actions -p delete-workspace-item -p storage-drain
    start_test_cluster
    # Node 20 has a WebSocket (supabase-js's realtime client needs one) behind this flag.
    node --experimental-websocket --test tests/js/
}

bash "$root/scripts/setup.sh"

stages=("$@")
if [ "${#stages[@]}" -eq 0 ]; then
    stages=(pgrx install regress native e2e js)
fi
for name in "${stages[@]}"; do
    "stage_$name"
done
stage "all tests passed"
