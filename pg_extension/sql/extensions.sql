-- The extensions the database builds on, where Supabase keeps them.
--
-- Both are Postgres contrib, offered by every Supabase project: pg_trgm
-- indexes the substring and fuzzy matches of the library search (search.sql);
-- btree_gin lets those GIN indexes lead with user_id, so a search reads only
-- the caller's entries. Supabase installs extensions into schema
-- `extensions`. The extension build declares both in ourvidz.control
-- (`requires`), so they are installed before this runs, in whatever schema
-- their installer chose (the compatibility bootstrap and Supabase:
-- `extensions`; `create extension ourvidz cascade`: `public`); the pure-SQL
-- build turns them on here when a project has not yet.
do $$
begin
    if not exists (select 1 from pg_catalog.pg_extension where extname = 'pg_trgm') then
        create extension pg_trgm with schema extensions;
    end if;
    if not exists (select 1 from pg_catalog.pg_extension where extname = 'btree_gin') then
        create extension btree_gin with schema extensions;
    end if;
end
$$;

-- The SQL that follows names pg_trgm's operators and operator classes without
-- a schema, so they resolve in either place. (`create extension` restores the
-- caller's search_path after its script; a migration run leaves it set for the
-- rest of its session.) Functions that use them set the same path themselves.
set search_path = public, extensions;
