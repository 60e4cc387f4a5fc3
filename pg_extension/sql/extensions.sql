-- The extensions the database builds on, where Supabase keeps them.
--
-- pg_trgm (Postgres contrib, offered by every Supabase project) indexes the
-- substring and fuzzy matches of the library and workspace search
-- (search.sql). Supabase installs extensions into schema `extensions`. The
-- extension build declares pg_trgm in ourvidz.control (`requires`), so it is
-- installed before this runs, in whatever schema its installer chose (the
-- compatibility bootstrap and Supabase: `extensions`; `create extension ourvidz
-- cascade`: `public`); the pure-SQL build turns it on here when a project has
-- not yet.
do $$
begin
    if not exists (select 1 from pg_catalog.pg_extension where extname = 'pg_trgm') then
        create extension pg_trgm with schema extensions;
    end if;
end
$$;

-- The SQL that follows names pg_trgm's operators and operator classes without
-- a schema, so they resolve in either place. (`create extension` restores the
-- caller's search_path after its script; a migration run leaves it set for the
-- rest of its session.) Functions that use them set the same path themselves.
set search_path = public, extensions;
