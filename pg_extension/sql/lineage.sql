-- Lineage (seed 003): which asset was made from which.
--
-- A job remembers where it came from in job_sources: the asset it was queued
-- from (enqueue_job's `from_asset`) and the stored objects it reads (its
-- reference images, whichever way they were given). When the job's assets
-- arrive, each gets an edge in asset_relationships from every source asset —
-- parent the source, child the new asset:
--   derived_from    queued from the asset, reusing its seed (use seed, regenerate)
--   variant_of      queued from the asset with another seed (variations)
--   generated_from  queued from the asset in the other mode (image to video)
--   reference_for   the asset was the job's reference image or style reference
-- A job's sources go when it finishes (or is deleted); until then the objects
-- they name are held (outbox.sql). Edges stay within one user: sources are
-- only ever the job owner's assets, found by the owner's id.
--
-- Saving a workspace asset moves its edges (and the sources naming it) to the
-- new library id; deleting an asset in any way — API, PostgREST, expiry
-- cleanup, a cascade from its job or its user — removes its edges in the same
-- statement, so no edge ever names a missing asset.
--
-- Everything here that writes is `security definer` (users may only read
-- lineage) and filters by the user explicitly.

-- Sources ------------------------------------------------------------------------------

-- enqueue_job's `from_asset`: the caller's job and asset (enqueue_job found it).
create function ourvidz_private.record_job_source(job_id uuid, asset_id uuid, relationship_type text)
returns void
language sql
security definer
set search_path = pg_catalog, public
as $$
    insert into job_sources (job_id, user_id, asset_id, relationship_type)
    select j.id, j.user_id, record_job_source.asset_id, record_job_source.relationship_type
    from jobs j
    where j.id = record_job_source.job_id and j.user_id = auth.uid()
      and (exists (select 1 from workspace_assets w where w.id = record_job_source.asset_id and w.user_id = j.user_id)
           or exists (select 1 from user_library l where l.id = record_job_source.asset_id and l.user_id = j.user_id))
$$;

-- The stored objects a new job reads (its settings hold them as
-- `{bucket}/{name}`, checked and normalised by the settings trigger), with the
-- owner's asset that owns each, if any.
create function ourvidz_private.record_job_references()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
begin
    insert into job_sources (job_id, user_id, asset_id, relationship_type, field, bucket_id, object_name)
    select new.id, new.user_id,
           coalesce((select w.id from workspace_assets w
                     where r.bucket_id = 'workspace-temp' and w.temp_storage_path = r.object_name
                       and w.user_id = new.user_id),
                    (select l.id from user_library l
                     where r.bucket_id = 'user-library' and l.storage_path = r.object_name
                       and l.user_id = new.user_id)),
           'reference_for', r.field, r.bucket_id, r.object_name
    from (select f.field, split_part(f.ref, '/', 1) as bucket_id,
                 substr(f.ref, strpos(f.ref, '/') + 1) as object_name
          from (select k as field, new.generation_settings ->> k as ref
                from unnest(array['reference_image', 'style_reference']) k) f
          where f.ref is not null and not starts_with(f.ref, 'https://')) r;
    return null;
end;
$$;

create trigger jobs_record_references
    after insert on jobs
    for each row
    when (new.generation_settings ? 'reference_image' or new.generation_settings ? 'style_reference')
    execute function ourvidz_private.record_job_references();

-- A finished job needs its sources no more (its assets, if any, have their
-- edges): dropping them releases the objects they held.
create function ourvidz_private.forget_finished_job_sources()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
begin
    delete from job_sources s where s.job_id = new.id;
    return null;
end;
$$;

create trigger jobs_forget_finished_sources
    after update of status on jobs
    for each row
    when (new.status in ('completed', 'failed') and old.status is distinct from new.status)
    execute function ourvidz_private.forget_finished_job_sources();

-- Edges ---------------------------------------------------------------------------------

