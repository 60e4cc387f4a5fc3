-- The workspace API: list grouped by job, the two-step save with its intents,
-- discard, clear, delete — and another user's ids are never found.
\set VERBOSITY terse
begin;
-- One transaction: collection counts apply at the end of each statement, as
-- they do in separate transactions (04_collection_count shows the default).
set constraints ourvidz_private.apply_pending_collection_counts immediate;

-- alice: job 1 (3 assets, newest), job 2 (2 assets, one expired), a queued job,
-- a failed job, an old completed job whose assets are gone; bob: one job.
select regress.seed_workspace('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000001', 3);
select regress.seed_workspace('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000002', 2);
update workspace_assets set expires_at = now() - interval '1 second'
where job_id = '10000000-0000-4000-8000-000000000002' and asset_index = 1;
insert into jobs (id, user_id, job_type, mode, prompt, model, batch_size, generation_seed, status, error)
values ('10000000-0000-4000-8000-000000000003', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'video_fast', 'video', 'queued one', 'wan', 1, 1, 'queued', null),
       ('10000000-0000-4000-8000-000000000004', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'image_fast', 'image', 'failed one', 'sdxl', 1, 1, 'failed', 'GPU fell over'),
       ('10000000-0000-4000-8000-000000000005', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'image_fast', 'image', 'old one', 'sdxl', 1, 1, 'completed', null);
update jobs j set created_at = now() - make_interval(mins => array_position(array[
    '10000000-0000-4000-8000-000000000003', '10000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000004',
    '10000000-0000-4000-8000-000000000002', '10000000-0000-4000-8000-000000000005']::uuid[], j.id));
select regress.seed_workspace('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', '20000000-0000-4000-8000-000000000001', 1);
insert into user_collections (id, user_id, name) values
    ('30000000-0000-4000-8000-00000000000a', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'alice picks'),
    ('30000000-0000-4000-8000-00000000000b', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'bob picks');

-- list_workspace ---------------------------------------------------------------------
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
-- newest job first; live assets only; the old job without assets is not listed
select g ->> 'job_id' as job, g ->> 'status' as status, g ->> 'error' as error,
       (select string_agg(a ->> 'asset_index', ',') from jsonb_array_elements(g -> 'assets') a) as assets
