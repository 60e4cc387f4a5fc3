-- Two-level deletion (seed 002): dismiss hides workspace items and keeps
-- them, restore brings them back until they expire, clear dismisses
-- everything; dismissed items still expire and are cleaned up. Another
-- user's ids are never found.
\set VERBOSITY terse
begin;
-- alice: job 1 (3 assets, newest), job 2 (2 assets), a failed job, a running
-- job; bob: one job.
select regress.seed_workspace('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000001', 3);
select regress.seed_workspace('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000002', 2);
insert into jobs (id, user_id, job_type, mode, prompt, model, batch_size, generation_seed, status, error,
                  worker_id, lease_expires_at)
values ('10000000-0000-4000-8000-000000000003', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'image_fast', 'image',
        'failed one', 'sdxl', 1, 1, 'failed', 'GPU fell over', null, null),
       ('10000000-0000-4000-8000-000000000004', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'image_fast', 'image',
        'running one', 'sdxl', 1, 1, 'processing', null, 'w1', now() + interval '1 minute');
update jobs j set created_at = now() - make_interval(mins => array_position(array[
    '10000000-0000-4000-8000-000000000004', '10000000-0000-4000-8000-000000000001',
    '10000000-0000-4000-8000-000000000003', '10000000-0000-4000-8000-000000000002']::uuid[], j.id));
select regress.seed_workspace('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', '20000000-0000-4000-8000-000000000001', 1);
create temp table asset_of on commit drop as
    select job_id, asset_index, id from workspace_assets;
