-- Scheduled maintenance with pg_cron, when pg_cron is installed; otherwise a
-- notice and nothing else (enable pg_cron, then apply this again).
--   every minute: cleanup_expired_workspace_assets() — at most 50,000 rows a call
--   hourly:          reclaim_orphaned_objects() — uploads and copies nobody owns
-- The deletion outbox itself is drained through the Storage API by the
-- workspace-actions function (action "drain_storage_deletions", service role),
-- which pg_cron can call with pg_net; see the deployment guide.
do $$
begin
    if not exists (select 1 from pg_extension where extname = 'pg_cron') then
        raise notice 'pg_cron is not installed: ourvidz maintenance is not scheduled';
        return;
    end if;
    perform cron.schedule('ourvidz-cleanup-expired-workspace-assets', '* * * * *',
                          'select public.cleanup_expired_workspace_assets()');
    perform cron.schedule('ourvidz-reclaim-orphaned-objects', '17 * * * *',
                          'select public.reclaim_orphaned_objects()');
end
$$;
