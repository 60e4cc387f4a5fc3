-- The library API: keyset pages and filters, batched management with
-- per-item results, collections, statistics. Another user's ids are never
-- found. (Search: 15_search.)
\set VERBOSITY terse
begin;
-- One transaction: collection counts apply at the end of each statement, as
-- they do in separate transactions (04_collection_count shows the default).
set constraints ourvidz_private.apply_pending_collection_counts immediate;
-- alice: eight items a day apart (item 8 newest), two collections; bob: one
-- item, one collection. Ids and times are fixed so answers read the same on
-- every run.
insert into user_collections (id, user_id, name, created_at) values
    ('30000000-0000-4000-8000-00000000000a', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'Foxes', '2026-01-01'),
    ('30000000-0000-4000-8000-00000000000c', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'Birds', '2026-01-02'),
    ('30000000-0000-4000-8000-00000000000b', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'Bob''s', '2026-01-01');
insert into user_library (id, user_id, asset_type, storage_path, thumbnail_path, file_size_bytes, mime_type,
                          original_prompt, model_used, generation_seed, collection_id, custom_title, tags,
                          is_favorite, visibility, created_at, updated_at)
select ('40000000-0000-4000-8000-00000000000' || i)::uuid, 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
       case when i in (3, 6) then 'video' else 'image' end,
       format('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/4000000%s.%s', i, case when i in (3, 6) then 'mp4' else 'png' end),
       case when i = 1 then 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/thumbnails/40000001.jpg' end,
       100 * i, case when i in (3, 6) then 'video/mp4' else 'image/png' end,
       'item ' || i, case when i in (3, 6) then 'wan' else 'sdxl' end, i,
       case when i in (1, 2, 4) then '30000000-0000-4000-8000-00000000000a'::uuid
            when i = 5 then '30000000-0000-4000-8000-00000000000c'::uuid end,
       case when i = 2 then 'Second' end,
       case i when 1 then '{fox,red}' when 2 then '{fox}' when 4 then '{red}' else '{}' end::text[],
       i in (2, 7), case when i = 8 then 'public' else 'private' end,
       timestamptz '2026-02-01 12:00:00+00' + make_interval(days => i),
       timestamptz '2026-02-01 12:00:00+00' + make_interval(days => i)
from generate_series(1, 8) i;
insert into user_library (id, user_id, asset_type, storage_path, file_size_bytes, mime_type, original_prompt,
                          model_used, collection_id, created_at)
values ('50000000-0000-4000-8000-000000000001', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'image',
        'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/b.png', 7, 'image/png', 'bob''s fox', 'sdxl',
        '30000000-0000-4000-8000-00000000000b', '2026-02-05');
select regress.seed_workspace('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000001', 3);
-- A page as item numbers, newest or first listed first.
create function pg_temp.items(answer jsonb)
returns text
language sql
as $$
    select coalesce(string_agg(right(i ->> 'id', 1), ' ' order by n), '-')
    from jsonb_array_elements(answer -> 'items') with ordinality e (i, n)
$$;

