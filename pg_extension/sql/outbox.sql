-- The storage deletion outbox.
--
-- Supabase forbids deleting storage.objects rows with SQL (storage.protect_delete),
-- and a file must not outlive the row that owned it. So whenever a row that owns
-- objects goes away — through the SQL API, PostgREST, the expiry cleanup, or a
-- cascade from auth.users or jobs — a statement trigger records its objects
-- here in the same transaction, and a drainer deletes them through the Storage
-- API (claim_storage_deletions / complete_storage_deletions in maintenance.sql).
--
-- `not_before` delays an entry: a save records its destination copy here before
-- copying, due later, and cancels the entry when the library row commits; if
-- the request dies in between, the drainer reclaims the orphaned copy.
--
-- An object a queued or running job reads (a reference image, listed in
-- job_sources) is *held*: its entry is due at 'infinity' until the last such
-- job finishes or is deleted, so however its row goes — expiry cleanup,
-- discard, save, delete, a cascade — the worker can still sign and fetch it.

create table storage_deletion_outbox (
    id bigint generated always as identity primary key,
    bucket_id text not null check (bucket_id in ('workspace-temp', 'user-library')),
    object_name text not null,
    -- the owner, for auditing; deliberately no foreign key: the entry must
    -- survive the deletion of its user (that is when most files must go)
    user_id uuid,
    reason text not null
        check (reason in ('row_deleted', 'path_changed', 'save_intent', 'callback_rejected',
                          'job_failed', 'orphaned')),
    created_at timestamptz not null default now(),
    not_before timestamptz not null default now(),
    attempts integer not null default 0 check (attempts >= 0),
    claimed_until timestamptz,
    last_error text,
    constraint storage_deletion_outbox_object_key unique (bucket_id, object_name)
);

create index idx_outbox_due on storage_deletion_outbox (not_before);

-- Record the objects of deleted rows: one INSERT per statement, however many
-- rows it deleted (the expiry cleanup deletes thousands at a time). The job
-- sources naming them are locked first, so a job finishing at the same time
-- releases the hold only after this entry is visible (release_held_objects).
create function record_deleted_objects()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
declare
    bucket text;
    objects text[];
    owners uuid[];
begin
    if tg_table_name = 'workspace_assets' then
        bucket := 'workspace-temp';
        select array_agg(o.object_name), array_agg(gone.user_id) into objects, owners
        from gone cross join lateral (values (gone.temp_storage_path), (gone.thumbnail_path)) as o (object_name)
        where o.object_name is not null;
    else
        bucket := 'user-library';
        select array_agg(o.object_name), array_agg(gone.user_id) into objects, owners
        from gone cross join lateral (values (gone.storage_path), (gone.thumbnail_path)) as o (object_name)
        where o.object_name is not null;
    end if;
    with held as (
        select s.object_name from job_sources s
        where s.bucket_id = bucket and s.object_name = any (objects)
        for share
    )
    insert into storage_deletion_outbox (bucket_id, object_name, user_id, reason, not_before)
    select bucket, g.object_name, g.user_id, 'row_deleted',
           case when g.object_name in (select h.object_name from held h) then 'infinity'::timestamptz else now() end
    from unnest(objects, owners) as g (object_name, user_id)
    on conflict (bucket_id, object_name) do nothing;
    return null;
end;
$$;

create trigger workspace_assets_record_deleted_objects
    after delete on workspace_assets
    referencing old table as gone
    for each statement execute function record_deleted_objects();

create trigger user_library_record_deleted_objects
    after delete on user_library
    referencing old table as gone
    for each statement execute function record_deleted_objects();

-- A job's sources go when it finishes or is deleted (lineage.sql): the objects
-- no other live job still reads are due now.
create function ourvidz_private.release_held_objects()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
begin
    update storage_deletion_outbox o
    set not_before = now()
    from (select distinct r.bucket_id, r.object_name from released r where r.object_name is not null) r
    where o.bucket_id = r.bucket_id and o.object_name = r.object_name
      and o.not_before = 'infinity'
      and not exists (select 1 from job_sources s where s.bucket_id = r.bucket_id and s.object_name = r.object_name);
    return null;
end;
$$;

create trigger job_sources_release_held_objects
    after delete on job_sources
    referencing old table as released
    for each statement execute function ourvidz_private.release_held_objects();

-- A path that changes leaves its old object behind: queue it too.
-- Arguments: the bucket, then the name of the row's main path column.
create function record_replaced_objects()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
declare
    old_row jsonb := to_jsonb(old);
    new_row jsonb := to_jsonb(new);
begin
    insert into storage_deletion_outbox (bucket_id, object_name, user_id, reason)
    select tg_argv[0], o.object_name, old.user_id, 'path_changed'
    from (values (old_row ->> tg_argv[1], new_row ->> tg_argv[1]),
                 (old_row ->> 'thumbnail_path', new_row ->> 'thumbnail_path')) as o (object_name, replacement)
    where o.object_name is not null and o.object_name is distinct from o.replacement
    on conflict (bucket_id, object_name) do nothing;
    return null;
end;
$$;

create trigger workspace_assets_record_replaced_objects
    after update of temp_storage_path, thumbnail_path on workspace_assets
    for each row
    when (old.temp_storage_path is distinct from new.temp_storage_path
          or old.thumbnail_path is distinct from new.thumbnail_path)
    execute function record_replaced_objects('workspace-temp', 'temp_storage_path');

create trigger user_library_record_replaced_objects
    after update of storage_path, thumbnail_path on user_library
    for each row
    when (old.storage_path is distinct from new.storage_path
          or old.thumbnail_path is distinct from new.thumbnail_path)
    execute function record_replaced_objects('user-library', 'storage_path');
