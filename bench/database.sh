#!/usr/bin/env bash
# Database benchmarks (not a test; not run by CI). Prints a table of figures.
#
#   bench/database.sh [expired_rows] [live_rows]      default 1000000 250000
#
# 1. Expiry cleanup of `expired_rows` expired workspace rows among `live_rows`
#    live ones (1000 users, 4 assets per job, a thumbnail on every 4th asset):
#      - ours: cleanup_expired_workspace_assets() called until it returns 0,
#        each call its own transaction (as pg_cron runs it);
#      - the seed's: one `DELETE FROM workspace_assets WHERE expires_at < now()`.
#    Both record the deleted objects in the outbox (the trigger is the same),
#    so the work is equal; what differs is how long row locks are held.
#    "peak lock hold" is the longest transaction holding the deleted rows' locks.
# 2. Insert throughput into user_library (100 collections, rows spread over
#    them), in 1000-row statements and in single-row statements, with the
#    collection-count trigger disabled, in Rust (extension build) and in
#    plpgsql (pure-SQL build).
#
# Uses a release build of the extension and a cluster of its own under
# .ourvidz/bench-pg (port 54339), with durable default settings.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=../scripts/lib/pg.sh
. scripts/lib/pg.sh

expired=${1:-1000000}
live=${2:-250000}
dir=$(ourvidz_home "$root")/bench-pg
port=54339

bash scripts/setup.sh >/dev/null
(cd pg_extension && cargo pgrx install --release --pg-config /usr/bin/pg_config >/dev/null)
pg_cluster_init "$dir" postgres
pg_cluster_start "$dir" "$port" "-c shared_buffers=1GB -c max_wal_size=8GB -c checkpoint_timeout=30min"
trap 'pg_cluster_stop "$dir"' EXIT

sql() { pg_psql "$dir" "$port" "$@"; }