select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
-- list_library ------------------------------------------------------------------------
-- newest first; what an item carries
select pg_temp.items(list_library()) as newest, list_library() -> 'next' as next;
select (list_library(1) #> '{items,0}') - 'updated_at' as item;
-- keyset pages of three, following "next", both ways
select pg_temp.items(p1) as page_1, pg_temp.items(p2) as page_2, pg_temp.items(p3) as page_3, p3 -> 'next' as after_3
from (select list_library(3) as p1) a,
     lateral (select list_library(3, p1 -> 'next') as p2) b,
     lateral (select list_library(3, p2 -> 'next') as p3) c;
select pg_temp.items(p1) as oldest_1, pg_temp.items(list_library(3, p1 -> 'next', sort => 'oldest')) as oldest_2
from (select list_library(3, sort => 'oldest') as p1) a;
select (list_library(3) -> 'next') - 'created_at' - 'id' as cursor_names_its_sort;
-- filters, one at a time and together
select f as filter, pg_temp.items(answer) as items
from (values
    ('collection Foxes', list_library(collection_id => '30000000-0000-4000-8000-00000000000a')),
    ('in some collection', list_library(in_collection => true)),
    ('in none', list_library(in_collection => false)),
    ('videos', list_library(asset_type => 'video')),
    ('model sdxl', list_library(model => 'sdxl')),
    ('favorites', list_library(is_favorite => true)),
    ('not favorites', list_library(is_favorite => false)),
    ('public', list_library(visibility => 'public')),
    ('tags all of fox, red', list_library(tags_all => '{fox,red}')),
    ('tags any of fox, red', list_library(tags_any => '{fox, " red "}')),
    ('created on days 3 to 5', list_library(created_after => '2026-02-04 12:00:00+00', created_before => '2026-02-07 12:00:00+00')),
    ('Foxes, images, tagged red', list_library(collection_id => '30000000-0000-4000-8000-00000000000a', asset_type => 'image',
                                               tags_any => '{red}')),
    ('nothing matches', list_library(model => 'nope'))
) as cases (f, answer);
-- a filtered page follows its own cursor
select pg_temp.items(list_library(1, list_library(1, in_collection => false) -> 'next', in_collection => false))
    as second_unfiled;

-- bad requests: each a 400 naming what is wrong; another user's collection is
-- not found, as one that does not exist
select rule, regress.try(statement) as answer
from (values
    ('page_size 1 to 100',        'select list_library(0)'),
    ('sort is known',             $$select list_library(sort => 'random')$$),
    ('relevance needs a search',  $$select list_library(sort => 'relevance')$$),
    ('asset_type is known',       $$select list_library(asset_type => 'gif')$$),
    ('visibility is known',       $$select list_library(visibility => 'secret')$$),
    ('tags are tags',             $$select list_library(tags_all => '{""}')$$),
    ('collection or none, not both', $$select list_library(collection_id => '30000000-0000-4000-8000-00000000000a', in_collection => false)$$),
    ('a cursor is a next',        $$select list_library(after => '{"created_at": "now", "id": "x"}')$$),
    ('... of the same sort',      $$select list_library(after => list_library(1) -> 'next', sort => 'oldest')$$),
    ('bob''s collection',         $$select list_library(collection_id => '30000000-0000-4000-8000-00000000000b')$$)
) as cases (rule, statement);

-- bob sees his one item, whatever he asks for
reset role;
select regress.act_as('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb');
select pg_temp.items(list_library()) as bobs, pg_temp.items(list_library(in_collection => false)) as bobs_unfiled;

-- update_library_items ---------------------------------------------------------------------
-- bob changes nothing of alice's: every id is not found
select regress.stable(update_library_items('{40000000-0000-4000-8000-000000000001, 40000000-0000-4000-8000-000000000002}',
                                           '{"is_favorite": true}')) as bob_updating;
reset role;
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
create function pg_temp.state()
returns table (item text, title text, tags text[], favorite boolean, visibility text, collection text)
language sql
as $$
    select right(id::text, 1), custom_title, tags, is_favorite, visibility,
           (select name from user_collections c where c.id = l.collection_id)
    from user_library l where user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' order by id
$$;
-- one call, many items, each answered: bob's item and a missing one are not found
select regress.stable(update_library_items(
    '{40000000-0000-4000-8000-000000000001, 40000000-0000-4000-8000-000000000003, 40000000-0000-4000-8000-000000000003,
      50000000-0000-4000-8000-000000000001, 99999999-9999-4999-8999-999999999999}',
    '{"custom_title": " Dusk ", "add_tags": ["night", "fox"], "remove_tags": ["red"], "is_favorite": true,
      "visibility": "unlisted", "collection_id": "30000000-0000-4000-8000-00000000000c"}')) as updated;
select * from pg_temp.state() where item in ('1', '3');
-- replace the tags, clear the title, take out of any collection
select jsonb_array_length(update_library_items('{40000000-0000-4000-8000-000000000001}',
    '{"tags": ["dusk"], "custom_title": null, "collection_id": null}') -> 'updated') as updated;
select * from pg_temp.state() where item = '1';
-- the collection counts follow every move
select name, asset_count from user_collections where user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' order by name;
-- an item the change would break fails alone (51 tags), the others change
reset role;
update user_library set tags = array(select 't' || g from generate_series(1, 50) g)
where id = '40000000-0000-4000-8000-000000000004';
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
select regress.stable(update_library_items('{40000000-0000-4000-8000-000000000004, 40000000-0000-4000-8000-000000000005}',
                                           '{"add_tags": ["one-more"]}')) as overflow;
select item, cardinality(tags) as tags from pg_temp.state() where item in ('4', '5');
-- bad changes are refused as a whole
select rule, regress.try(statement) as answer
from (values
    ('changes is an object',        $$select update_library_items('{40000000-0000-4000-8000-000000000001}', '[]')$$),
    ('something to change',         $$select update_library_items('{40000000-0000-4000-8000-000000000001}', '{}')$$),
    ('no unknown fields',           $$select update_library_items('{40000000-0000-4000-8000-000000000001}', '{"rating": 5}')$$),
    ('a title is a title',          $$select update_library_items('{40000000-0000-4000-8000-000000000001}', '{"custom_title": "  "}')$$),
    ('tags are strings',            $$select update_library_items('{40000000-0000-4000-8000-000000000001}', '{"tags": [1]}')$$),
    ('tags replace, or add/remove', $$select update_library_items('{40000000-0000-4000-8000-000000000001}', '{"tags": [], "add_tags": ["x"]}')$$),
    ('favorite is true or false',   $$select update_library_items('{40000000-0000-4000-8000-000000000001}', '{"is_favorite": null}')$$),
    ('visibility is known',         $$select update_library_items('{40000000-0000-4000-8000-000000000001}', '{"visibility": "friends"}')$$),
    ('collection_id is a uuid',     $$select update_library_items('{40000000-0000-4000-8000-000000000001}', '{"collection_id": "Foxes"}')$$),
    ('bob''s collection is not found', $$select update_library_items('{40000000-0000-4000-8000-000000000001}', '{"collection_id": "30000000-0000-4000-8000-00000000000b"}')$$),
    ('1 to 100 ids',                $$select update_library_items('{}', '{"is_favorite": true}')$$)
) as cases (rule, statement);

-- delete_library_items ---------------------------------------------------------------------
select regress.stable(delete_library_items('{40000000-0000-4000-8000-000000000005, 50000000-0000-4000-8000-000000000001}'))
    as deleted;
reset role;
select count(*) as bobs_item_still_there from user_library where id = '50000000-0000-4000-8000-000000000001';
select bucket_id, object_name, reason from storage_deletion_outbox order by object_name;
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');

-- collections ------------------------------------------------------------------------------
select regress.stable(create_collection('  Owls  ', 'night birds')) as created;
select rule, regress.try(statement) as answer
from (values
    ('names are unique per user, whatever the case', $$select create_collection('owls')$$),
    ('a name is 1 to 100 characters',                $$select create_collection(repeat('n', 101))$$),
    ('... not blank',                                $$select create_collection(' ')$$),
    ('... on one line',                              $$select create_collection(E'two\nlines')$$),
    ('a description is at most 2000 characters',    $$select create_collection('Long', repeat('d', 2001))$$),
    ('renaming to a taken name',                     $$select update_collection('30000000-0000-4000-8000-00000000000c', name => 'FOXES')$$),
    ('renaming needs something to change',           $$select update_collection('30000000-0000-4000-8000-00000000000c')$$),
    ('bob''s collection is not found',               $$select update_collection('30000000-0000-4000-8000-00000000000b', name => 'mine')$$),
    ('... nor deleted',                              $$select delete_collection('30000000-0000-4000-8000-00000000000b')$$)
) as cases (rule, statement);
-- bob may have a collection of the same name
reset role;
select regress.act_as('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb');
select create_collection('Owls') ->> 'name' as bobs_owls;
reset role;
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
-- rename and describe; an empty description clears it
select regress.stable(update_collection('30000000-0000-4000-8000-00000000000c', name => 'Small birds', description => 'sparrows'))
    as renamed;
select regress.stable(update_collection('30000000-0000-4000-8000-00000000000c', description => '')) as undescribed;
-- listed newest first, with counts and the newest item as the cover
select c ->> 'name' as name, c ->> 'asset_count' as asset_count, right(c #>> '{cover,id}', 1) as cover,
       c #>> '{cover,thumbnail_path}' as cover_thumbnail
from jsonb_array_elements(list_collections() -> 'collections') c;

-- statistics: counts and bytes by type in the workspace and the library, per
-- collection and outside any
select jsonb_pretty(regress.stable(asset_statistics())) as statistics;

-- deleting a collection keeps its items, in no collection ...
select regress.stable(delete_collection('30000000-0000-4000-8000-00000000000c')) as kept_items;
select * from pg_temp.state() where item in ('1', '3');
-- ... or deletes them with it, their files queued
select regress.stable(delete_collection('30000000-0000-4000-8000-00000000000a', delete_items => true)) as with_items;
select pg_temp.items(list_library()) as left;
select object_name from storage_deletion_outbox where bucket_id = 'user-library' order by 1;
select c ->> 'name' as name, c ->> 'asset_count' as asset_count from jsonb_array_elements(list_collections() -> 'collections') c;
-- through every save, move and delete the statistics' totals stayed exact:
-- recomputing them from the rows changes none
reset role;
select repair_library_totals() as totals_that_were_wrong;
-- ... and repairs what a bypass broke
update library_totals set items = 99 where user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' and collection_id is null;
select repair_library_totals('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa') as repaired, repair_library_totals() as left_wrong;
rollback;

-- PostgREST runs a stable function in a read-only transaction (GET /rpc, and
-- POST /rpc of a stable function): the listing takes no locks there.
begin transaction read only;
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
select regress.try($$select list_library(collection_id => '30000000-0000-4000-8000-00000000000a')$$) as read_only_listing;
select regress.try($$select list_library(search => 'fox')$$) as read_only_search;
rollback;
