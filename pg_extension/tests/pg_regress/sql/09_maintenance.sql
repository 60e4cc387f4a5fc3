-- Draining the outbox (claim, complete, fail with backoff), never deleting an
-- object a row owns; the orphan audit; reclaiming orphans.
\set VERBOSITY terse
begin;

select regress.seed_workspace('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000001', 2);
-- the objects of both assets exist, plus one nobody owns and one of a library row
insert into storage.objects (bucket_id, name, created_at) values
    ('workspace-temp', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-000000000001/0.png', now() - interval '2 days'),
    ('workspace-temp', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-000000000001/thumbnails/0.png', now() - interval '2 days'),
    ('workspace-temp', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-000000000001/1.png', now() - interval '2 days'),
    ('workspace-temp', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/lost.png', now() - interval '2 days'),
    ('user-library', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/fresh.png', now());
insert into user_library (user_id, asset_type, storage_path, file_size_bytes, mime_type, original_prompt, model_used)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'image', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/missing.png', 1, 'image/png', 'p', 'm');
-- thumbnails count as objects of their rows: a library video whose thumbnail
-- is missing, and a thumbnail nobody owns
insert into storage.objects (bucket_id, name, created_at) values
    ('user-library', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/v.mp4', now() - interval '2 days'),
    ('user-library', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/thumbnails/lost.jpg', now() - interval '2 days');
insert into user_library (user_id, asset_type, storage_path, thumbnail_path, file_size_bytes, mime_type,
                          original_prompt, model_used)
values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'video', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/v.mp4',
        'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/thumbnails/v.jpg', 1, 'video/mp4', 'p', 'm');

select regress.act_as_service();
-- the audit sees the object nobody owns (old or new) and the row whose object is missing
select * from storage_orphans();
-- reclaim queues only orphans older than the grace period
select reclaim_orphaned_objects() as reclaimed;
select reclaim_orphaned_objects() as reclaimed_again;
select bucket_id, object_name, reason from storage_deletion_outbox;
select * from storage_orphans();

-- Deleting asset 1 queues its object; an entry not due yet is not claimed.
delete from workspace_assets where asset_index = 1;
insert into storage_deletion_outbox (bucket_id, object_name, user_id, reason, not_before)
values ('user-library', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/later.png', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
        'save_intent', now() + interval '1 hour');
-- An entry whose object a row owns again is dropped, never handed out.
insert into storage_deletion_outbox (bucket_id, object_name, user_id, reason)
values ('workspace-temp', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-000000000001/0.png',
        'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'row_deleted');

create temp table claimed on commit drop as select claim_storage_deletions(10, 60) as answer;
select d ->> 'bucket_id' as bucket_id, d ->> 'object_name' as object_name
from claimed, jsonb_array_elements(answer -> 'deletions') d order by 2;
select object_name, reason from storage_deletion_outbox
where object_name like '%/0.png' and bucket_id = 'workspace-temp';
-- claimed entries are leased: a second drainer gets nothing
select claim_storage_deletions() as second_drainer;

-- One deletion failed, the rest succeeded.
select fail_storage_deletions(array(select (d ->> 'id')::bigint from claimed, jsonb_array_elements(answer -> 'deletions') d
                                    where d ->> 'object_name' like '%lost.png'), 'storage answered 500') as failed;
select complete_storage_deletions(array(select (d ->> 'id')::bigint from claimed, jsonb_array_elements(answer -> 'deletions') d
                                        where d ->> 'object_name' not like '%lost.png')) as completed;
select object_name, attempts, claimed_until, last_error, not_before > now() as backing_off
from storage_deletion_outbox order by object_name;
-- once due again, it is retried
update storage_deletion_outbox set not_before = now() where object_name like '%lost.png';
select jsonb_array_length(claim_storage_deletions() -> 'deletions') as retried;

savepoint attack;
select claim_storage_deletions(0);
rollback to savepoint attack;
rollback;
