-- The tables of the generation workspace (seeds 000, 001, 002).
--
-- Column names, defaults and checks are the seeds'; additions are marked. The
-- limits are the API's rules (rules.sql), so a row written through PostgREST
-- obeys the same ones as a row written by the SQL API. Two families of
-- constraints go beyond the seeds because the invariants need them:
--   * every storage path must lie in its owner's folder (`storage_path_is_owned`)
--     and no two rows may own the same object — a row's deletion queues its
--     objects for deletion, so a foreign or shared path would delete someone
--     else's file;
--   * references between a user's rows are composite `(id, user_id)` keys, so a
--     row can only point at the same user's job or collection, and a foreign key
--     check can't be used to probe for another user's ids.
-- Timestamps, counts and flags are NOT NULL where the seeds left them nullable:
-- a NULL `expires_at` would never expire and a NULL count can't be maintained.

-- jobs (seed 002) ---------------------------------------------------------------
create table jobs (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    job_type text not null check (job_type ~ '^[a-z0-9_]{1,64}$'),
    status text not null default 'queued'
        check (status in ('queued', 'processing', 'completed', 'failed')),
    created_at timestamptz not null default now(),
    -- what the worker needs (ARCHITECTURE.md: queue columns)
    mode text not null check (mode in ('image', 'video')),
    prompt text not null check (ourvidz_private.is_prompt(prompt)),
    model text not null check (ourvidz_private.is_model_name(model)),
    quality text not null default 'fast' check (quality in ('fast', 'high')),
    batch_size integer not null,
    generation_seed bigint not null check (ourvidz_private.is_seed(generation_seed)),
    -- checked key by key on insert (queue.sql: jobs_check_generation_settings)
    generation_settings jsonb not null default '{}'
        check (jsonb_typeof(generation_settings) = 'object'),
    idempotency_key text check (ourvidz_private.is_idempotency_key(idempotency_key)),
    -- queue bookkeeping
    attempts integer not null default 0 check (attempts >= 0),
    max_attempts integer not null default 3 check (max_attempts between 1 and 100),
    worker_id text check (ourvidz_private.is_worker_id(worker_id)),
    lease_expires_at timestamptz,
    error text check (ourvidz_private.is_error_text(error)),
    started_at timestamptz,
    completed_at timestamptz,
    updated_at timestamptz not null default now(),
    -- seed 002's two-level deletion: a dismissed job leaves the workspace
    -- listing (a failed job, or one whose assets are all dismissed) but stays
    dismissed_at timestamptz,
    constraint jobs_batch_size_check check (ourvidz_private.is_batch_size(mode, batch_size)),
    constraint jobs_processing_has_lease
        check (status <> 'processing' or (worker_id is not null and lease_expires_at is not null)),
    constraint jobs_user_idempotency_key_key unique (user_id, idempotency_key),
    constraint jobs_id_user_id_key unique (id, user_id)
);

-- The workspace page lists a user's jobs newest first, keyset-paginated.
create index idx_jobs_user_created on jobs (user_id, created_at desc, id desc);
-- The claim query: queued jobs in arrival order, and leases that ran out.
create index idx_jobs_queued on jobs (created_at) where status = 'queued';
create index idx_jobs_leases on jobs (lease_expires_at) where status = 'processing';

-- user_collections (seed 001) ---------------------------------------------------
create table user_collections (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    name text not null check (ourvidz_private.is_collection_name(name)),
    description text check (ourvidz_private.is_description(description)),
    asset_count integer not null default 0 check (asset_count >= 0),
    created_at timestamptz not null default now(),
    constraint user_collections_id_user_id_key unique (id, user_id)
);

create index idx_collections_user on user_collections (user_id, created_at desc);
-- Names are unique per user, whatever their case.
create unique index user_collections_user_id_name_key on user_collections (user_id, lower(name));

