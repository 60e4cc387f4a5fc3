-- Scheduled maintenance with pg_cron, when pg_cron is installed; otherwise a
-- notice and nothing else (enable pg_cron, then apply this again).
--   every minute: call cleanup_all_expired_workspace_assets() — every expired
--                 workspace row, in short batches that each commit
--   hourly:       reclaim_orphaned_objects() — uploads and copies nobody owns
-- The deletion outbox itself is drained through the Storage API by the
-- storage-drain function (service role), which pg_cron can call with pg_net;
-- see the deployment guide.
do $$
begin
    if not exists (select 1 from pg_extension where extname = 'pg_cron') then
        raise notice 'pg_cron is not installed: ourvidz maintenance is not scheduled';
        return;
    end if;
    perform cron.schedule('ourvidz-cleanup-expired-workspace-assets', '* * * * *',
                          'call public.cleanup_all_expired_workspace_assets()');
    perform cron.schedule('ourvidz-reclaim-orphaned-objects', '17 * * * *',
                          'select public.reclaim_orphaned_objects()');
end
$$;
