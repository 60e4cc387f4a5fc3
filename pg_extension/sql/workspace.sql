-- The workspace API: list, save to library, dismiss and restore, discard,
-- clear, delete.
--
-- Seed 002's two-level deletion: *dismiss* hides items from the listing and
-- keeps them (they still expire with the workspace, and *restore* brings them
-- back until then); *clear* dismisses everything; *discard* and *delete*
-- remove rows, and their files through the deletion outbox.
--
-- All are `security invoker`: RLS decides what the caller sees and changes,
-- and a row that is not the caller's is simply not found. The explicit
-- `user_id = uid` filters repeat what RLS enforces so the planner can use the
-- per-user indexes.
--
-- Saving crosses the database/storage boundary, so it is two calls around a
-- Storage copy, ordered so that nothing is ever lost:
--   1. prepare_workspace_save: allocate a fresh library id and destination
--      path per asset and record the destination as a *save intent* in the
--      deletion outbox, due in an hour;
--   2. (edge function) copy workspace-temp → user-library;
--   3. save_workspace_assets: cancel the intent, insert the library row, delete
--      the workspace row (whose temp object the outbox trigger queues).
-- A request that dies after 2 leaves a copy no row owns; its intent comes due
-- and the drainer deletes it. An intent the drainer has claimed can no longer
-- be cancelled, so step 3 can never commit a row whose copy is being deleted.

-- The assets a request names: a list of ids, or every asset of one job of the
-- caller (404 when the caller has none there, exactly as for a job that does
-- not exist). Read under RLS.
create function ourvidz_private.requested_assets(asset_ids uuid[], job_id uuid)
returns uuid[]
language plpgsql
stable
set search_path = pg_catalog, public
as $$
declare
    found_ids uuid[];
begin
    if (asset_ids is null) = (job_id is null) then
        raise exception using errcode = 'PT400', message = 'give exactly one of asset_ids and job_id';
    end if;
    if asset_ids is not null then
        return ourvidz_private.require_ids(asset_ids, 'asset_ids');
    end if;
    found_ids := array(select w.id from workspace_assets w
                       where w.job_id = requested_assets.job_id and w.user_id = auth.uid()
                       order by w.asset_index);
    if cardinality(found_ids) = 0 then
        raise exception using errcode = 'PT404', message = 'nothing of yours matched';
    end if;
    return found_ids;
end;
$$;

-- Record (or cancel) save intents for the caller's own destination paths.
create function ourvidz_private.record_save_intents(paths text[])
returns void
language sql
security definer
set search_path = pg_catalog, public
as $$
    insert into storage_deletion_outbox (bucket_id, object_name, user_id, reason, not_before)
    select 'user-library', p, auth.uid(), 'save_intent', now() + interval '1 hour'
    from unnest(paths) p
    where storage_path_is_owned(p, auth.uid())
    on conflict (bucket_id, object_name) do nothing
$$;

-- True when every given intent was still pending and is now cancelled.
create function ourvidz_private.cancel_save_intents(paths text[])
returns boolean
language sql
security definer
set search_path = pg_catalog, public
as $$
    with wanted as (
        select distinct p from unnest(paths) p where p is not null
    ),
    cancelled as (
        delete from storage_deletion_outbox o
        using wanted
        where o.bucket_id = 'user-library'
          and o.object_name = wanted.p
          and o.reason = 'save_intent'
          and o.user_id = auth.uid()
          and o.claimed_until is null
        returning 1
    )
    select (select count(*) from cancelled) = (select count(*) from wanted)
$$;

create function ourvidz_private.asset_json(w workspace_assets)
returns jsonb
language sql
stable
as $$
    select jsonb_build_object(
        'id', w.id, 'asset_index', w.asset_index, 'asset_type', w.asset_type,
        'temp_storage_path', w.temp_storage_path, 'thumbnail_path', w.thumbnail_path,
        'mime_type', w.mime_type, 'file_size_bytes', w.file_size_bytes,
        'width', w.width, 'height', w.height, 'duration_seconds', w.duration_seconds,
        'generation_seed', w.generation_seed, 'model_used', w.model_used,
        'original_prompt', w.original_prompt, 'generation_settings', w.generation_settings,
        'created_at', w.created_at, 'expires_at', w.expires_at, 'dismissed_at', w.dismissed_at)
$$;

