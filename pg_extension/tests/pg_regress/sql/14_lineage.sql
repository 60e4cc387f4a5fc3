-- Reuse and lineage (seeds 002, 003): a job queued from an asset reuses its
-- prompt, model, settings and seed (any field overridable); references given
-- as an asset id or a storage path are checked and held until the job
-- finishes; the job's assets descend from its sources, edges follow a save
-- into the library, and no deletion of any kind leaves an edge dangling.
\set VERBOSITY terse
begin;
-- alice: job 1 (high quality, settings) with two workspace assets, a library
-- item; bob: a job with one asset. Their objects exist in Storage.
select regress.seed_workspace('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000001', 2);
update jobs set quality = 'high', generation_settings = '{"aspect_ratio": "1:1", "guidance_scale": 7.5}'
where id = '10000000-0000-4000-8000-000000000001';
update workspace_assets set generation_settings = '{"aspect_ratio": "1:1", "guidance_scale": 7.5}'
where job_id = '10000000-0000-4000-8000-000000000001';
insert into user_library (id, user_id, asset_type, storage_path, file_size_bytes, mime_type, original_prompt,
                          model_used, generation_seed, generation_settings)
values ('40000000-0000-4000-8000-000000000001', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'image',
        'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/40000001.png', 10, 'image/png', 'an owl at night', 'sdxl-turbo', 77,
        '{"shot_type": "close"}');
select regress.seed_workspace('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', '20000000-0000-4000-8000-000000000001', 1);
insert into storage.objects (bucket_id, name, owner)
select 'workspace-temp', temp_storage_path, user_id from workspace_assets
union all
select 'user-library', storage_path, user_id from user_library;
create temp table asset_of on commit drop as
    select case when user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' then 'w' else 'bob' end
           || right(job_id::text, 1) || '.' || asset_index as label, id
    from workspace_assets
    union all select 'library', '40000000-0000-4000-8000-000000000001';
