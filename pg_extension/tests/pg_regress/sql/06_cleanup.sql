-- cleanup_expired_workspace_assets(): expired rows go in bounded batches, live
-- rows stay, and every object an expired row owned lands in the outbox.
\set VERBOSITY terse
begin;

-- alice: 5 assets expired a second ago (one with a thumbnail) and 2 live ones;
-- bob: 1 expired, 1 live. At the boundary: one asset of alice expires exactly
-- now (not expired yet: expiry is `expires_at < now()`), one a second from now.
select regress.seed_workspace('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000001', 5,
                              now() - interval '1 second');
select regress.seed_workspace('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000002', 2);
select regress.seed_workspace('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000003', 2,
                              now() + interval '1 second');
update workspace_assets set expires_at = now()
where job_id = '10000000-0000-4000-8000-000000000003' and asset_index = 1;
select regress.seed_workspace('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', '20000000-0000-4000-8000-000000000001', 1,
                              now() - interval '8 days');
select regress.seed_workspace('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', '20000000-0000-4000-8000-000000000002', 1);

-- Batches of 2, at most 2 per call: 4, then the remaining 2, then nothing.
select cleanup_expired_workspace_assets(batch_size => 2, max_batches => 2) as removed;
select cleanup_expired_workspace_assets(batch_size => 2, max_batches => 2) as removed;
select cleanup_expired_workspace_assets() as removed;

-- Live rows are untouched, down to the second.
select job_id, asset_index, expires_at - now() as expires_in from workspace_assets
where expires_at < now() + interval '1 day' order by job_id, asset_index;
select job_id, asset_index, expires_at > now() as live from workspace_assets order by job_id, asset_index;

-- The outbox holds each expired asset, and the thumbnail, in workspace-temp.
select bucket_id, object_name, user_id, reason from storage_deletion_outbox order by object_name;

-- Bad arguments are refused.
savepoint attack;
select cleanup_expired_workspace_assets(batch_size => 0);
rollback to savepoint attack;
select cleanup_expired_workspace_assets(max_batches => -1);
rollback to savepoint attack;

-- Callable with no arguments, as pg_cron calls it, by the service role.
select regress.act_as_service();
select cleanup_expired_workspace_assets() as removed;
rollback;

-- cleanup_all_expired_workspace_assets(), the procedure pg_cron calls, deletes
-- every expired row, committing after each batch (1000 rows, then sized to
-- the time a batch takes). It runs outside a transaction block, so this part
-- commits, and removes what it made at the end.
select count(*) as seeded from (
    select regress.seed_workspace('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
                                  ('10000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, 4,
                                  now() - interval '1 minute')
    from generate_series(1, 300) n) s;
select regress.seed_workspace('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000001000', 1);
call cleanup_all_expired_workspace_assets();
select count(*) as live_rows_left, min(expires_at) > now() as all_live from workspace_assets;
-- 1200 assets, 300 thumbnails
select count(*) as queued_objects from storage_deletion_outbox;

-- Inside a transaction block it can run one batch, not commit between two.
select count(*) as seeded from (
    select regress.seed_workspace('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
                                  ('10000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, 4,
                                  now() - interval '1 minute')
    from generate_series(2001, 2300) n) s;
begin;
call cleanup_all_expired_workspace_assets();
rollback;
delete from workspace_assets where expires_at < now() and asset_index > 0;
begin;
call cleanup_all_expired_workspace_assets();
select count(*) as live_rows_left from workspace_assets;
commit;

delete from jobs;
delete from storage_deletion_outbox;