-- New workspace assets descend from their job's source assets. The sources are
-- locked (FOR KEY SHARE) before the edges are written, so a source deleted at
-- the same time either goes first (and gets no edge) or waits and takes its
-- edges with it.
create function ourvidz_private.link_new_assets()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
declare
    parents uuid[];
begin
    select array_agg(distinct s.asset_id) into parents
    from born b join job_sources s on s.job_id = b.job_id and s.user_id = b.user_id
    where s.asset_id is not null;
    if parents is null then
        return null;
    end if;
    perform 1 from workspace_assets w where w.id = any (parents) for key share;
    perform 1 from user_library l where l.id = any (parents) for key share;
    insert into asset_relationships (user_id, parent_asset_id, child_asset_id, relationship_type, metadata)
    select b.user_id, s.asset_id, b.id, s.relationship_type,
           jsonb_strip_nulls(jsonb_build_object('job_id', b.job_id, 'field', s.field))
    from born b join job_sources s on s.job_id = b.job_id and s.user_id = b.user_id
    where s.asset_id is not null
      and (exists (select 1 from workspace_assets w where w.id = s.asset_id and w.user_id = b.user_id)
           or exists (select 1 from user_library l where l.id = s.asset_id and l.user_id = b.user_id))
    on conflict on constraint asset_relationships_parent_child_type_key do nothing;
    return null;
end;
$$;

create trigger workspace_assets_link_new_assets
    after insert on workspace_assets
    referencing new table as born
    for each statement execute function ourvidz_private.link_new_assets();

-- Deleted assets take their edges with them, and stop being a job's source.
create function ourvidz_private.forget_deleted_assets()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
begin
    delete from asset_relationships r where r.parent_asset_id in (select g.id from gone g);
    delete from asset_relationships r where r.child_asset_id in (select g.id from gone g);
    update job_sources s set asset_id = null where s.asset_id in (select g.id from gone g);
    return null;
end;
$$;

create trigger workspace_assets_forget_deleted
    after delete on workspace_assets
    referencing old table as gone
    for each statement execute function ourvidz_private.forget_deleted_assets();

create trigger user_library_forget_deleted
    after delete on user_library
    referencing old table as gone
    for each statement execute function ourvidz_private.forget_deleted_assets();

-- Saving moves a workspace asset's lineage to its library row (the caller's
-- both; save_workspace_assets calls this before it deletes the workspace row).
create function ourvidz_private.carry_lineage(from_asset uuid, to_asset uuid)
returns void
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
declare
    uid uuid := auth.uid();
begin
    if not exists (select 1 from workspace_assets w where w.id = from_asset and w.user_id = uid)
       or not exists (select 1 from user_library l where l.id = to_asset and l.user_id = uid) then
        return;
    end if;
    update asset_relationships r set parent_asset_id = to_asset where r.parent_asset_id = from_asset and r.user_id = uid;
    update asset_relationships r set child_asset_id = to_asset where r.child_asset_id = from_asset and r.user_id = uid;
    update job_sources s set asset_id = to_asset where s.asset_id = from_asset and s.user_id = uid;
end;
$$;

-- asset_lineage ---------------------------------------------------------------------------
-- The ancestors and descendants of one of the caller's assets (workspace or
-- library), up to max_lineage_depth() generations each way: the edges with
-- the generation they were found at, and every asset they name.
create function asset_lineage(asset_id uuid)
returns jsonb
language plpgsql
stable
set search_path = pg_catalog, public
as $$
declare
    uid uuid := ourvidz_private.require_user();
    deepest integer := ourvidz_private.max_lineage_depth();
    result jsonb;
