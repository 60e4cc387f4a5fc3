-- Supabase Realtime: the tables the workspace page subscribes to (seed 000:
-- useLibraryFirstWorkspace) publish their changes when the supabase_realtime
-- publication exists (on Supabase it does; on a plain Postgres it doesn't, and
-- this is a no-op). REPLICA IDENTITY FULL puts the whole old row in UPDATE and
-- DELETE events, which clients need to know *which* asset left the workspace
-- and Realtime needs to apply RLS to them.

alter table jobs replica identity full;
alter table workspace_assets replica identity full;
alter table user_library replica identity full;

do $$
declare
    published text;
begin
    if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
        return;
    end if;
    foreach published in array array['jobs', 'workspace_assets', 'user_library'] loop
        if not exists (select 1 from pg_publication_tables
                       where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = published) then
            execute format('alter publication supabase_realtime add table public.%I', published);
        end if;
    end loop;
end
$$;
