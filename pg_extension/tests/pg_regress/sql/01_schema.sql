-- The tables, their columns, defaults, constraints and indexes (seeds 000-002).
\set VERBOSITY terse
begin;

-- Every column with its type, nullability and default.
select table_name, column_name, data_type, is_nullable, column_default
from information_schema.columns
where table_schema = 'public'
  and table_name in ('jobs', 'workspace_assets', 'user_library', 'user_collections', 'storage_deletion_outbox',
                     'asset_relationships', 'job_sources', 'library_totals')
order by table_name, ordinal_position;

-- Every constraint.
select conrelid::regclass as "table", conname, pg_get_constraintdef(oid) as definition
from pg_constraint
where conrelid in ('jobs'::regclass, 'workspace_assets'::regclass, 'user_library'::regclass,
                   'user_collections'::regclass, 'storage_deletion_outbox'::regclass,
                   'asset_relationships'::regclass, 'job_sources'::regclass, 'library_totals'::regclass)
order by 1, 2;

-- Every index.
select tablename, indexname, indexdef
from pg_indexes
where schemaname = 'public'
order by tablename, indexname;

-- Every trigger.
select event_object_table as "table", trigger_name, action_timing, string_agg(event_manipulation, ', ' order by event_manipulation) as events
from information_schema.triggers
where event_object_schema = 'public'
group by 1, 2, 3
order by 1, 2;

-- Defaults do their work: a minimal workspace row expires in 7 days.
select regress.seed_workspace('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000001', 0);
insert into workspace_assets (user_id, job_id, asset_type, temp_storage_path, file_size_bytes, mime_type,
                              generation_seed, original_prompt, model_used)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000001', 'image',
        'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-000000000001/9.png', 1, 'image/png', 1, 'p', 'm')
returning asset_index, generation_settings, expires_at - created_at as lifetime;

-- Each check refuses what it should (one savepoint per attempt).
savepoint s;
insert into workspace_assets (user_id, job_id, asset_index, asset_type, temp_storage_path, file_size_bytes,
                              mime_type, generation_seed, original_prompt, model_used)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000001', 0, 'gif',
        'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/x.gif', 1, 'image/gif', 1, 'p', 'm');
rollback to savepoint s;
-- the seed's UNIQUE (user_id, job_id, asset_index)
insert into workspace_assets (user_id, job_id, asset_index, asset_type, temp_storage_path, file_size_bytes,
                              mime_type, generation_seed, original_prompt, model_used)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000001', 0, 'image',
        'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/other.png', 1, 'image/png', 1, 'p', 'm');
rollback to savepoint s;
-- a path outside the owner's folder
insert into workspace_assets (user_id, job_id, asset_index, asset_type, temp_storage_path, file_size_bytes,
                              mime_type, generation_seed, original_prompt, model_used)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000001', 5, 'image',
        'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/x.png', 1, 'image/png', 1, 'p', 'm');
rollback to savepoint s;
-- traversal out of it
insert into workspace_assets (user_id, job_id, asset_index, asset_type, temp_storage_path, file_size_bytes,
                              mime_type, generation_seed, original_prompt, model_used)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000001', 5, 'image',
        'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/../bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/x.png', 1, 'image/png', 1, 'p', 'm');
rollback to savepoint s;
-- two rows may not own one object
insert into workspace_assets (user_id, job_id, asset_index, asset_type, temp_storage_path, file_size_bytes,
                              mime_type, generation_seed, original_prompt, model_used)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000001', 5, 'image',
        'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-000000000001/9.png', 1, 'image/png', 1, 'p', 'm');
rollback to savepoint s;
-- an image asset must have an image mime type
insert into workspace_assets (user_id, job_id, asset_index, asset_type, temp_storage_path, file_size_bytes,
                              mime_type, generation_seed, original_prompt, model_used)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000001', 5, 'image',
        'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/v.mp4', 1, 'video/mp4', 1, 'p', 'm');