-- workspace_assets (seeds 000, 001) ---------------------------------------------
create table workspace_assets (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    asset_type text not null check (asset_type in ('image', 'video')),
    temp_storage_path text not null,
    file_size_bytes bigint not null check (file_size_bytes between 0 and ourvidz_private.max_object_bytes()),
    mime_type text not null check (mime_type = any (ourvidz_private.allowed_mime_types())),
    duration_seconds decimal(10, 3) check (duration_seconds >= 0),
    job_id uuid not null,
    asset_index integer not null default 0 check (asset_index between 0 and 99),
    generation_seed bigint not null check (ourvidz_private.is_seed(generation_seed)),
    original_prompt text not null,
    model_used text not null,
    generation_settings jsonb default '{}',
    created_at timestamptz not null default now(),
    expires_at timestamptz not null default (now() + ourvidz_private.workspace_lifetime()),
    thumbnail_path text,
    width integer check (width > 0),
    height integer check (height > 0),
    -- seed 002's two-level deletion: a dismissed asset is hidden from the
    -- workspace listing but kept, and expires like any other
    dismissed_at timestamptz,
    constraint workspace_assets_user_id_job_id_asset_index_key unique (user_id, job_id, asset_index),
    constraint workspace_assets_job_fkey foreign key (job_id, user_id)
        references jobs (id, user_id) on delete cascade,
    constraint workspace_assets_temp_storage_path_owned
        check (storage_path_is_owned(temp_storage_path, user_id)),
    constraint workspace_assets_thumbnail_path_owned
        check (thumbnail_path is null or storage_path_is_owned(thumbnail_path, user_id)),
    constraint workspace_assets_type_matches_mime
        check ((asset_type = 'image') = (mime_type like 'image/%')),
    -- the workspace is temporary: no row outlives the 7 days
    constraint workspace_assets_expires_within_lifetime
        check (expires_at <= created_at + ourvidz_private.workspace_lifetime())
);

-- Seed 000's five indexes. Two differ from the seed's text, which Postgres
-- cannot build or would not use:
--   * idx_workspace_assets_expiration was `(expires_at) where expires_at < now()`;
--     an index predicate must be immutable and now() is not. It becomes the
--     cleanup's index: expiry order with the id, so batches walk it in order.
--   * idx_workspace_assets_expires serves "assets that will expire soon", which
--     RLS always runs as `user_id = auth.uid() and expires_at < ...`: it leads
--     with user_id, or the query would scan every user's expiring rows.
create index idx_workspace_assets_user_created on workspace_assets (user_id, created_at desc);
create index idx_workspace_assets_job_id on workspace_assets (job_id);
create index idx_workspace_assets_expires on workspace_assets (user_id, expires_at);
create index idx_workspace_assets_type_model on workspace_assets (asset_type, model_used);
create index idx_workspace_assets_expiration on workspace_assets (expires_at, id);
-- One row per object (see the header).
create unique index workspace_assets_temp_storage_path_key on workspace_assets (temp_storage_path);
create unique index workspace_assets_thumbnail_path_key on workspace_assets (thumbnail_path)
    where thumbnail_path is not null;

-- user_library (seed 001) -------------------------------------------------------
-- What a library search reads: the title, then the prompt. One definition for
-- the stored text-search document and the trigram index (search.sql).
create function ourvidz_private.library_text(custom_title text, original_prompt text)
returns text
language sql immutable parallel safe
as $$ select coalesce(custom_title, '') || ' ' || original_prompt $$;

