-- The storage deletion outbox: every way a row that owns objects disappears
-- queues those objects, in the same transaction, and the queue outlives users.
\set VERBOSITY terse
begin;

select regress.seed_workspace('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000001', 3);
insert into user_library (user_id, asset_type, storage_path, thumbnail_path, file_size_bytes, mime_type,
                          original_prompt, model_used)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'video', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/v.mp4',
        'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/thumbnails/v.jpg', 1, 'video/mp4', 'p', 'wan');

create function regress.outbox()
returns table (bucket_id text, object_name text, owner uuid, reason text)
language sql
as $$
    select bucket_id, object_name, user_id, reason from storage_deletion_outbox order by bucket_id, object_name
$$;

-- A user deleting a workspace asset through PostgREST queues it and its thumbnail.
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
delete from workspace_assets where asset_index = 0 returning asset_index;
reset role;
select * from regress.outbox();

-- A path that changes queues the object it no longer points at.
update workspace_assets
set temp_storage_path = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-000000000001/1-v2.png'
where asset_index = 1;
-- ... and so does a thumbnail that changes or goes away.
update workspace_assets
set thumbnail_path = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-000000000001/thumbnails/2.png'
where asset_index = 2;
update workspace_assets set thumbnail_path = null where asset_index = 2;
update user_library
set thumbnail_path = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/thumbnails/v2.jpg';
select * from regress.outbox() where reason = 'path_changed';

-- Deleting a job sweeps its folder: reported assets (cascaded) and uploads
-- a worker never reported.
insert into storage.objects (bucket_id, name) values
    ('workspace-temp', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-000000000001/unreported.png'),
    ('workspace-temp', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-000000000001/2.png'),
    ('workspace-temp', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-000000000002/other-job.png');
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
delete from jobs where id = '10000000-0000-4000-8000-000000000001' returning status;
reset role;
select * from regress.outbox();

-- Deleting the user (auth.users cascade) queues everything that was theirs,
-- and the queue keeps it after the user is gone.
delete from auth.users where id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
select count(*) as alice_rows_left from user_library where user_id = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
select * from regress.outbox() where bucket_id = 'user-library';

-- Queuing the same object twice keeps one entry.
insert into auth.users (id) values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
insert into user_library (user_id, asset_type, storage_path, file_size_bytes, mime_type, original_prompt, model_used)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'video', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/v.mp4', 1, 'video/mp4', 'p', 'wan');
delete from user_library;
select count(*) as entries_for_v_mp4 from storage_deletion_outbox
where object_name = 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/v.mp4';
rollback;