rollback to savepoint s;
-- job_id must be a job of the same user
insert into jobs (id, user_id, job_type, mode, prompt, model, batch_size, generation_seed)
values ('20000000-0000-4000-8000-000000000002', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'image_fast', 'image', 'p', 'sdxl', 1, 1);
insert into workspace_assets (user_id, job_id, asset_index, asset_type, temp_storage_path, file_size_bytes,
                              mime_type, generation_seed, original_prompt, model_used)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '20000000-0000-4000-8000-000000000002', 0, 'image',
        'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/y.png', 1, 'image/png', 1, 'p', 'm');
rollback to savepoint s;
-- job checks: status, batch size per mode, empty prompt, processing without a lease
insert into jobs (user_id, job_type, mode, prompt, model, batch_size, generation_seed, status)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'image_fast', 'image', 'p', 'sdxl', 1, 1, 'running');
rollback to savepoint s;
insert into jobs (user_id, job_type, mode, prompt, model, batch_size, generation_seed)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'video_fast', 'video', 'p', 'wan', 3, 1);
rollback to savepoint s;
insert into jobs (user_id, job_type, mode, prompt, model, batch_size, generation_seed)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'image_fast', 'image', '', 'sdxl', 1, 1);
rollback to savepoint s;
insert into jobs (user_id, job_type, mode, prompt, model, batch_size, generation_seed, status)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'image_fast', 'image', 'p', 'sdxl', 1, 1, 'processing');
rollback to savepoint s;
-- library: visibility and a collection of another user
insert into user_library (user_id, asset_type, storage_path, file_size_bytes, mime_type, original_prompt,
                          model_used, visibility)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'image', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/l.png', 1,
        'image/png', 'p', 'm', 'friends');
rollback to savepoint s;
insert into user_collections (id, user_id, name)
values ('30000000-0000-4000-8000-000000000003', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'bob''s');
insert into user_library (user_id, asset_type, storage_path, file_size_bytes, mime_type, original_prompt,
                          model_used, collection_id)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'image', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/l.png', 1,
        'image/png', 'p', 'm', '30000000-0000-4000-8000-000000000003');
rollback to savepoint s;
-- library defaults
insert into user_library (user_id, asset_type, storage_path, file_size_bytes, mime_type, original_prompt, model_used)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'image', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/l.png', 1,
        'image/png', 'p', 'm')
returning tags, is_favorite, visibility, generation_settings, collection_id;
-- collections: an empty name, a count below zero
insert into user_collections (user_id, name) values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '   ');
rollback to savepoint s;
insert into user_collections (user_id, name, asset_count) values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'x', -1);
rollback to savepoint s;

-- The indexes that matter are usable (the tables are tiny here, so the planner
-- is told to prefer ordered index scans where any exists).
set local enable_seqscan = off;
set local enable_bitmapscan = off;
set local enable_sort = off;
explain (costs off) select * from workspace_assets where user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' order by created_at desc;
explain (costs off) select * from workspace_assets where job_id = '10000000-0000-4000-8000-000000000001' order by asset_index;
explain (costs off) select * from workspace_assets where user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' and expires_at < now() + interval '1 day' order by expires_at;
explain (costs off) select id from workspace_assets where expires_at < now() order by expires_at limit 1000;
explain (costs off) select * from workspace_assets where asset_type = 'image' and model_used = 'sdxl';
explain (costs off) select * from user_library where user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' order by created_at desc;
explain (costs off) select * from user_library where user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'
    and (created_at, id) < ('2026-01-01', '40000000-0000-4000-8000-000000000001') order by created_at desc, id desc limit 51;
explain (costs off) select * from user_library where collection_id = '30000000-0000-4000-8000-000000000003'
    order by created_at desc, id desc limit 1;
explain (costs off) select * from user_collections where user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' order by created_at desc;
explain (costs off) select id from jobs where status = 'queued' order by created_at limit 10;
explain (costs off) select * from jobs where user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' order by created_at desc, id desc limit 20;
rollback;