grant select on asset_of to authenticated;
-- An answer with every asset id written as job.index and every job id as job
-- (the last digit of the fixed ids), so it reads the same on every run.
create function pg_temp.named(answer jsonb)
returns jsonb
language sql
as $$
    select case jsonb_typeof(answer)
        when 'object' then (select coalesce(jsonb_object_agg(key, pg_temp.named(value)), '{}') from jsonb_each(answer))
        when 'array' then (select coalesce(jsonb_agg(pg_temp.named(value) order by n), '[]')
                           from jsonb_array_elements(answer) with ordinality e (value, n))
        when 'string' then coalesce(
            (select to_jsonb(right(a.job_id::text, 1) || '.' || a.asset_index) from asset_of a where a.id::text = answer #>> '{}'),
            case when answer #>> '{}' like '10000000-%' then to_jsonb('job ' || right(answer #>> '{}', 1)) end,
            answer)
        else answer
    end
$$;
create function pg_temp.listed(answer jsonb)
returns table (job text, status text, dismissed boolean, assets text)
language sql
as $$
    select right(g ->> 'job_id', 1), g ->> 'status', g ->> 'dismissed_at' is not null,
           (select string_agg((a ->> 'asset_index') || case when a ->> 'dismissed_at' is not null then 'd' else '' end,
                              ',' order by (a ->> 'asset_index')::int)
            from jsonb_array_elements(g -> 'assets') a)
    from jsonb_array_elements(answer -> 'jobs') g
$$;

select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
select * from pg_temp.listed(list_workspace());

-- dismiss one asset: hidden from the listing, kept in the table
select pg_temp.named(dismiss_workspace_items(array(
    select id from asset_of where job_id = '10000000-0000-4000-8000-000000000001' and asset_index = 1)));
select * from pg_temp.listed(list_workspace());
select asset_index, dismissed_at is not null as dismissed from workspace_assets
where job_id = '10000000-0000-4000-8000-000000000001' order by 1;
-- asked for, dismissed items are listed, marked
select * from pg_temp.listed(list_workspace(include_dismissed => true));
-- dismissing again is no error: it stays dismissed, and keeps its first time
select dismissed_at as first_dismissed from workspace_assets
where id = (select id from asset_of where job_id = '10000000-0000-4000-8000-000000000001' and asset_index = 1) \gset
select jsonb_array_length(dismiss_workspace_items(array(
    select id from asset_of where job_id = '10000000-0000-4000-8000-000000000001' and asset_index = 1)) -> 'dismissed')
    as dismissed_again,
       (select dismissed_at = :'first_dismissed' from workspace_assets
        where id = (select id from asset_of where job_id = '10000000-0000-4000-8000-000000000001' and asset_index = 1))
    as same_time;

-- dismiss a whole job: its assets and the job itself; a failed job without
-- assets leaves the listing the same way
select pg_temp.named(dismiss_workspace_items(job_id => '10000000-0000-4000-8000-000000000002'));
select pg_temp.named(dismiss_workspace_items(job_id => '10000000-0000-4000-8000-000000000003'));
select * from pg_temp.listed(list_workspace());

-- restore: one asset, then a whole job (the failed one comes back too)
select pg_temp.named(restore_workspace_items(array(
    select id from asset_of where job_id = '10000000-0000-4000-8000-000000000001' and asset_index = 1)));
select pg_temp.named(restore_workspace_items(job_id => '10000000-0000-4000-8000-000000000002'));
select pg_temp.named(restore_workspace_items(job_id => '10000000-0000-4000-8000-000000000003'));
select * from pg_temp.listed(list_workspace());

-- bob can neither see, dismiss nor restore any of it: not found, as for ids
-- that do not exist
reset role;
select regress.act_as('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb');
select pg_temp.named(dismiss_workspace_items(array(select id from asset_of where job_id <> '20000000-0000-4000-8000-000000000001'
                                                    order by job_id, asset_index limit 2)
                                              || '{99999999-9999-4999-8999-999999999999}'::uuid[])) as bob_dismissing;
select pg_temp.named(restore_workspace_items(array(select id from asset_of where job_id <> '20000000-0000-4000-8000-000000000001'
                                                    order by job_id, asset_index limit 1))) as bob_restoring;
savepoint attack;
select dismiss_workspace_items(job_id => '10000000-0000-4000-8000-000000000001');
rollback to savepoint attack;
select restore_workspace_items(job_id => '10000000-0000-4000-8000-000000000002');
rollback to savepoint attack;
select * from pg_temp.listed(list_workspace(include_dismissed => true)) as bobs;
reset role;
select count(*) filter (where dismissed_at is not null) as dismissed_by_anyone from workspace_assets
where user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';

-- bad requests
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
savepoint attack;
select dismiss_workspace_items();
rollback to savepoint attack;
select dismiss_workspace_items('{}', '10000000-0000-4000-8000-000000000001');
rollback to savepoint attack;
select restore_workspace_items(array(select gen_random_uuid() from generate_series(1, 101)));
rollback to savepoint attack;
select dismiss_workspace_items('{NULL}');
rollback to savepoint attack;

-- clear: every live asset and the failed job are dismissed; the running job
-- stays; nothing is deleted
select pg_temp.named(clear_workspace()) as cleared;
select * from pg_temp.listed(list_workspace());
select count(*) as kept, count(dismissed_at) as dismissed from workspace_assets
where user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
-- clearing an empty workspace dismisses nothing more
select clear_workspace() as cleared_again;
-- reversible: everything comes back
select jsonb_array_length(restore_workspace_items(job_id => j) -> 'restored') as restored
from unnest('{10000000-0000-4000-8000-000000000001, 10000000-0000-4000-8000-000000000002,
              10000000-0000-4000-8000-000000000003}'::uuid[]) j;
select * from pg_temp.listed(list_workspace());

-- a running job dismissed shows again when its assets arrive
select pg_temp.named(dismiss_workspace_items(job_id => '10000000-0000-4000-8000-000000000004'));
select count(*) as running_job_listed from pg_temp.listed(list_workspace()) where job = '4';
reset role;
select regress.act_as_service();
select jsonb_array_length(record_job_result(regress.completion('10000000-0000-4000-8000-000000000004',
                                                               'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 1)) -> 'assets')
    as arrived;
reset role;
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
select * from pg_temp.listed(list_workspace()) where job = '4';

-- dismissed items still expire: an expired one can no longer be restored
-- (or dismissed), and the cleanup removes it like any other, files queued
select pg_temp.named(dismiss_workspace_items(job_id => '10000000-0000-4000-8000-000000000002'));
reset role;
update workspace_assets set expires_at = now() - interval '1 second'
where job_id = '10000000-0000-4000-8000-000000000002';
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
select pg_temp.named(restore_workspace_items(array(
    select id from asset_of where job_id = '10000000-0000-4000-8000-000000000002' order by asset_index)));
select * from pg_temp.listed(list_workspace(include_dismissed => true)) where job = '2';
reset role;
select cleanup_expired_workspace_assets() as cleaned;
select count(*) as left_of_job_2 from workspace_assets where job_id = '10000000-0000-4000-8000-000000000002';
select object_name from storage_deletion_outbox where object_name like '%000000000002/%' order by 1;
rollback;
