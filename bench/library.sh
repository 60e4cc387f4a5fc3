#!/usr/bin/env bash
# Library listing and search benchmark (not a test; not run by CI). Prints a table.
#
#   bench/library.sh [total_rows] [user_rows] [runs]     default 2000000 100000 200
#
# Workload (issue 10): user_library holds `total_rows` items, `user_rows` of
# them one user's and the rest spread over 1,999 others. Prompts are built
# from word lists (a subject, an adjective, a place, a style, a light), so a
# subject word is in ~1 % of the items, an adjective in ~2 %, and the word
# "zebra" in ~0.05 %; a fifth of the items have a title, most have 1-4 tags
# of 200, a tenth are favourites, half are in one of the user's 20
# collections. Each query runs `runs` times as that user (role
# authenticated, RLS on, as PostgREST and the edge functions call it), timed
# inside the server (no network), after one warm-up run; p50 and p95 in ms.
#
#   ours    the SQL API: list_library (keyset pages, GIN full-text and
#           trigram indexes), asset_statistics, list_collections
#   naive   what a client would write against the table through /rest/v1
#           (`user_id=eq.<id>`, as supabase-js sends it): ILIKE '%word%' on
#           prompt and title, OFFSET paging — the same rows, newest first
#
# Uses the pure-SQL build (the search is plain SQL, the same in both builds)
# on a cluster of its own under $OURVIDZ_HOME/bench-library-pg (port
# $OURVIDZ_BENCH_PORT, default 54349), with durable settings and 1 GB of
# shared buffers. Loading 2,000,000 rows takes a few minutes.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=../scripts/lib/pg.sh
. scripts/lib/pg.sh

total=${1:-2000000}
mine=${2:-100000}
runs=${3:-200}
dir=$(ourvidz_home "$root")/bench-library-pg
port=${OURVIDZ_BENCH_PORT:-54349}
db=bench_library
user=00000000-0000-4000-8000-00000000b0b0

bash scripts/setup.sh >/dev/null
bash scripts/build-migrations.sh --check
pg_cluster_init "$dir" postgres
pg_cluster_start "$dir" "$port" "-c shared_buffers=1GB -c max_wal_size=8GB -c checkpoint_timeout=30min -c work_mem=16MB"
[ -n "${BENCH_KEEP:-}" ] || trap 'pg_cluster_stop "$dir"' EXIT

sql() { pg_psql "$dir" "$port" "$@"; }