create table user_library (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
    asset_type text not null check (asset_type in ('image', 'video')),
    storage_path text not null,
    file_size_bytes bigint not null check (file_size_bytes between 0 and ourvidz_private.max_object_bytes()),
    mime_type text not null check (mime_type = any (ourvidz_private.allowed_mime_types())),
    duration_seconds decimal(10, 3) check (duration_seconds >= 0),
    original_prompt text not null,
    model_used text not null,
    generation_seed bigint check (ourvidz_private.is_seed(generation_seed)),
    collection_id uuid,
    custom_title text check (ourvidz_private.is_title(custom_title)),
    tags text[] not null default '{}' check (ourvidz_private.are_tags(tags)),
    is_favorite boolean not null default false,
    visibility text not null default 'private' check (visibility in ('private', 'unlisted', 'public')),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    -- generation context kept from the workspace, so "reuse parameters" works
    -- from the library too (ARCHITECTURE.md)
    generation_settings jsonb not null default '{}',
    job_id uuid,
    source_asset_id uuid,
    width integer check (width > 0),
    height integer check (height > 0),
    thumbnail_path text,
    -- the full-text search document (Supabase's stored `fts` column pattern)
    search_document tsvector not null generated always as
        (to_tsvector('english', ourvidz_private.library_text(custom_title, original_prompt))) stored,
    constraint user_library_collection_fkey foreign key (collection_id, user_id)
        references user_collections (id, user_id) on delete set null (collection_id),
    constraint user_library_job_fkey foreign key (job_id, user_id)
        references jobs (id, user_id) on delete set null (job_id),
    -- saving the same workspace asset twice (a retried request) finds this row
    constraint user_library_user_id_source_asset_id_key unique (user_id, source_asset_id),
    constraint user_library_storage_path_owned
        check (storage_path_is_owned(storage_path, user_id)),
    constraint user_library_thumbnail_path_owned
        check (thumbnail_path is null or storage_path_is_owned(thumbnail_path, user_id)),
    constraint user_library_type_matches_mime
        check ((asset_type = 'image') = (mime_type like 'image/%'))
);

-- Library pages are keyset-paginated newest (or oldest) first; the id breaks ties.
create index idx_library_user_created on user_library (user_id, created_at desc, id desc);
-- A collection's pages and cover, its count, ON DELETE SET NULL.
create index idx_library_collection on user_library (collection_id, created_at desc, id desc)
    where collection_id is not null;
-- Search (search.sql): full text, substring and fuzzy (pg_trgm), tags. Each
-- leads with user_id (btree_gin), so a search intersects the caller's entries
-- with the term's inside the index instead of reading every user's matches.
create index idx_library_search_document on user_library using gin (user_id, search_document);
create index idx_library_search_text on user_library
    using gin (user_id, ourvidz_private.library_text(custom_title, original_prompt) gin_trgm_ops);
create index idx_library_tags on user_library using gin (user_id, tags);
create index idx_library_job on user_library (job_id) where job_id is not null;
create unique index user_library_storage_path_key on user_library (storage_path);
create unique index user_library_thumbnail_path_key on user_library (thumbnail_path)
    where thumbnail_path is not null;

-- library_totals --------------------------------------------------------------
-- What each user keeps in the library, per collection (NULL: in none) and
-- asset type: items and bytes, kept by a statement trigger (library.sql), so
-- asset_statistics reads a few rows instead of a large library. Only a user's
-- own transactions change their library (saves, organising, deletes), so the
-- rows are contended only by that user, like collection counts. (No check
-- that they stay positive: an upsert checks the row it would insert — here a
-- negative delta — before it finds the row it updates.)
create table library_totals (
    user_id uuid not null references auth.users (id) on delete cascade,
    collection_id uuid,
    asset_type text not null check (asset_type in ('image', 'video')),
    items bigint not null default 0,
    bytes bigint not null default 0,
    constraint library_totals_key unique nulls not distinct (user_id, collection_id, asset_type)
);

-- asset_relationships (seed 003) --------------------------------------------------
-- Lineage between one user's assets, workspace or library (their ids never
-- collide: both are fresh uuids, and a save gives the library row a new one).
-- The parent is the older asset: the one a job was queued from, or its
-- reference image; the child is what the job made. Written only by the
-- system (lineage.sql), which keeps both ends the same user's and removes an
-- edge with either end, so no foreign key is needed to keep them whole (and
-- none could point into two tables).
create table asset_relationships (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null references auth.users (id) on delete cascade,
    parent_asset_id uuid not null,
    child_asset_id uuid not null,
    relationship_type text not null
        check (relationship_type in ('derived_from', 'variant_of', 'reference_for', 'generated_from')),
    metadata jsonb not null default '{}' check (jsonb_typeof(metadata) = 'object'),
    created_at timestamptz not null default now(),
    constraint asset_relationships_parent_child_type_key
        unique (parent_asset_id, child_asset_id, relationship_type),
    constraint asset_relationships_not_self check (parent_asset_id <> child_asset_id)
);

-- Seed 003's parent index is the unique constraint's (it leads with the parent).
create index idx_asset_rel_child on asset_relationships (child_asset_id);

-- job_sources ---------------------------------------------------------------------
-- What a queued or running job was made from: the asset it was queued from
-- (use seed, variations, image to video) and the objects it reads (reference
-- images). Rows live until the job finishes: the assets it makes get their
-- lineage edges from them, and an object listed here is not deleted while the
-- job may still read it (outbox.sql). `asset_id` follows a saved asset into
-- the library and is cleared when the asset is deleted.
create table job_sources (
    id bigint generated always as identity primary key,
    job_id uuid not null,
    user_id uuid not null,
    asset_id uuid,
    relationship_type text not null
        check (relationship_type in ('derived_from', 'variant_of', 'reference_for', 'generated_from')),
    -- the settings field naming the object (reference_image, style_reference)
    field text,
    bucket_id text check (bucket_id in ('workspace-temp', 'user-library')),
    object_name text,
    constraint job_sources_job_fkey foreign key (job_id, user_id) references jobs (id, user_id) on delete cascade,
    constraint job_sources_object_named check ((bucket_id is null) = (object_name is null))
);

create index idx_job_sources_job on job_sources (job_id);
create index idx_job_sources_asset on job_sources (asset_id) where asset_id is not null;
create index idx_job_sources_object on job_sources (bucket_id, object_name) where object_name is not null;

-- updated_at ------------------------------------------------------------------
create function set_updated_at()
returns trigger
language plpgsql
as $$
begin
    new.updated_at := now();
    return new;
end;
$$;

create trigger jobs_set_updated_at
    before update on jobs
    for each row execute function set_updated_at();

create trigger user_library_set_updated_at
    before update on user_library
    for each row execute function set_updated_at();
