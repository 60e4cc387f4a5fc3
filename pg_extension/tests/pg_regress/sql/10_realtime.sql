-- Supabase Realtime: the subscribed tables join the supabase_realtime
-- publication when it exists, with the replica identity Realtime needs.
\set VERBOSITY terse
begin;

select relname, relreplident from pg_class
where oid in ('jobs'::regclass, 'workspace_assets'::regclass, 'user_library'::regclass, 'user_collections'::regclass)
order by relname;

-- No publication on a plain Postgres: nothing to do.
select ourvidz_private.publish_to_realtime() as added;

-- Realtime turned on later: the tables are added, once.
set local client_min_messages = error;  -- (no wal_level warning: it depends on the cluster)
create publication supabase_realtime;
reset client_min_messages;
select ourvidz_private.publish_to_realtime() as added;
select ourvidz_private.publish_to_realtime() as added_again;
select schemaname, tablename from pg_publication_tables where pubname = 'supabase_realtime' order by tablename;
rollback;