sql -d postgres -c "drop database if exists $db with (force)" -c "create database $db"
sql -d "$db" -f pg_extension/bootstrap/supabase_compat.sql >/dev/null
for migration in migrations/*.sql; do sql -d "$db" -f "$migration" >/dev/null 2>&1; done

echo "loading $total library items ($mine of one user)..."
started=$(date +%s)
sql -d "$db" <<SQL
select setseed(0.42);
insert into auth.users (id) values ('$user');
insert into auth.users (id) select gen_random_uuid() from generate_series(1, 1999);
insert into user_collections (user_id, name)
select '$user', 'collection ' || g from generate_series(1, 20) g;

-- The items: created over two years, one user's first. Triggers are skipped
-- during the load (checks still apply; the search document is a generated
-- column, computed as always); collection counts and library totals are
-- repaired after.
set session_replication_role = replica;
insert into user_library (user_id, asset_type, storage_path, file_size_bytes, mime_type, original_prompt,
                          model_used, generation_seed, collection_id, custom_title, tags, is_favorite,
                          created_at, updated_at)
select owner, kind, format('%s/%s.%s', owner, gen_random_uuid(), case kind when 'image' then 'png' else 'mp4' end),
       case kind when 'image' then 200000 + (random() * 3000000)::bigint
                 else 5000000 + (random() * 50000000)::bigint end,
       case kind when 'image' then 'image/png' else 'video/mp4' end,
       prompt, case kind when 'image' then 'sdxl' else 'wan' end, (random() * 4294967295)::bigint,
       case when owner = '$user' and random() < 0.5 then collections[1 + (random() * 19)::int] end,
       case when random() < 0.2 then initcap(split_part(prompt, ' in ', 1)) end,
       array_remove(array[case when random() < 0.8 then 'tag' || (1 + (random() * 199)::int) end,
                          case when random() < 0.6 then 'tag' || (1 + (random() * 199)::int) end,
                          case when random() < 0.4 then 'tag' || (1 + (random() * 199)::int) end,
                          case when random() < 0.2 then 'tag' || (1 + (random() * 199)::int) end], null),
       random() < 0.1, at, at
from (
    select case when g <= $mine then '$user'::uuid else others[1 + g % 1999] end as owner,
           case when random() < 0.85 then 'image' else 'video' end as kind,
           now() - make_interval(secs => random() * 63072000) as at,
           adjectives[1 + (random() * 49)::int] || ' '
           || case when random() < 0.0005 then 'zebra' else subjects[1 + (random() * 99)::int] end || ' '
           || places[1 + (random() * 19)::int] || ', ' || styles[1 + (random() * 14)::int] || ', '
           || lights[1 + (random() * 9)::int] as prompt,
           collections
    from generate_series(1, $total) g,
    (select array(select id from auth.users where id <> '$user' order by id) as others,
            array(select id from user_collections where user_id = '$user' order by name) as collections,
            array['fox','wolf','owl','cat','dog','horse','lion','tiger','bear','deer','eagle','whale','dragon',
                  'robot','knight','wizard','castle','ship','city','forest','river','mountain','lake','garden',
                  'temple','tower','bridge','train','car','bicycle','woman','man','child','dancer','samurai',
                  'astronaut','pirate','queen','king','monk','violin','piano','guitar','lantern','clock','mirror',
                  'book','flower','tree','island','desert','glacier','volcano','canyon','meadow','harbor','market',
                  'library','cathedral','lighthouse','windmill','balloon','kite','umbrella','teapot','mushroom',
                  'butterfly','dolphin','octopus','jellyfish','penguin','rabbit','squirrel','hedgehog','panda',
                  'koala','giraffe','elephant','rhino','camel','parrot','flamingo','peacock','swan','crow','raven',
                  'sparrow','falcon','phoenix','unicorn','griffin','golem','android','cyborg','spaceship',
                  'satellite','comet','planet','moon','sun'] as subjects,
            array['red','blue','golden','silver','ancient','futuristic','tiny','giant','glowing','misty','frozen',
                  'burning','quiet','busy','lonely','happy','sad','mysterious','elegant','rusty','wooden','crystal',
                  'paper','neon','vintage','modern','wild','calm','stormy','sunny','dark','bright','colorful',
                  'pale','shiny','broken','floating','sleeping','running','dancing','singing','hidden','enormous',
                  'delicate','fierce','gentle','noble','humble','royal','strange'] as adjectives,
            array['in the snow','at dawn','under the stars','in a jungle','on a rooftop','by the sea',
                  'in the rain','in a cave','on the moon','in a city street','in a field of flowers',
                  'at the market','in the clouds','underwater','in a ballroom','on a train','in the desert',
                  'by a campfire','in a library','on a mountain peak'] as places,
            array['oil painting','watercolor','photograph','digital art','pencil sketch','cinematic still','anime',
                  'pixel art','3d render','ukiyo-e print','art nouveau poster','charcoal drawing','stained glass',
                  'low poly','claymation'] as styles,
            array['soft light','golden hour','dramatic lighting','backlit','studio lighting','moonlight',
                  'candlelight','overcast','volumetric fog','neon glow'] as lights) lists
) items;
set session_replication_role = origin;
select repair_collection_asset_counts();
select repair_library_totals();
vacuum analyze;
SQL
echo "loaded in $(( $(date +%s) - started )) s"

sql -d "$db" -At <<SQL | column -t -s '|'
create function pg_temp.measure(label text, statement text, runs integer)
returns text
language plpgsql
as \$\$
declare
    times double precision[] := '{}';
    started timestamptz;
begin
    execute statement;
    for i in 1..runs loop
        started := clock_timestamp();
        execute statement;
        times := times || extract(epoch from clock_timestamp() - started) * 1000;
    end loop;
    return format('%s|%s|%s', label,
        round((select percentile_cont(0.5) within group (order by t) from unnest(times) t)::numeric, 2),
        round((select percentile_cont(0.95) within group (order by t) from unnest(times) t)::numeric, 2));
end;
\$\$;
select set_config('request.jwt.claims', json_build_object('sub', '$user', 'role', 'authenticated')::text, false);
set role authenticated;
-- the cursor of page 100 (items 4951-5000), for the keyset side of deep paging
select set_config('bench.page_100', (
    with recursive pages (n, answer) as (
        select 1, list_library(50)
        union all
        select n + 1, list_library(50, answer -> 'next') from pages where n < 99)
    select answer -> 'next' from pages where n = 99)::text, false) is not null as cursor_ready;
select 'query|p50 ms|p95 ms';
select pg_temp.measure('page 1 of 50, newest: ours (list_library)', 'select list_library(50)', $runs);
select pg_temp.measure('page 1 of 50, newest: naive (order by, limit)',
    \$q\$select * from user_library where user_id = '$user' order by created_at desc limit 50\$q\$, $runs);
select pg_temp.measure('page 100 of 50: ours (keyset cursor)',
    \$q\$select list_library(50, current_setting('bench.page_100')::jsonb)\$q\$, $runs);
select pg_temp.measure('page 100 of 50: naive (offset 4950)',
    \$q\$select * from user_library where user_id = '$user' order by created_at desc limit 50 offset 4950\$q\$, $runs);
select pg_temp.measure('search "zebra" (0.05 %): ours, newest',
    \$q\$select list_library(50, search => 'zebra')\$q\$, $runs);
select pg_temp.measure('search "zebra" (0.05 %): ours, relevance',
    \$q\$select list_library(50, search => 'zebra', sort => 'relevance')\$q\$, $runs);
select pg_temp.measure('search "zebra" (0.05 %): naive (ILIKE)',
    \$q\$select * from user_library where user_id = '$user'
          and (original_prompt ilike '%zebra%' or custom_title ilike '%zebra%')
          order by created_at desc limit 50\$q\$, $runs);
select pg_temp.measure('search "lighthouse" (1 %): ours, newest',
    \$q\$select list_library(50, search => 'lighthouse')\$q\$, $runs);
select pg_temp.measure('search "lighthouse" (1 %): ours, relevance',
    \$q\$select list_library(50, search => 'lighthouse', sort => 'relevance')\$q\$, $runs);
select pg_temp.measure('search "lighthouse" (1 %): naive (ILIKE)',
    \$q\$select * from user_library where user_id = '$user'
          and (original_prompt ilike '%lighthouse%' or custom_title ilike '%lighthouse%')
          order by created_at desc limit 50\$q\$, $runs);
select pg_temp.measure('search "lighthuose" (typo, fuzzy): ours',
    \$q\$select list_library(50, search => 'lighthuose')\$q\$, $runs);
select pg_temp.measure('tag filter tag17 (~1 %): ours',
    \$q\$select list_library(50, tags_all => '{tag17}')\$q\$, $runs);
select pg_temp.measure('tag filter tag17 (~1 %): naive (@>)',
    \$q\$select * from user_library where user_id = '$user' and tags @> '{tag17}'
          order by created_at desc limit 50\$q\$, $runs);
select pg_temp.measure('statistics (asset_statistics)', 'select asset_statistics()', $runs);
select pg_temp.measure('collections with counts and covers (list_collections)', 'select list_collections()', $runs);
SQL