from jsonb_array_elements(list_workspace() -> 'jobs') g;
-- what an asset carries
select list_workspace(1, null) #> '{jobs,0,assets}' = '[]' as no_assets_on_queued_job,
       regress.stable(list_workspace(2, null) #> '{jobs,1,assets,0}') as asset;
-- pages of two, following "next"
select g ->> 'job_id' as page_1 from jsonb_array_elements(list_workspace(2) -> 'jobs') g;
select g ->> 'job_id' as page_2 from jsonb_array_elements(list_workspace(2, list_workspace(2) -> 'next') -> 'jobs') g;
select list_workspace(2, list_workspace(2) -> 'next') -> 'next' as after_page_2;
savepoint attack;
select list_workspace(0);
rollback to savepoint attack;
select list_workspace(10, '{"created_at": "yesterday-ish"}');
rollback to savepoint attack;
-- bob lists only his job
reset role;
select regress.act_as('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb');
select g ->> 'job_id' as bobs from jsonb_array_elements(list_workspace() -> 'jobs') g;

-- save: prepare → (copy) → save ----------------------------------------------------
reset role;
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
create temp table prepared on commit drop as
select prepare_workspace_save(array(
    select id from workspace_assets where job_id = '10000000-0000-4000-8000-000000000001' order by asset_index)
    || '{20000000-0000-4000-8000-0000000000ff, 99999999-9999-4999-8999-999999999999}'::uuid[]) as answer;
-- alice's three assets are prepared; an id that isn't hers is not found, like one that doesn't exist
select regress.stable(answer) from prepared;
select (select count(*) from jsonb_array_elements(answer -> 'items') i
        where i ->> 'destination_path' ~ '^aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/[0-9a-f-]{36}\.png$') as destinations_in_her_folder
from prepared;
-- each destination is recorded as a save intent, due in an hour
select reason, bucket_id, not_before > now() + interval '59 minutes' as delayed, count(*)
from storage_deletion_outbox group by 1, 2, 3;
-- save two of them into her collection; each saved item is answered as the
-- library lists it (its id is the library id, at the prepared destination)
create temp table saved on commit drop as
select save_workspace_assets(
    (select jsonb_agg(i.value order by i.ordinality) from jsonb_array_elements(answer -> 'items') with ordinality i where i.ordinality <= 2),
    '30000000-0000-4000-8000-00000000000a', 'fox', '{red,fox}') as answer from prepared;
select jsonb_array_length(s.answer -> 'saved') as saved, s.answer -> 'failed' as failed,
       (select bool_and(x -> 'item' ->> 'id' = x ->> 'library_id'
                        and x -> 'item' ->> 'storage_path' = (select i ->> 'destination_path'
                                                              from jsonb_array_elements(p.answer -> 'items') i
                                                              where i ->> 'asset_id' = x ->> 'asset_id'))
        from jsonb_array_elements(s.answer -> 'saved') x) as items_as_listed,
       regress.stable(s.answer #> '{saved,0,item}') - 'storage_path' - 'thumbnail_path' as first_item
from saved s, prepared p;
select asset_type, storage_path ~ '^aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/', thumbnail_path is not null as thumbnail,
       custom_title, tags, original_prompt, generation_seed, width, collection_id is not null as in_collection,
       job_id, source_asset_id is not null as from_workspace
from user_library order by generation_seed;
select name, asset_count from user_collections;
-- the saved workspace rows are gone, their temp objects queued; the intents of saved copies are cancelled
select job_id, asset_index from workspace_assets where job_id = '10000000-0000-4000-8000-000000000001';
select reason, bucket_id, count(*) from storage_deletion_outbox group by 1, 2 order by 1, 2;
-- the saved temp objects, the thumbnail with its asset
select object_name from storage_deletion_outbox where bucket_id = 'workspace-temp' order by 1;
-- saving again (a retry after a lost answer) reports the first save, creates nothing
select again -> 'saved' = (select answer -> 'saved' from saved) as same_answer, again -> 'failed' as failed
from (select save_workspace_assets(
    (select jsonb_agg(i.value order by i.ordinality) from jsonb_array_elements(answer -> 'items') with ordinality i where i.ordinality <= 2)) as again
      from prepared) a;
select count(*) as library_rows from user_library;
-- preparing an already saved asset says so, with the item as the library lists it
select regress.stable(answer) #- '{items,0,item}' as prepared,
       answer #>> '{items,0,item,id}' = answer #>> '{items,0,library_id}' as with_its_item
from (select prepare_workspace_save(array(select source_asset_id from user_library order by generation_seed limit 1))
      as answer) a;
-- an intent the drainer has claimed can no longer be cancelled: the item fails, nothing is saved
reset role;
update storage_deletion_outbox set claimed_until = now() + interval '1 minute'
where object_name = (select answer #>> '{items,2,destination_path}' from prepared);
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
select regress.stable(save_workspace_assets(
    (select jsonb_agg(i.value) from jsonb_array_elements(answer -> 'items') with ordinality i where i.ordinality = 3))) from prepared;
select count(*) as still_in_workspace from workspace_assets where job_id = '10000000-0000-4000-8000-000000000001';
-- an item never prepared has no intent: conflict
select regress.stable(save_workspace_assets(jsonb_build_array(jsonb_build_object(
    'asset_id', (select id from workspace_assets where job_id = '10000000-0000-4000-8000-000000000002' and asset_index = 0),
    'library_id', '50000000-0000-4000-8000-000000000001',
    'destination_path', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/50000000-0000-4000-8000-000000000001.png',
    'destination_thumbnail_path', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/thumbnails/50000000-0000-4000-8000-000000000001.png'))));
-- bad saves
savepoint attack;
select save_workspace_assets('[]');
rollback to savepoint attack;
select save_workspace_assets((select answer -> 'items' from prepared), '30000000-0000-4000-8000-00000000000b');
rollback to savepoint attack;
select save_workspace_assets((select answer -> 'items' from prepared), null, repeat('t', 201));
rollback to savepoint attack;
select save_workspace_assets('[{"asset_id": "x", "library_id": "y"}]');
rollback to savepoint attack;
select save_workspace_assets('[{"asset_id": "20000000-0000-4000-8000-0000000000ff", "library_id": "20000000-0000-4000-8000-0000000000ff", "hack": 1}]');
rollback to savepoint attack;
select prepare_workspace_save('{}');
rollback to savepoint attack;
-- by job: every asset of one of her jobs; a job with none of hers is not found
-- (bob's, or her queued job without assets); exactly one of ids and job
select jsonb_array_length(prepare_workspace_save(job_id => '10000000-0000-4000-8000-000000000002') -> 'items') as prepared_by_job;
savepoint attack;
select prepare_workspace_save(job_id => '20000000-0000-4000-8000-000000000001');
rollback to savepoint attack;
select prepare_workspace_save(job_id => '10000000-0000-4000-8000-000000000003');
rollback to savepoint attack;
select prepare_workspace_save();
rollback to savepoint attack;
select prepare_workspace_save('{20000000-0000-4000-8000-0000000000ff}', '10000000-0000-4000-8000-000000000002');
rollback to savepoint attack;
-- a collection that is not hers is refused before anything is copied
select prepare_workspace_save(job_id => '10000000-0000-4000-8000-000000000002',
                              collection_id => '30000000-0000-4000-8000-00000000000b');
rollback to savepoint attack;
-- bob cannot save alice's assets, even with her prepared items
reset role;
select regress.act_as('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb');
select regress.stable(save_workspace_assets((select answer -> 'items' from prepared))) as bob_saving_alices;

-- discard / delete / clear ---------------------------------------------------------
-- bob cannot discard or delete alice's assets or jobs
reset role;
create temp table alice_assets on commit drop as
    select id from workspace_assets where user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
grant select on alice_assets to authenticated;
select regress.act_as('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb');
select regress.stable(discard_workspace_assets(array(select id from alice_assets))) as bob_discarding;
savepoint attack;
select delete_workspace_items(job_id => '10000000-0000-4000-8000-000000000002');
rollback to savepoint attack;
select discard_workspace_assets(job_id => '10000000-0000-4000-8000-000000000002');
rollback to savepoint attack;
reset role;
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
select jsonb_array_length(answer -> 'discarded') as discarded, answer -> 'failed' as failed
from (select discard_workspace_assets(job_id => '10000000-0000-4000-8000-000000000002') as answer) a;
select jsonb_array_length(delete_workspace_items(asset_id => (
    select id from workspace_assets where job_id = '10000000-0000-4000-8000-000000000001')) -> 'deleted') as deleted_one;
-- discarded and deleted objects are queued, thumbnails with their assets
select object_name from storage_deletion_outbox
where bucket_id = 'workspace-temp' and object_name like '%000000000002/%' order by 1;
savepoint attack;
select delete_workspace_items(asset_id => '20000000-0000-4000-8000-0000000000ff');
rollback to savepoint attack;
select delete_workspace_items();
rollback to savepoint attack;
select delete_workspace_items('10000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000001');
rollback to savepoint attack;
-- deleting a job without assets (the queued one) cancels it
select delete_workspace_items(job_id => '10000000-0000-4000-8000-000000000003') as deleted_queued_job;
select id, status from jobs order by id;
-- clear: dismisses every remaining asset and the failed job — nothing is
-- deleted (12_dismiss specifies dismissing and restoring)
reset role;
select regress.seed_workspace('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000006', 2);
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
select jsonb_array_length(answer -> 'dismissed') as cleared, answer -> 'jobs' as dismissed_jobs
from (select clear_workspace() as answer) a;
select list_workspace() as empty_workspace;
-- bob's job is untouched by all of it; alice's assets are kept, dismissed
reset role;
select user_id, count(*), count(dismissed_at) as dismissed from workspace_assets group by 1 order by 1;
rollback;
