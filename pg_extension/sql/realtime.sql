-- Supabase Realtime: the tables the workspace page subscribes to (seed 000:
-- useLibraryFirstWorkspace; collections for their live counts) publish their
-- changes through the supabase_realtime publication. On Supabase it exists
-- and the tables are added at install; on a plain Postgres it doesn't and
-- nothing happens. A project that turns Realtime on later runs
-- `select ourvidz_private.publish_to_realtime()`.
-- REPLICA IDENTITY FULL puts the whole old row in UPDATE and DELETE events,
-- which clients need to know *which* asset left the workspace and Realtime
-- needs to apply RLS to them.

alter table jobs replica identity full;
alter table workspace_assets replica identity full;
alter table user_library replica identity full;
alter table user_collections replica identity full;

-- Returns the tables it added (none when there is no publication, or when
-- they are all in it already).
create function ourvidz_private.publish_to_realtime()
returns text[]
language plpgsql
set search_path = pg_catalog, public
as $$
declare
    published text;
    added text[] := '{}'::text[];
begin
    if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
        return added;
    end if;
    foreach published in array array['jobs', 'workspace_assets', 'user_library', 'user_collections'] loop
        if not exists (select 1 from pg_publication_tables
                       where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = published) then
            execute format('alter publication supabase_realtime add table public.%I', published);
            added := added || published;
        end if;
    end loop;
    return added;
end;
$$;

revoke execute on function ourvidz_private.publish_to_realtime() from public;

select ourvidz_private.publish_to_realtime();