# build DB: a fresh database with the extension or the migrations
fresh() {
    local db=$1 build=$2
    sql -d postgres -c "drop database if exists $db with (force)" -c "create database $db"
    sql -d "$db" -f pg_extension/bootstrap/supabase_compat.sql >/dev/null
    if [ "$build" = extension ]; then
        sql -d "$db" -c "create extension ourvidz"
    else
        for migration in migrations/*.sql; do sql -d "$db" -f "$migration" >/dev/null 2>&1; done
    fi
}

load_workspace() {
    local db=$1
    sql -d "$db" <<SQL
insert into auth.users (id) select gen_random_uuid() from generate_series(1, 1000);
create temp table u as select id, row_number() over (order by id) as n from auth.users;
insert into jobs (id, user_id, job_type, mode, prompt, model, batch_size, generation_seed, status)
select gen_random_uuid(), u.id, 'image_fast', 'image', 'bench', 'sdxl', 4, g, 'completed'
from generate_series(0, ($expired + $live) / 4 - 1) g join u on u.n = g % 1000 + 1;
insert into workspace_assets (user_id, job_id, asset_index, asset_type, temp_storage_path, thumbnail_path,
                              file_size_bytes, mime_type, generation_seed, original_prompt, model_used,
                              created_at, expires_at)
select j.user_id, j.id, i, 'image', format('%s/%s/%s.png', j.user_id, j.id, i),
       case when i = 0 then format('%s/%s/thumbnails/%s.png', j.user_id, j.id, i) end,
       1000, 'image/png', j.generation_seed, 'bench', 'sdxl', e.expires_at - interval '7 days', e.expires_at
from jobs j cross join generate_series(0, 3) i
cross join lateral (
    select case when j.generation_seed < $expired / 4 then now() - interval '1 hour' + make_interval(secs => j.generation_seed % 3600)
                else now() + interval '7 days' end as expires_at) e;
vacuum analyze;
SQL
}

# Our cleanup: call until nothing is left, one transaction per call.
bench_ours() {
    local db=$1
    sql -d "$db" -At <<'SQL'
set client_min_messages = notice;
do $$
declare
    started timestamptz := clock_timestamp();
    call_started timestamptz;
    longest interval := interval '0';
    removed bigint;
    total bigint := 0;
    calls integer := 0;
begin
    loop
        call_started := clock_timestamp();
        removed := cleanup_expired_workspace_assets();
        commit;
        longest := greatest(longest, clock_timestamp() - call_started);
        total := total + removed;
        calls := calls + 1;
        exit when removed = 0;
    end loop;
    raise notice 'ours|%|%|%|%', total,
        round(extract(epoch from clock_timestamp() - started)::numeric, 2),
        round(extract(epoch from longest)::numeric * 1000, 0), calls;
end
$$;
SQL
}

bench_seed() {
    local db=$1
    sql -d "$db" -At <<'SQL'
set client_min_messages = notice;
do $$
declare
    started timestamptz := clock_timestamp();
    removed bigint;
begin
    delete from workspace_assets where expires_at < now();
    get diagnostics removed = row_count;
    commit;
    raise notice 'seed|%|%|%|1', removed,
        round(extract(epoch from clock_timestamp() - started)::numeric, 2),
        round(extract(epoch from clock_timestamp() - started)::numeric * 1000, 0);
end
$$;
SQL
}

cleanup_row() { # label notice-line
    local line=$1
    IFS='|' read -r label rows seconds peak_ms calls <<<"${line#*NOTICE:  }"
    printf '%-34s %10s rows %8ss %10s rows/s  peak lock hold %7s ms  (%s transactions)\n' \
        "$label" "$rows" "$seconds" "$(awk -v r="$rows" -v s="$seconds" 'BEGIN { printf "%.0f", r / s }')" "$peak_ms" "$calls"
}

# Insert throughput into user_library, three ways:
#   - 200 transactions of one 1000-row statement (an import);
#   - 2000 transactions of one 10-row statement (saves from the workspace);
#   - one transaction of 20000 single-row statements: the worst case for any
#     counter kept by a row trigger — every update of a collection row in the
#     same transaction walks the chain of versions that transaction left.
bench_inserts() {
    local db=$1 label=$2 trigger=$3
    sql -d "$db" -At <<SQL 2>&1 | sed -n 's/.*NOTICE:  //p'
insert into auth.users (id) values ('00000000-0000-4000-8000-00000000b001') on conflict do nothing;
insert into user_collections (id, user_id, name)
select ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, '00000000-0000-4000-8000-00000000b001', 'c' || g
from generate_series(1, 100) g;
alter table user_library $trigger trigger trigger_update_collection_asset_count;
create function pg_temp.add(tag text, first integer, rows integer) returns void language sql as \$\$
    insert into user_library (user_id, asset_type, storage_path, file_size_bytes, mime_type,
                              original_prompt, model_used, collection_id)
    select '00000000-0000-4000-8000-00000000b001', 'image',
           format('00000000-0000-4000-8000-00000000b001/%s/%s.png', tag, g), 1, 'image/png', 'p', 'm',
           ('00000000-0000-4000-8000-' || lpad((g % 100 + 1)::text, 12, '0'))::uuid
    from generate_series(first, first + rows - 1) g
\$\$;
set client_min_messages = notice;
do \$\$
declare
    started timestamptz;
begin
    started := clock_timestamp();
    for b in 0..199 loop
        perform pg_temp.add('import', b * 1000, 1000);
        commit;
    end loop;
    raise notice '% (1000-row transactions)|%', '$label', round(200000 / extract(epoch from clock_timestamp() - started));
    started := clock_timestamp();
    for b in 0..1999 loop
        perform pg_temp.add('saves', b * 10, 10);
        commit;
    end loop;
    raise notice '% (10-row transactions)|%', '$label', round(20000 / extract(epoch from clock_timestamp() - started));
    started := clock_timestamp();
    for g in 1..20000 loop
        perform pg_temp.add('one', g, 1);
    end loop;
    commit;
    raise notice '% (20000 rows, one transaction)|%', '$label', round(20000 / extract(epoch from clock_timestamp() - started));
end
\$\$;
SQL
}

echo "== cleanup: $expired expired rows among $live live ones"
fresh bench_ours extension
load_workspace bench_ours >/dev/null
cleanup_row "$(bench_ours bench_ours 2>&1 | grep 'NOTICE:  ours')"
fresh bench_seed extension
load_workspace bench_seed >/dev/null
cleanup_row "$(bench_seed bench_seed 2>&1 | grep 'NOTICE:  seed')"
fresh bench_twin migrations
load_workspace bench_twin >/dev/null
cleanup_row "$(bench_ours bench_twin 2>&1 | grep 'NOTICE:  ours' | sed 's/ours/ours, plpgsql twin/')"

echo "== user_library inserts (rows/s)"
for setup in "extension disable no trigger" "extension enable Rust trigger" "migrations enable plpgsql trigger"; do
    read -r build action label <<<"$setup"
    fresh bench_inserts "$build"
    bench_inserts bench_inserts "$label" "$action" | while IFS='|' read -r what rate; do
        printf '%-48s %10s rows/s\n' "$what" "$rate"
    done
done