-- Is a workspace asset on the listing? Live (not expired), not dismissed
-- unless asked, and through every filter given (a NULL filter passes all).
-- Inlined into list_workspace.
create function ourvidz_private.workspace_asset_listed(
    w workspace_assets, include_dismissed boolean, asset_type text, model text,
    created_after timestamptz, created_before timestamptz, search text, words tsquery, pattern text, match text)
returns boolean
language sql
stable
as $$
    select w.expires_at > now()
       and (workspace_asset_listed.include_dismissed or w.dismissed_at is null)
       and (workspace_asset_listed.asset_type is null or w.asset_type = workspace_asset_listed.asset_type)
       and (workspace_asset_listed.model is null or w.model_used = workspace_asset_listed.model)
       and (workspace_asset_listed.created_after is null or w.created_at >= workspace_asset_listed.created_after)
       and (workspace_asset_listed.created_before is null or w.created_at < workspace_asset_listed.created_before)
       and (workspace_asset_listed.search is null or ourvidz_private.text_matches(
                to_tsvector('english', w.original_prompt), w.original_prompt,
                workspace_asset_listed.search, workspace_asset_listed.words, workspace_asset_listed.pattern,
                workspace_asset_listed.match))
$$;

-- list_workspace ---------------------------------------------------------------------
-- page_size: 1 to 100, 20 when not given (or NULL). The filters are the
-- library's (list_library) that a workspace item has: search (in the same
-- stages, search.sql), asset type, model, created range; dismissed items only
-- with include_dismissed.
create function list_workspace(
    page_size integer default null,
    before jsonb default null,
    search text default null,
    asset_type text default null,
    model text default null,
    created_after timestamptz default null,
    created_before timestamptz default null,
    include_dismissed boolean default false
)
returns jsonb
language plpgsql
stable
set search_path = pg_catalog, public, extensions
-- plan with the actual filters, so an unused one folds away (search.sql)
set plan_cache_mode = force_custom_plan
-- a search of stop words only is no error, just no full-text part
set client_min_messages = warning
-- fuzzy matching: a word at least this similar (search.sql; list_library too)
set pg_trgm.word_similarity_threshold = 0.5
as $$
declare
    uid uuid := ourvidz_private.require_user();
    wanted text := ourvidz_private.checked_search(search);
    words tsquery := ourvidz_private.search_words(wanted);
    pattern text := ourvidz_private.search_pattern(wanted);
    dismissed_too boolean := coalesce(include_dismissed, false);
    match text;
    before_at timestamptz;
    before_job uuid;
    result jsonb;