grant all on asset_of to authenticated;
-- Lineage answers with every id written as its label (w1.0: job 1's asset 0;
-- new assets as n<job>.<index>, labelled once they exist).
create function pg_temp.named(answer jsonb)
returns jsonb
language sql
as $$
    select case jsonb_typeof(answer)
        when 'object' then (select coalesce(jsonb_object_agg(key, pg_temp.named(value)), '{}') from jsonb_each(answer)
                            where key not in ('created_at', 'storage_path', 'generation_seed'))
        when 'array' then (select coalesce(jsonb_agg(pg_temp.named(value) order by n), '[]')
                           from jsonb_array_elements(answer) with ordinality e (value, n))
        when 'string' then coalesce((select to_jsonb(a.label) from asset_of a where a.id::text = answer #>> '{}'), answer)
        else answer
    end
$$;
-- A lineage answer's edges, named and sorted: "parent -type-> child (depth)".
create function pg_temp.edges(lineage jsonb)
returns table (asset text, direction text, edge text)
language sql
as $$
    select n ->> 'asset_id', d, format('%s -%s-> %s (%s)', e ->> 'parent_id', e ->> 'relationship_type', e ->> 'child_id',
                                       e ->> 'depth')
    from (select pg_temp.named(lineage) as n) x,
         unnest(array['ancestors', 'descendants']) d,
         jsonb_array_elements(n -> d) e
    order by 2, 3
$$;
-- No edge may name an asset that is gone.
create function pg_temp.dangling()
returns bigint
language sql
as $$
    select count(*) from asset_relationships r
    where not exists (select 1 from workspace_assets w where w.id = r.parent_asset_id)
      and not exists (select 1 from user_library l where l.id = r.parent_asset_id)
       or not exists (select 1 from workspace_assets w where w.id = r.child_asset_id)
      and not exists (select 1 from user_library l where l.id = r.child_asset_id)
$$;
-- The job a request made, without what changes from run to run.
create function pg_temp.job(answer jsonb)
returns jsonb
language sql
as $$
    select (answer -> 'job') - 'id' - 'user_id' - 'created_at' - 'updated_at' - 'attempts' - 'max_attempts'
           - 'worker_id' - 'error' - 'started_at' - 'completed_at' - 'lease_expires_at' - 'idempotency_key'
           - 'dismissed_at' - 'status'
$$;

select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
set local ourvidz.max_active_jobs = 100;
-- reuse ------------------------------------------------------------------------------------
create temp table queued (label text, answer jsonb) on commit drop;
grant all on queued to authenticated;
-- use seed: everything from the asset (its seed, not its job's), quality from its job
insert into queued select 'use seed', enqueue_job(jsonb_build_object('from_asset', (select id from asset_of where label = 'w1.1')));
-- regenerate with changes: the prompt and one setting overridden, one dropped (null)
insert into queued select 'changed', enqueue_job(jsonb_build_object('from_asset', (select id from asset_of where label = 'w1.0'),
    'prompt', 'a red fox at dawn', 'batch_size', 1, 'settings', '{"guidance_scale": 3, "aspect_ratio": null}'::jsonb));
-- variations: a new seed
insert into queued select 'variations', enqueue_job(jsonb_build_object('from_asset', (select id from asset_of where label = 'w1.0'),
    'reuse_seed', false));
-- a given seed that happens to be the asset's is still use seed
insert into queued select 'same seed given', enqueue_job(jsonb_build_object('from_asset', (select id from asset_of where label = 'w1.0'),
    'seed', 42));
-- from a library item; into a video (its model is the video default)
insert into queued select 'from library', enqueue_job('{"from_asset": "40000000-0000-4000-8000-000000000001"}');
insert into queued select 'image to video', enqueue_job('{"from_asset": "40000000-0000-4000-8000-000000000001", "mode": "video"}');
select label, case when label = 'variations' then pg_temp.job(answer) - 'generation_seed' else pg_temp.job(answer) end as job
from queued;
select label, (answer #>> '{job,generation_seed}')::bigint not in (42, 43, 77) as new_seed from queued where label = 'variations';
-- each job remembers its source
select q.label, s.relationship_type, (select a.label from asset_of a where a.id = s.asset_id) as source
from queued q join job_sources s on s.job_id = (q.answer #>> '{job,id}')::uuid order by q.label;
select rule, regress.try(format('select enqueue_job(%L::jsonb)', request)) as answer
from (values
    ('from_asset is a uuid',            '{"from_asset": "w1.0"}'),
    ('reuse_seed needs from_asset',     '{"mode": "image", "prompt": "p", "reuse_seed": false}'),
    ('reuse_seed is a boolean',         format('{"from_asset": "%s", "reuse_seed": "no"}', (select id from asset_of where label = 'w1.0'))),
    ('overrides obey the rules',        format('{"from_asset": "%s", "batch_size": 9}', (select id from asset_of where label = 'w1.0')))
) as cases (rule, request);
-- bob's asset is not found, as a missing one
reset role;
select id as bobs_asset from workspace_assets where user_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb' \gset
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
select regress.try(format('select enqueue_job(''{"from_asset": "%s"}'')', :'bobs_asset')) as from_bobs,
       regress.try('select enqueue_job(''{"from_asset": "99999999-9999-4999-8999-999999999999"}'')') as from_nothing;

-- references ---------------------------------------------------------------------------------
-- an asset id (workspace or library) or a storage path; stored as the object's
-- path, recorded as a source holding that object
insert into queued select 'ref by workspace id', enqueue_job(jsonb_build_object('mode', 'image', 'prompt', 'in that style',
    'batch_size', 2, 'settings', jsonb_build_object('reference_image', (select id from asset_of where label = 'w1.1'))));
insert into queued select 'ref by library id', enqueue_job(jsonb_build_object('mode', 'image', 'prompt', 'owl style',
    'settings', '{"style_reference": "40000000-0000-4000-8000-000000000001"}'::jsonb));
insert into queued select 'ref by path', enqueue_job(jsonb_build_object('mode', 'image', 'prompt', 'by path',
    'settings', jsonb_build_object('reference_image',
        'workspace-temp/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-000000000001/0.png')));
select q.label, q.answer #> '{job,generation_settings}' as settings, s.relationship_type, s.field,
       (select a.label from asset_of a where a.id = s.asset_id) as source, s.bucket_id
from queued q join job_sources s on s.job_id = (q.answer #>> '{job,id}')::uuid
where q.label like 'ref%' order by q.label;
-- bob's asset, an expired one, one whose row is gone: refused alike
select regress.try(format('select enqueue_job(''{"mode": "image", "prompt": "p", "settings": {"reference_image": "%s"}}'')', :'bobs_asset'))
    as bobs_reference;
reset role;
update workspace_assets set expires_at = now() - interval '1 second'
where id = (select id from asset_of where label = 'w1.0');
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
select regress.try(format('select enqueue_job(''{"mode": "image", "prompt": "p", "settings": {"reference_image": "%s"}}'')',
                          (select id from asset_of where label = 'w1.0'))) as expired_reference;
reset role;
update workspace_assets set expires_at = created_at + interval '7 days'
where id = (select id from asset_of where label = 'w1.0');

-- lineage ------------------------------------------------------------------------------------
-- the job referencing w1.1 completes: its two assets are reference_for children
-- of w1.1, and the job's sources are gone
select (answer #>> '{job,id}') as ref_job from queued where label = 'ref by workspace id' \gset
reset role;
select regress.act_as_service();
select claim_jobs('w1', 100) is not null as claimed;
select jsonb_array_length(record_job_result(regress.completion(:'ref_job', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 2)) -> 'assets')
    as made;
reset role;
insert into asset_of select 'n' || right(:'ref_job', 4) || '.' || asset_index, id from workspace_assets where job_id = :'ref_job';
update asset_of set label = replace(label, right(:'ref_job', 4), 'ref') where label like 'n%';
select count(*) as sources_left from job_sources where job_id = :'ref_job';
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
select * from pg_temp.edges(asset_lineage((select id from asset_of where label = 'w1.1')));
select * from pg_temp.edges(asset_lineage((select id from asset_of where label = 'nref.0')));
-- with every asset the edges name, as the lineage shows it
select a as asset
from jsonb_array_elements(pg_temp.named(asset_lineage((select id from asset_of where label = 'nref.0')) -> 'assets')) a
order by a ->> 'id';
-- generations chain: a use-seed job of the child makes a grandchild
select enqueue_job(jsonb_build_object('from_asset', (select id from asset_of where label = 'nref.0'), 'batch_size', 1))
    #>> '{job,id}' as grand_job \gset
reset role;
select regress.act_as_service();
select claim_jobs('w1', 100) is not null as claimed;
select jsonb_array_length(record_job_result(regress.completion(:'grand_job', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 1)) -> 'assets')
    as made;
reset role;
insert into asset_of select 'grandchild', id from workspace_assets where job_id = :'grand_job';
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
select * from pg_temp.edges(asset_lineage((select id from asset_of where label = 'w1.1')));
-- bob sees none of it: the asset is not found, the edges are not his
reset role;
select regress.act_as('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb');
select regress.try(format('select asset_lineage(%L)', (select id from asset_of where label = 'w1.1'))) as bobs_lineage,
       (select count(*) from asset_relationships) as bobs_edges;
reset role;
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');

-- saving moves the edges to the library row
create temp table prepared on commit drop as
    select prepare_workspace_save(array(select id from asset_of where label = 'nref.0')) as answer;
select jsonb_array_length(save_workspace_assets(answer -> 'items') -> 'saved') as saved from prepared;
insert into asset_of select 'saved nref.0', (answer #>> '{items,0,library_id}')::uuid from prepared;
select * from pg_temp.edges(asset_lineage((select id from asset_of where label = 'saved nref.0')));
select a ->> 'location' as saved_is_in_library
from jsonb_array_elements(pg_temp.named(asset_lineage((select id from asset_of where label = 'saved nref.0')) -> 'assets')) a
where a ->> 'id' = 'saved nref.0';
select pg_temp.dangling() as dangling;

-- holds: objects a live job reads are not deleted until it finishes --------------------------
-- discarding the referenced workspace item queues its object, held
select jsonb_array_length(discard_workspace_assets(array(select id from asset_of where label = 'w1.0')) -> 'discarded')
    as discarded;
reset role;
select object_name, not_before = 'infinity' as held from storage_deletion_outbox
where object_name like '%10000000-0000-4000-8000-000000000001/0.png';
select pg_temp.dangling() as dangling;
-- the jobs reading it finish (or are deleted): released, due now
select regress.act_as_service();
select count(*) as failed
from (select record_job_result(jsonb_build_object('job_id', j.id, 'status', 'failed', 'error', 'done with it'))
      from jobs j join job_sources s on s.job_id = j.id
      where s.object_name like '%10000000-0000-4000-8000-000000000001/0.png' and j.status = 'processing') f;
reset role;
select object_name, not_before <= now() as due from storage_deletion_outbox
where object_name like '%10000000-0000-4000-8000-000000000001/0.png';
-- a held library object: its item deleted while a queued job reads it, then the job deleted
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
select enqueue_job('{"mode": "image", "prompt": "p", "settings": {"reference_image": "40000000-0000-4000-8000-000000000001"}}')
    #>> '{job,id}' as reading_job \gset
select jsonb_array_length(delete_library_items('{40000000-0000-4000-8000-000000000001}') -> 'deleted') as deleted;
reset role;
select not_before = 'infinity' as held from storage_deletion_outbox where object_name like '%40000001.png';
-- two jobs read it (this one and the style reference above): deleting one
-- keeps it held, deleting the other releases it
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
select delete_workspace_items(job_id => :'reading_job') as first_reader_deleted;
reset role;
select not_before = 'infinity' as still_held from storage_deletion_outbox where object_name like '%40000001.png';
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
select delete_workspace_items(job_id => (answer #>> '{job,id}')::uuid) as second_reader_deleted
from queued where label = 'ref by library id';
reset role;
select not_before <= now() as due from storage_deletion_outbox where object_name like '%40000001.png';
-- an object already queued for deletion can no longer be referenced
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
select regress.try('select enqueue_job(''{"mode": "image", "prompt": "p", "settings": {"reference_image": "user-library/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/40000001.png"}}'')')
    as queued_object;
-- the expiry cleanup holds what it deletes too
select enqueue_job(jsonb_build_object('mode', 'image', 'prompt', 'p',
    'settings', jsonb_build_object('reference_image', (select id from asset_of where label = 'w1.1')))) is not null as reading;
reset role;
update workspace_assets set expires_at = now() - interval '1 second' where id = (select id from asset_of where label = 'w1.1');
select cleanup_expired_workspace_assets() as cleaned;
select not_before = 'infinity' as held from storage_deletion_outbox where object_name like '%10000000-0000-4000-8000-000000000001/1.png';

-- no dangling edges, whatever deletes -------------------------------------------------------
select count(*) as edges, pg_temp.dangling() as dangling from asset_relationships;
-- the cleanup deleted w1.1, a parent: its edges went with it
select count(*) as edges_of_w1_1 from asset_relationships where parent_asset_id = (select id from asset_of where label = 'w1.1');
-- a job deleted with its assets (cascade), then the user (cascade of everything)
delete from jobs where id = :'grand_job';
select count(*) as edges, pg_temp.dangling() as dangling from asset_relationships;
delete from auth.users where id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
select count(*) as edges, (select count(*) from job_sources) as sources from asset_relationships;
rollback;
