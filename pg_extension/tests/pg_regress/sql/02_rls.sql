-- Row Level Security: a user can neither see nor change another user's rows,
-- on any table; anon can do nothing; service_role sees everything.
-- Each attack runs in a savepoint taken after switching identity, so an
-- expected error does not end the test.
\set VERBOSITY terse
begin;

-- alice owns a job with two assets, a collection and a library item.
select regress.seed_workspace('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000001', 2);
insert into user_collections (id, user_id, name)
values ('30000000-0000-4000-8000-00000000000a', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'alice picks');
insert into user_library (id, user_id, asset_type, storage_path, file_size_bytes, mime_type, original_prompt,
                          model_used, collection_id)
values ('40000000-0000-4000-8000-00000000000a', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'image',
        'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/40000000-0000-4000-8000-00000000000a.png', 1, 'image/png', 'p', 'm',
        '30000000-0000-4000-8000-00000000000a');
delete from workspace_assets where asset_index = 1;  -- queues one outbox entry for alice

-- Every table has RLS enabled.
select relname, relrowsecurity from pg_class
where oid in ('jobs'::regclass, 'workspace_assets'::regclass, 'user_library'::regclass,
              'user_collections'::regclass, 'storage_deletion_outbox'::regclass)
order by relname;

-- alice sees her rows.
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
select (select count(*) from jobs) as jobs, (select count(*) from workspace_assets) as assets,
       (select count(*) from user_collections) as collections, (select count(*) from user_library) as library,
       (select count(*) from storage_deletion_outbox) as pending_deletions;

-- bob sees none of them ...
reset role;
select regress.act_as('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb');
savepoint bob;
select (select count(*) from jobs) as jobs, (select count(*) from workspace_assets) as assets,
       (select count(*) from user_collections) as collections, (select count(*) from user_library) as library,
       (select count(*) from storage_deletion_outbox) as pending_deletions;
select * from workspace_assets where id is not null;

-- ... can update none of them (0 rows; jobs are not updatable by users at all) ...
update workspace_assets set generation_settings = '{"stolen": true}' where true returning id;
update user_collections set name = 'mine' where true returning id;
update user_library set custom_title = 'mine', is_favorite = true where true returning id;
update jobs set prompt = 'mine' where true;
rollback to savepoint bob;

-- ... can delete none of them (0 rows) ...
delete from workspace_assets where true returning id;
delete from user_library where true returning id;
delete from user_collections where true returning id;
delete from jobs where true returning id;

-- ... and cannot insert rows in alice's name.
insert into user_collections (user_id, name) values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'planted');
rollback to savepoint bob;
insert into jobs (user_id, job_type, mode, prompt, model, batch_size, generation_seed)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'image_fast', 'image', 'p', 'sdxl', 1, 1);
rollback to savepoint bob;
insert into workspace_assets (user_id, job_id, asset_index, asset_type, temp_storage_path, file_size_bytes,
                              mime_type, generation_seed, original_prompt, model_used)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000001', 7, 'image',
        'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-000000000001/7.png', 1, 'image/png', 1, 'p', 'm');
rollback to savepoint bob;
insert into user_library (user_id, asset_type, storage_path, file_size_bytes, mime_type, original_prompt, model_used)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'image', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/p.png', 1, 'image/png', 'p', 'm');
rollback to savepoint bob;

-- Nor attach his rows to her job or collection: the composite keys refuse it
-- with the same error whether or not the id exists.
insert into workspace_assets (job_id, asset_index, asset_type, temp_storage_path, file_size_bytes,
                              mime_type, generation_seed, original_prompt, model_used)
values ('10000000-0000-4000-8000-000000000001', 0, 'image',
        'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/x.png', 1, 'image/png', 1, 'p', 'm');
rollback to savepoint bob;
insert into user_library (asset_type, storage_path, file_size_bytes, mime_type, original_prompt, model_used, collection_id)
values ('image', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/p.png', 1, 'image/png', 'p', 'm',
        '30000000-0000-4000-8000-00000000000a');
rollback to savepoint bob;
insert into user_library (asset_type, storage_path, file_size_bytes, mime_type, original_prompt, model_used, collection_id)
values ('image', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/p.png', 1, 'image/png', 'p', 'm',
        '39999999-0000-4000-8000-00000000000a');
rollback to savepoint bob;
-- Nor point a row of his at a file in her folder.
insert into user_library (asset_type, storage_path, file_size_bytes, mime_type, original_prompt, model_used)
values ('image', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/40000000-0000-4000-8000-00000000000a.png', 1, 'image/png', 'p', 'm');
rollback to savepoint bob;
-- Nor queue her files for deletion.
insert into storage_deletion_outbox (bucket_id, object_name, reason)
values ('user-library', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/40000000-0000-4000-8000-00000000000a.png', 'row_deleted');
rollback to savepoint bob;

-- alice cannot give her rows away, nor write what is not hers to write.
reset role;
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
savepoint alice;
update user_collections set user_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
rollback to savepoint alice;
update user_library set user_id = 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb';
rollback to savepoint alice;
update user_collections set asset_count = 100;
rollback to savepoint alice;
update user_library set storage_path = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/other.png';
rollback to savepoint alice;
update jobs set status = 'completed';
rollback to savepoint alice;
update workspace_assets set expires_at = 'infinity';
rollback to savepoint alice;
insert into user_collections (name, asset_count) values ('inflated', 5);
rollback to savepoint alice;
-- what she may change, she can
update user_library set custom_title = 'fox', tags = '{red}', is_favorite = true, visibility = 'unlisted'
returning custom_title, tags, is_favorite, visibility;
update user_collections set name = 'best foxes' returning name, asset_count;
-- inserting without user_id defaults to her own id
insert into user_collections (name) values ('mine by default') returning user_id;

-- anon can read and write nothing, and call nothing.
reset role;
select regress.act_as_anon();
savepoint anon;
select count(*) from workspace_assets;
rollback to savepoint anon;
select count(*) from jobs;
rollback to savepoint anon;
select count(*) from user_library;
rollback to savepoint anon;
select count(*) from user_collections;
rollback to savepoint anon;
select count(*) from storage_deletion_outbox;
rollback to savepoint anon;
insert into user_collections (user_id, name) values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'x');
rollback to savepoint anon;
select enqueue_job('{"mode": "image", "prompt": "p"}');
rollback to savepoint anon;
select list_workspace();
rollback to savepoint anon;
select normalize_storage_path('a/b');
rollback to savepoint anon;

-- service_role sees everyone's rows.
reset role;
select regress.act_as_service();
select (select count(*) from jobs) as jobs, (select count(*) from workspace_assets) as assets,
       (select count(*) from user_library) as library;

-- authenticated may run the user API, not the worker or maintenance API,
-- nor the private helpers.
reset role;
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
savepoint alice_api;
select claim_jobs('w');
rollback to savepoint alice_api;
select record_job_result('{}');
rollback to savepoint alice_api;
select heartbeat_job('10000000-0000-4000-8000-000000000001', 'w');
rollback to savepoint alice_api;
select cleanup_expired_workspace_assets();
rollback to savepoint alice_api;
select claim_storage_deletions();
rollback to savepoint alice_api;
select complete_storage_deletions('{1}');
rollback to savepoint alice_api;
select storage_orphans();
rollback to savepoint alice_api;
select repair_collection_asset_counts();
rollback to savepoint alice_api;
select ourvidz_private.queue_job_folder('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', '20000000-0000-4000-8000-00000000000b', 'row_deleted');
rollback to savepoint alice_api;
rollback;