begin
    page_size := coalesce(page_size, 20);
    perform ourvidz_private.require_between(page_size, 'page_size', 1, 100);
    perform ourvidz_private.json_enum(jsonb_build_object('asset_type', list_workspace.asset_type), 'asset_type',
                                      '{image,video}');
    -- A JSON null cursor (the "next" of the last page) means the first page.
    -- Otherwise only what a "next" holds: an ISO 8601 timestamp (not one of
    -- Postgres' special inputs such as 'now' or 'epoch'), a job id, and for
    -- a search the stage that matched.
    if before is not null and before <> 'null'::jsonb then
        begin
            if not coalesce(jsonb_typeof(before) = 'object'
                            and before ->> 'created_at' ~ '^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d(:?\d\d)?)?$'
                            and before ->> 'job_id' ~ '^[0-9A-Fa-f-]{36}$'
                            and case when wanted is null then not before ? 'match'
                                     else before ->> 'match' = any (ourvidz_private.search_matches()) end,
                            false) then
                raise invalid_text_representation;
            end if;
            before_at := (before ->> 'created_at')::timestamptz;
            before_job := (before ->> 'job_id')::uuid;
            match := before ->> 'match';
        exception when invalid_text_representation or invalid_datetime_format or datetime_field_overflow then
            raise exception using errcode = 'PT400', message = 'before must be the "next" object of a previous page';
        end;
    end if;

    -- A job is listed with its listed assets; a job still queued, processing,
    -- or failed is listed without any (unless dismissed), when it passes the
    -- filters itself: its mode, model, creation time and prompt. A search's
    -- stages are tried in turn until one lists something (the first page
    -- decides; a cursor names its stage).
    foreach match in array case when wanted is null then array[null::text]
                                when match is not null then array[match]
                                else ourvidz_private.search_matches() end loop
        with candidates as (
            select j.id, j.job_type, j.status, j.prompt, j.error, j.created_at, j.dismissed_at
            from jobs j
            where j.user_id = uid
              and (before_at is null or (j.created_at, j.id) < (before_at, before_job))
              and (exists (select 1 from workspace_assets w
                           where w.user_id = uid and w.job_id = j.id
                             and ourvidz_private.workspace_asset_listed(w, dismissed_too, list_workspace.asset_type,
                                 list_workspace.model, list_workspace.created_after, list_workspace.created_before,
                                 wanted, words, pattern, match))
                   or (j.status in ('queued', 'processing', 'failed')
                       and (dismissed_too or j.dismissed_at is null)
                       and (list_workspace.asset_type is null or j.mode = list_workspace.asset_type)
                       and (list_workspace.model is null or j.model = list_workspace.model)
                       and (list_workspace.created_after is null or j.created_at >= list_workspace.created_after)
                       and (list_workspace.created_before is null or j.created_at < list_workspace.created_before)
                       and (wanted is null or ourvidz_private.text_matches(
                                to_tsvector('english', j.prompt), j.prompt, wanted, words, pattern, match))))
            order by j.created_at desc, j.id desc
            limit page_size + 1
        ),
        page as (
            select c.*, row_number() over (order by c.created_at desc, c.id desc) as position
            from candidates c
        )
        select jsonb_build_object(
            'jobs', coalesce(jsonb_agg(
                jsonb_build_object(
                    'job_id', p.id, 'job_type', p.job_type, 'status', p.status, 'prompt', p.prompt,
                    'error', p.error, 'created_at', p.created_at, 'dismissed_at', p.dismissed_at,
                    'assets', coalesce((select jsonb_agg(ourvidz_private.asset_json(w) order by w.asset_index)
                                        from workspace_assets w
                                        where w.user_id = uid and w.job_id = p.id
                                          and ourvidz_private.workspace_asset_listed(w, dismissed_too, list_workspace.asset_type,
                                                  list_workspace.model, list_workspace.created_after,
                                                  list_workspace.created_before, wanted, words, pattern, match)),
                                       '[]'::jsonb))
                order by p.position) filter (where p.position <= page_size), '[]'::jsonb),
            'next', (select jsonb_strip_nulls(jsonb_build_object('created_at', l.created_at, 'job_id', l.id,
                                                                 'match', match))
                     from page l
                     where l.position = page_size
                       and exists (select 1 from page x where x.position > page_size)),
            'match', match)
        into result
        from page p;
        exit when result -> 'jobs' <> '[]'::jsonb;
    end loop;
    return result;
end;
$$;

-- prepare_workspace_save --------------------------------------------------------------
-- A collection that is not the caller's, and a title or tags step 3 would
-- refuse, are refused here, before anything is copied.
create function prepare_workspace_save(
    asset_ids uuid[] default null,
    job_id uuid default null,
    collection_id uuid default null,
    custom_title text default null,
    tags text[] default null
)
returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
    uid uuid := ourvidz_private.require_user();
    wanted uuid;
    asset workspace_assets;
    saved user_library;
    library_id uuid;
    destination text;
    thumbnail_destination text;
    items jsonb := '[]'::jsonb;
    failed jsonb := '[]'::jsonb;
begin
    perform ourvidz_private.checked_labels(custom_title, tags);
    if prepare_workspace_save.collection_id is not null and not exists (
        select 1 from user_collections c where c.id = prepare_workspace_save.collection_id and c.user_id = uid
    ) then
        raise exception using errcode = 'PT404', message = 'collection not found';
    end if;
    foreach wanted in array ourvidz_private.requested_assets(asset_ids, job_id) loop
        select * into asset from workspace_assets w where w.id = wanted and w.user_id = uid;
        if not found then
            select * into saved from user_library l where l.user_id = uid and l.source_asset_id = wanted;
            if found then
                items := items || jsonb_build_object('asset_id', wanted, 'library_id', saved.id, 'already_saved', true,
                                                     'item', ourvidz_private.library_item_json(saved));
            else
                failed := failed || jsonb_build_object('id', wanted, 'error', 'not_found');
            end if;
            continue;
        end if;
        library_id := gen_random_uuid();
        destination := format('%s/%s.%s', uid, library_id,
            case asset.mime_type when 'image/jpeg' then 'jpg' when 'image/png' then 'png'
                                 when 'image/webp' then 'webp' else 'mp4' end);
        thumbnail_destination := case when asset.thumbnail_path is not null then
            format('%s/thumbnails/%s.%s', uid, library_id,
                   coalesce(substring(lower(asset.thumbnail_path) from '\.([a-z0-9]{1,5})$'), 'jpg'))
        end;
        perform ourvidz_private.record_save_intents(array[destination, thumbnail_destination]);
        items := items || jsonb_build_object(
            'asset_id', asset.id, 'library_id', library_id,
            'source_path', asset.temp_storage_path, 'destination_path', destination,
            'source_thumbnail_path', asset.thumbnail_path,
            'destination_thumbnail_path', thumbnail_destination);
    end loop;
    return jsonb_build_object('items', items, 'failed', failed);
end;
$$;

-- save_workspace_assets ---------------------------------------------------------------
create function save_workspace_assets(
    items jsonb,
    collection_id uuid default null,
    custom_title text default null,
    tags text[] default null
)
returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
    uid uuid := ourvidz_private.require_user();
    given_tags text[] := ourvidz_private.checked_labels(custom_title, tags);
    item jsonb;
    wanted uuid;
    library_id uuid;
    destination text;
    thumbnail_destination text;
    asset workspace_assets;
    item_row user_library;
    saved jsonb := '[]'::jsonb;
    failed jsonb := '[]'::jsonb;
begin
    if jsonb_typeof(items) is distinct from 'array' then
        raise exception using errcode = 'PT400', message = 'items must be an array of prepared items';
    end if;
    perform ourvidz_private.require_between(jsonb_array_length(items), 'the number of items', 1, 100);
    if save_workspace_assets.collection_id is not null and not exists (
        select 1 from user_collections c where c.id = save_workspace_assets.collection_id and c.user_id = uid
    ) then
        raise exception using errcode = 'PT404', message = 'collection not found';
    end if;

    for item in select value from jsonb_array_elements(items) loop
        perform ourvidz_private.reject_unknown_fields(item, array['asset_id', 'library_id', 'source_path',
            'destination_path', 'source_thumbnail_path', 'destination_thumbnail_path', 'already_saved']);
        begin
            wanted := (item ->> 'asset_id')::uuid;
            library_id := (item ->> 'library_id')::uuid;
        exception when invalid_text_representation then
            raise exception using errcode = 'PT400', message = 'asset_id and library_id must be uuids';
        end;
        if wanted is null or library_id is null then
            raise exception using errcode = 'PT400', message = 'each item needs asset_id and library_id';
        end if;
        destination := item ->> 'destination_path';
        thumbnail_destination := item ->> 'destination_thumbnail_path';

        -- Saved already (a retry after a lost answer): report the first save.
        select * into item_row from user_library l where l.user_id = uid and l.source_asset_id = wanted;
        if found then
            saved := saved || jsonb_build_object('asset_id', wanted, 'library_id', item_row.id,
                                                 'item', ourvidz_private.library_item_json(item_row));
            continue;
        end if;

        select * into asset from workspace_assets w where w.id = wanted and w.user_id = uid for update;
        if not found then
            failed := failed || jsonb_build_object('id', wanted, 'error', 'not_found');
            continue;
        end if;
        if destination is null or (asset.thumbnail_path is not null) <> (thumbnail_destination is not null) then
            failed := failed || jsonb_build_object('id', wanted, 'error', 'invalid_request');
            continue;
        end if;

        begin
            if not ourvidz_private.cancel_save_intents(array[destination, thumbnail_destination]) then
                -- no pending intent: this copy was never prepared, or the
                -- drainer already owns it; prepare and copy again
                failed := failed || jsonb_build_object('id', wanted, 'error', 'conflict');
                continue;
            end if;
            insert into user_library (
                id, user_id, asset_type, storage_path, file_size_bytes, mime_type, duration_seconds,
                original_prompt, model_used, generation_seed, collection_id, custom_title, tags,
                generation_settings, job_id, source_asset_id, width, height, thumbnail_path)
            values (
                library_id, uid, asset.asset_type, destination, asset.file_size_bytes, asset.mime_type,
                asset.duration_seconds, asset.original_prompt, asset.model_used, asset.generation_seed,
                save_workspace_assets.collection_id, ourvidz_private.checked_title(save_workspace_assets.custom_title),
                coalesce(given_tags, '{}'), coalesce(asset.generation_settings, '{}'),
                asset.job_id, asset.id, asset.width, asset.height, thumbnail_destination)
            returning * into item_row;
            perform ourvidz_private.carry_lineage(asset.id, library_id);
            delete from workspace_assets w where w.id = asset.id;
            saved := saved || jsonb_build_object('asset_id', wanted, 'library_id', library_id,
                                                 'item', ourvidz_private.library_item_json(item_row));
        exception
            when unique_violation then
                failed := failed || jsonb_build_object('id', wanted, 'error', 'conflict');
            when check_violation then
                failed := failed || jsonb_build_object('id', wanted, 'error', 'invalid_request');
        end;
    end loop;
    return jsonb_build_object('saved', saved, 'failed', failed);
end;
$$;

-- discard_workspace_assets / clear_workspace -------------------------------------------
create function discard_workspace_assets(asset_ids uuid[] default null, job_id uuid default null)
returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
    uid uuid := ourvidz_private.require_user();
    wanted uuid[] := ourvidz_private.requested_assets(asset_ids, job_id);
    gone uuid[];
begin
    with deleted as (
        delete from workspace_assets w where w.id = any (wanted) and w.user_id = uid returning w.id
    )
    select coalesce(array_agg(id), '{}') into gone from deleted;
    return ourvidz_private.batch_answer('discarded', wanted, gone);
end;
$$;

-- dismiss_workspace_items / restore_workspace_items / clear_workspace -------------------
-- Dismiss the listed assets, or a whole job: its live assets and the job
-- itself (which hides a failed job, or one still running, until new assets
-- arrive). Restore undoes either. Both answer per item; an asset that is not
-- the caller's, or no longer live, is not_found; a job that is not the
-- caller's is PT404.
create function ourvidz_private.set_dismissed(asset_ids uuid[], job_id uuid, dismiss boolean, done_key text)
returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
    uid uuid := ourvidz_private.require_user();
    wanted uuid[];
    changed uuid[];
    jobs_changed jsonb := '[]'::jsonb;
begin
    if (asset_ids is null) = (job_id is null) then
        raise exception using errcode = 'PT400', message = 'give exactly one of asset_ids and job_id';
    end if;
    if job_id is not null then
        update jobs j set dismissed_at = case when dismiss then coalesce(j.dismissed_at, now()) end
        where j.id = set_dismissed.job_id and j.user_id = uid;
        if not found then
            raise exception using errcode = 'PT404', message = 'nothing of yours matched';
        end if;
        jobs_changed := jsonb_build_array(job_id);
        wanted := array(select w.id from workspace_assets w
                        where w.job_id = set_dismissed.job_id and w.user_id = uid and w.expires_at > now()
                        order by w.asset_index);
    else
        wanted := ourvidz_private.require_ids(asset_ids, 'asset_ids');
    end if;
    with updated as (
        update workspace_assets w
        set dismissed_at = case when dismiss then coalesce(w.dismissed_at, now()) end
        where w.id = any (wanted) and w.user_id = uid and w.expires_at > now()
        returning w.id
    )
    select coalesce(array_agg(id), '{}') into changed from updated;
    return ourvidz_private.batch_answer(done_key, wanted, changed) || jsonb_build_object('jobs', jobs_changed);
end;
$$;

create function dismiss_workspace_items(asset_ids uuid[] default null, job_id uuid default null)
returns jsonb
language sql
set search_path = pg_catalog, public
as $$ select ourvidz_private.set_dismissed(asset_ids, job_id, true, 'dismissed') $$;

create function restore_workspace_items(asset_ids uuid[] default null, job_id uuid default null)
returns jsonb
language sql
set search_path = pg_catalog, public
as $$ select ourvidz_private.set_dismissed(asset_ids, job_id, false, 'restored') $$;

-- Dismisses every live asset of the caller and their failed jobs — nothing
-- is deleted, and restore_workspace_items brings any of it back until it
-- expires. Jobs still queued or processing stay.
create function clear_workspace()
returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
    uid uuid := ourvidz_private.require_user();
    assets jsonb;
    failed_jobs jsonb;
begin
    with updated as (
        update workspace_assets w set dismissed_at = now()
        where w.user_id = uid and w.dismissed_at is null and w.expires_at > now()
        returning w.id, w.created_at, w.job_id, w.asset_index
    )
    select coalesce(jsonb_agg(id order by created_at desc, job_id, asset_index), '[]'::jsonb) into assets from updated;
    with updated as (
        update jobs j set dismissed_at = now()
        where j.user_id = uid and j.status = 'failed' and j.dismissed_at is null
        returning j.id, j.created_at
    )
    select coalesce(jsonb_agg(id order by created_at desc, id), '[]'::jsonb) into failed_jobs from updated;
    return jsonb_build_object('dismissed', assets, 'jobs', failed_jobs, 'failed', '[]'::jsonb);
end;
$$;

-- delete_workspace_items ------------------------------------------------------------------
-- One asset, or a whole job: its assets and the job itself. Deleting a job a
-- worker is still rendering cancels it: the worker's heartbeat and callback get
-- 404, and whatever it uploads is queued for deletion.
create function delete_workspace_items(asset_id uuid default null, job_id uuid default null)
returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
    uid uuid := ourvidz_private.require_user();
    gone jsonb;
    job_deleted boolean;
begin
    if (asset_id is null) = (job_id is null) then
        raise exception using errcode = 'PT400', message = 'give exactly one of asset_id and job_id';
    end if;
    if asset_id is not null then
        with deleted as (
            delete from workspace_assets w
            where w.id = delete_workspace_items.asset_id and w.user_id = uid
            returning w.id
        )
        select coalesce(jsonb_agg(id), '[]'::jsonb) into gone from deleted;
        job_deleted := false;
    else
        with deleted as (
            delete from workspace_assets w
            where w.job_id = delete_workspace_items.job_id and w.user_id = uid
            returning w.id, w.asset_index
        )
        select coalesce(jsonb_agg(id order by asset_index), '[]'::jsonb) into gone from deleted;
        delete from jobs j where j.id = delete_workspace_items.job_id and j.user_id = uid;
        job_deleted := found;
    end if;
    if gone = '[]'::jsonb and not job_deleted then
        raise exception using errcode = 'PT404', message = 'nothing of yours matched';
    end if;
    return jsonb_build_object('deleted', gone);
end;
$$;

revoke execute on function
    list_workspace(integer, jsonb, text, text, text, timestamptz, timestamptz, boolean),
    prepare_workspace_save(uuid[], uuid, uuid, text, text[]),
    save_workspace_assets(jsonb, uuid, text, text[]), discard_workspace_assets(uuid[], uuid),
    dismiss_workspace_items(uuid[], uuid), restore_workspace_items(uuid[], uuid),
    clear_workspace(), delete_workspace_items(uuid, uuid)
    from public, anon;
grant execute on function
    list_workspace(integer, jsonb, text, text, text, timestamptz, timestamptz, boolean),
    prepare_workspace_save(uuid[], uuid, uuid, text, text[]),
    save_workspace_assets(jsonb, uuid, text, text[]), discard_workspace_assets(uuid[], uuid),
    dismiss_workspace_items(uuid[], uuid), restore_workspace_items(uuid[], uuid),
    clear_workspace(), delete_workspace_items(uuid, uuid)
    to authenticated, service_role;
revoke execute on function ourvidz_private.requested_assets(uuid[], uuid),
    ourvidz_private.record_save_intents(text[]), ourvidz_private.cancel_save_intents(text[]),
    ourvidz_private.asset_json(workspace_assets),
    ourvidz_private.workspace_asset_listed(workspace_assets, boolean, text, text, timestamptz, timestamptz,
                                           text, tsquery, text, text),
    ourvidz_private.set_dismissed(uuid[], uuid, boolean, text)
    from public;
grant execute on function ourvidz_private.requested_assets(uuid[], uuid),
    ourvidz_private.record_save_intents(text[]), ourvidz_private.cancel_save_intents(text[]),
    ourvidz_private.asset_json(workspace_assets),
    ourvidz_private.workspace_asset_listed(workspace_assets, boolean, text, text, timestamptz, timestamptz,
                                           text, tsquery, text, text),
    ourvidz_private.set_dismissed(uuid[], uuid, boolean, text)
    to authenticated, service_role;