begin
    if asset_id is null
       or not exists (select 1 from workspace_assets w where w.id = asset_lineage.asset_id and w.user_id = uid)
          and not exists (select 1 from user_library l where l.id = asset_lineage.asset_id and l.user_id = uid) then
        raise exception using errcode = 'PT404', message = 'asset not found';
    end if;
    with recursive up (parent_id, child_id, relationship_type, depth) as (
        select r.parent_asset_id, r.child_asset_id, r.relationship_type, 1
        from asset_relationships r
        where r.child_asset_id = asset_lineage.asset_id and r.user_id = uid
        union
        select r.parent_asset_id, r.child_asset_id, r.relationship_type, up.depth + 1
        from up join asset_relationships r on r.child_asset_id = up.parent_id and r.user_id = uid
        where up.depth < deepest
    ),
    down (parent_id, child_id, relationship_type, depth) as (
        select r.parent_asset_id, r.child_asset_id, r.relationship_type, 1
        from asset_relationships r
        where r.parent_asset_id = asset_lineage.asset_id and r.user_id = uid
        union
        select r.parent_asset_id, r.child_asset_id, r.relationship_type, down.depth + 1
        from down join asset_relationships r on r.parent_asset_id = down.child_id and r.user_id = uid
        where down.depth < deepest
    ),
    ancestors as (
        select parent_id, child_id, relationship_type, min(depth) as depth from up group by 1, 2, 3
    ),
    descendants as (
        select parent_id, child_id, relationship_type, min(depth) as depth from down group by 1, 2, 3
    ),
    named as (
        select asset_lineage.asset_id as id
        union select parent_id from ancestors
        union select child_id from descendants
    ),
    assets as (
        select w.id, jsonb_build_object(
                   'id', w.id, 'location', 'workspace', 'asset_type', w.asset_type,
                   'storage_path', w.temp_storage_path, 'thumbnail_path', w.thumbnail_path,
                   'original_prompt', w.original_prompt, 'custom_title', null, 'model_used', w.model_used,
                   'generation_seed', w.generation_seed, 'created_at', w.created_at) as asset
        from workspace_assets w join named n on n.id = w.id
        where w.user_id = uid
        union all
        select l.id, jsonb_build_object(
                   'id', l.id, 'location', 'library', 'asset_type', l.asset_type,
                   'storage_path', l.storage_path, 'thumbnail_path', l.thumbnail_path,
                   'original_prompt', l.original_prompt, 'custom_title', l.custom_title, 'model_used', l.model_used,
                   'generation_seed', l.generation_seed, 'created_at', l.created_at)
        from user_library l join named n on n.id = l.id
        where l.user_id = uid
    )
    select jsonb_build_object(
        'asset_id', asset_lineage.asset_id,
        'ancestors', coalesce((select jsonb_agg(jsonb_build_object('parent_id', a.parent_id, 'child_id', a.child_id,
                                                                   'relationship_type', a.relationship_type,
                                                                   'depth', a.depth)
                                                order by a.depth, a.parent_id, a.relationship_type)
                               from ancestors a), '[]'::jsonb),
        'descendants', coalesce((select jsonb_agg(jsonb_build_object('parent_id', d.parent_id, 'child_id', d.child_id,
                                                                     'relationship_type', d.relationship_type,
                                                                     'depth', d.depth)
                                                  order by d.depth, d.child_id, d.relationship_type)
                                 from descendants d), '[]'::jsonb),
        'assets', coalesce((select jsonb_agg(a.asset order by a.asset ->> 'created_at', a.id) from assets a), '[]'::jsonb))
    into result;
    return result;
end;
$$;

revoke execute on function ourvidz_private.record_job_source(uuid, uuid, text),
    ourvidz_private.record_job_references(), ourvidz_private.forget_finished_job_sources(),
    ourvidz_private.link_new_assets(), ourvidz_private.forget_deleted_assets(),
    ourvidz_private.carry_lineage(uuid, uuid), asset_lineage(uuid)
    from public, anon;
grant execute on function ourvidz_private.record_job_source(uuid, uuid, text),
    ourvidz_private.carry_lineage(uuid, uuid), asset_lineage(uuid)
    to authenticated, service_role;
