-- Row Level Security and privileges.
--
-- Every table has RLS and one policy per operation in the style of seed 000:
-- a user sees and changes only rows whose user_id is theirs, and WITH CHECK
-- stops anyone from inserting a row for, or moving a row to, another user.
-- `(select auth.uid())` instead of `auth.uid()` lets Postgres evaluate the id
-- once per statement instead of once per row (Supabase's RLS guidance).
--
-- Privileges decide *which columns* a user may write; RLS decides *which rows*.
-- Supabase's default privileges grant everything in `public` to anon and
-- authenticated, so we revoke first and grant back only what each table needs:
--   * anon: nothing at all;
--   * authenticated: read own rows; the writes a client legitimately makes
--     through PostgREST; never queue bookkeeping, counts or storage paths of
--     existing rows (those belong to the SQL API, the trigger and the worker);
--   * service_role: everything (it bypasses RLS; workers and maintenance).

alter table jobs enable row level security;
alter table workspace_assets enable row level security;
alter table user_collections enable row level security;
alter table user_library enable row level security;
alter table storage_deletion_outbox enable row level security;
alter table asset_relationships enable row level security;
alter table job_sources enable row level security;
alter table library_totals enable row level security;

revoke all on jobs, workspace_assets, user_collections, user_library, storage_deletion_outbox,
    asset_relationships, job_sources, library_totals
    from public, anon, authenticated;
grant all on jobs, workspace_assets, user_collections, user_library, storage_deletion_outbox,
    asset_relationships, job_sources, library_totals
    to service_role;

-- jobs: created through enqueue_job (or a plain insert of the same columns,
-- checked by the same rules); status and lease columns are the queue's, so
-- the only column a user may update is dismissed_at (hiding the job from the
-- workspace listing). A user may delete a job, which removes its workspace
-- assets with it.
grant select, delete on jobs to authenticated;
grant update (dismissed_at) on jobs to authenticated;
grant insert (id, user_id, job_type, mode, prompt, model, quality, batch_size,
              generation_seed, generation_settings, idempotency_key) on jobs to authenticated;

create policy "Users can view own jobs" on jobs
    for select to authenticated
    using (user_id = (select auth.uid()));
create policy "Users can insert own jobs" on jobs
    for insert to authenticated
    with check (user_id = (select auth.uid()) and status = 'queued');
create policy "Users can update own jobs" on jobs
    for update to authenticated
    using (user_id = (select auth.uid()))
    with check (user_id = (select auth.uid()));
create policy "Users can delete own jobs" on jobs
    for delete to authenticated
    using (user_id = (select auth.uid()));

-- workspace_assets (seed 000's policies, with WITH CHECK on update). Rows are
-- the worker's output, written by record_job_result (service role): a user
-- cannot insert one, so none can point at another user's job or outlive the
-- 7-day rule.
grant select, delete on workspace_assets to authenticated;
grant update (generation_settings, dismissed_at) on workspace_assets to authenticated;

create policy "Users can view own workspace assets" on workspace_assets
    for select to authenticated
    using (user_id = (select auth.uid()));
create policy "Users can update own workspace assets" on workspace_assets
    for update to authenticated
    using (user_id = (select auth.uid()))
    with check (user_id = (select auth.uid()));
create policy "Users can delete own workspace assets" on workspace_assets
    for delete to authenticated
    using (user_id = (select auth.uid()));

-- user_collections: asset_count is the trigger's.
grant select, delete on user_collections to authenticated;
grant insert (id, user_id, name, description, created_at) on user_collections to authenticated;
grant update (name, description) on user_collections to authenticated;

create policy "Users can view own collections" on user_collections
    for select to authenticated
    using (user_id = (select auth.uid()));
create policy "Users can insert own collections" on user_collections
    for insert to authenticated
    with check (user_id = (select auth.uid()));
create policy "Users can update own collections" on user_collections
    for update to authenticated
    using (user_id = (select auth.uid()))
    with check (user_id = (select auth.uid()));
create policy "Users can delete own collections" on user_collections
    for delete to authenticated
    using (user_id = (select auth.uid()));

-- user_library: organise freely, but the stored object is fixed.
grant select, delete on user_library to authenticated;
grant insert on user_library to authenticated;
grant update (collection_id, custom_title, tags, is_favorite, visibility) on user_library to authenticated;

create policy "Users can view own library" on user_library
    for select to authenticated
    using (user_id = (select auth.uid()));
create policy "Users can insert own library assets" on user_library
    for insert to authenticated
    with check (user_id = (select auth.uid()));
create policy "Users can update own library assets" on user_library
    for update to authenticated
    using (user_id = (select auth.uid()))
    with check (user_id = (select auth.uid()));
create policy "Users can delete own library assets" on user_library
    for delete to authenticated
    using (user_id = (select auth.uid()));

-- storage_deletion_outbox: written by triggers and the SQL API only; a user
-- may see which of their files are pending deletion.
grant select on storage_deletion_outbox to authenticated;

create policy "Users can view own pending deletions" on storage_deletion_outbox
    for select to authenticated
    using (user_id = (select auth.uid()));

-- asset_relationships, job_sources, library_totals: written by the system
-- only (lineage.sql, queue.sql, library.sql), which keeps every edge between
-- one user's assets and every total exact; a user reads their own.
grant select on asset_relationships, job_sources, library_totals to authenticated;

create policy "Users can view own asset relationships" on asset_relationships
    for select to authenticated
    using (user_id = (select auth.uid()));
create policy "Users can view own job sources" on job_sources
    for select to authenticated
    using (user_id = (select auth.uid()));
create policy "Users can view own library totals" on library_totals
    for select to authenticated
    using (user_id = (select auth.uid()));

-- Functions: nothing is executable by default; each API file grants its own.
revoke execute on function set_updated_at(), record_deleted_objects(), record_replaced_objects(),
    ourvidz_private.release_held_objects(),
    update_collection_asset_count(), repair_collection_asset_counts(uuid),
    normalize_storage_path(text, text), storage_path_is_owned(text, uuid),
    ourvidz_private.library_text(text, text)
    from public, anon, authenticated;
grant execute on function repair_collection_asset_counts(uuid) to service_role;
grant execute on function normalize_storage_path(text, text), storage_path_is_owned(text, uuid),
    ourvidz_private.library_text(text, text)
    to authenticated, service_role;
