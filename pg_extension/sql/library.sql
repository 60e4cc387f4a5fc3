-- The library API: list and search, organise in batches, collections,
-- statistics.
--
-- Like the workspace API, every function is `security invoker`: RLS decides,
-- and an id that is not the caller's is not found. Batch calls take at most
-- max_batch_ids() ids and answer per item. Deleting library items (or a
-- collection with its items) deletes rows only: the outbox trigger queues
-- their files for the drainer, and the lineage trigger takes their edges.

-- An item as the library shows it (list_library, save_workspace_assets).
create function ourvidz_private.library_item_json(l user_library)
returns jsonb
language sql
stable
as $$
    select jsonb_build_object(
        'id', l.id, 'asset_type', l.asset_type, 'storage_path', l.storage_path,
        'thumbnail_path', l.thumbnail_path, 'mime_type', l.mime_type, 'file_size_bytes', l.file_size_bytes,
        'width', l.width, 'height', l.height, 'duration_seconds', l.duration_seconds,
        'original_prompt', l.original_prompt, 'model_used', l.model_used, 'generation_seed', l.generation_seed,
        'generation_settings', l.generation_settings, 'collection_id', l.collection_id,
        'custom_title', l.custom_title, 'tags', to_jsonb(l.tags), 'is_favorite', l.is_favorite,
        'visibility', l.visibility, 'job_id', l.job_id, 'created_at', l.created_at, 'updated_at', l.updated_at)
$$;

create function ourvidz_private.collection_json(c user_collections)
returns jsonb
language sql
stable
as $$
    select jsonb_build_object('id', c.id, 'name', c.name, 'description', c.description,
                              'asset_count', c.asset_count, 'created_at', c.created_at)
$$;

-- The caller's collection, locked against deletion (FOR KEY SHARE) until the
-- transaction ends, so items are never moved into a collection being deleted;
-- or PT404.
create function ourvidz_private.require_collection(collection_id uuid)
returns uuid
language plpgsql
set search_path = pg_catalog, public
as $$
begin
    perform 1 from user_collections c
    where c.id = require_collection.collection_id and c.user_id = auth.uid()
    for key share;
    if not found then
        raise exception using errcode = 'PT404', message = 'collection not found';
    end if;
    return collection_id;
end;
$$;

-- Library totals ---------------------------------------------------------------------
-- Add items and bytes to library_totals, one delta per row in parallel arrays;
-- summed per key and applied in key order, so two transactions of one user
-- never lock the same rows in opposite orders. A user being deleted gets no
-- totals (their rows cascade away). Rows that come down to nothing go.
create function ourvidz_private.add_library_totals(owners uuid[], collections uuid[], kinds text[],
                                                   counts bigint[], sizes bigint[])
returns void
language sql
security definer
set search_path = pg_catalog, public
as $$
    insert into library_totals as t (user_id, collection_id, asset_type, items, bytes)
    select d.user_id, d.collection_id, d.asset_type, sum(d.items), sum(d.bytes)
    from unnest(owners, collections, kinds, counts, sizes) as d (user_id, collection_id, asset_type, items, bytes)
    where exists (select 1 from auth.users u where u.id = d.user_id)
    group by 1, 2, 3
    having sum(d.items) <> 0 or sum(d.bytes) <> 0
    order by 1, 2, 3
    on conflict on constraint library_totals_key do update
        set items = t.items + excluded.items, bytes = t.bytes + excluded.bytes;
    delete from library_totals t
    where t.items = 0 and t.bytes = 0 and t.user_id = any (owners);
$$;

-- Statement triggers: one update of the totals per statement, however many
-- rows it touched. An update counts only when it moves an item (collection)
-- or changes what it weighs.
create function ourvidz_private.count_library_totals()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
declare
    owners uuid[];
    collections uuid[];
    kinds text[];
    counts bigint[];
    sizes bigint[];
begin
    if tg_op = 'INSERT' then
        select array_agg(user_id), array_agg(collection_id), array_agg(asset_type), array_agg(1::bigint),
               array_agg(file_size_bytes)
        into owners, collections, kinds, counts, sizes
        from added;
    elsif tg_op = 'DELETE' then
        select array_agg(user_id), array_agg(collection_id), array_agg(asset_type), array_agg(-1::bigint),
               array_agg(-file_size_bytes)
        into owners, collections, kinds, counts, sizes
        from removed;
    else
        select array_agg(d.user_id), array_agg(d.collection_id), array_agg(d.asset_type), array_agg(d.items),
               array_agg(d.bytes)
        into owners, collections, kinds, counts, sizes
        from removed r join added a on a.id = r.id
        cross join lateral (values (r.user_id, r.collection_id, r.asset_type, -1::bigint, -r.file_size_bytes),
                                   (a.user_id, a.collection_id, a.asset_type, 1::bigint, a.file_size_bytes))
            as d (user_id, collection_id, asset_type, items, bytes)
        where (r.user_id, r.collection_id, r.asset_type, r.file_size_bytes)
              is distinct from (a.user_id, a.collection_id, a.asset_type, a.file_size_bytes);
    end if;
    if owners is not null then
        perform ourvidz_private.add_library_totals(owners, collections, kinds, counts, sizes);
    end if;
    return null;
end;
$$;

create trigger user_library_count_totals_on_insert
    after insert on user_library
    referencing new table as added
    for each statement execute function ourvidz_private.count_library_totals();

create trigger user_library_count_totals_on_delete
    after delete on user_library
    referencing old table as removed
    for each statement execute function ourvidz_private.count_library_totals();

create trigger user_library_count_totals_on_update
    after update on user_library
    referencing old table as removed new table as added
    for each statement execute function ourvidz_private.count_library_totals();

-- Recompute the totals from the rows, for every user or one; returns how many
-- totals were wrong. For operators (service_role): the triggers keep them
-- exact, but a restore, a disabled trigger or a bulk load bypasses them.
create function repair_library_totals(user_id uuid default null)
returns integer
language sql
security definer
set search_path = pg_catalog, public
as $$
    with actual as (
        select l.user_id, l.collection_id, l.asset_type, count(*) as items, sum(l.file_size_bytes) as bytes
        from user_library l
        where repair_library_totals.user_id is null or l.user_id = repair_library_totals.user_id
        group by 1, 2, 3
    ),
    fixed as (
        insert into library_totals as t (user_id, collection_id, asset_type, items, bytes)
        select a.user_id, a.collection_id, a.asset_type, a.items, a.bytes from actual a
        on conflict on constraint library_totals_key do update
            set items = excluded.items, bytes = excluded.bytes
            where (t.items, t.bytes) is distinct from (excluded.items, excluded.bytes)
        returning 1
    ),
    dropped as (
        delete from library_totals t
        where (repair_library_totals.user_id is null or t.user_id = repair_library_totals.user_id)
          and not exists (select 1 from actual a
                          where (a.user_id, a.collection_id, a.asset_type)
                                is not distinct from (t.user_id, t.collection_id, t.asset_type))
        returning 1
    )
    select ((select count(*) from fixed) + (select count(*) from dropped))::integer
$$;

-- list_library -----------------------------------------------------------------------
-- The caller's items passing every filter given (a NULL filter passes all).
-- An inlined SQL function: library_page adds the order, the cursor and the
-- limit, and the planner picks the index that serves the whole query.
create function ourvidz_private.library_items(
    uid uuid, collection_id uuid, in_collection boolean, asset_type text, model text,
    is_favorite boolean, visibility text, tags_all text[], tags_any text[],
    created_after timestamptz, created_before timestamptz, search text, words tsquery, pattern text, match text)
returns setof user_library
language sql
stable
as $$
    select l.*
    from user_library l
    where l.user_id = library_items.uid
      and (library_items.collection_id is null or l.collection_id = library_items.collection_id)
      and (library_items.in_collection is null or (l.collection_id is not null) = library_items.in_collection)
      and (library_items.asset_type is null or l.asset_type = library_items.asset_type)
      and (library_items.model is null or l.model_used = library_items.model)
      and (library_items.is_favorite is null or l.is_favorite = library_items.is_favorite)
      and (library_items.visibility is null or l.visibility = library_items.visibility)
      and (library_items.tags_all is null or l.tags @> library_items.tags_all)
      and (library_items.tags_any is null or l.tags && library_items.tags_any)
      and (library_items.created_after is null or l.created_at >= library_items.created_after)
      and (library_items.created_before is null or l.created_at < library_items.created_before)
      and (library_items.search is null or ourvidz_private.text_matches(
               l.search_document, ourvidz_private.library_text(l.custom_title, l.original_prompt),
               library_items.search, library_items.words, library_items.pattern, library_items.match))
$$;

-- The ids of one page of the caller's items, in order (and the rank, for
-- relevance). `security definer`, reading only rows of auth.uid(): under RLS
-- Postgres may not evaluate a condition that is not leakproof — text search,
-- ILIKE, pg_trgm's operators, array containment — before the policy's, so it
-- could not use the GIN indexes and would test every one of the user's rows
-- instead. list_library reads the rows themselves as the caller, under RLS.
create function ourvidz_private.library_page(
    collection_id uuid, in_collection boolean, asset_type text, model text, is_favorite boolean,
    visibility text, tags_all text[], tags_any text[], created_after timestamptz, created_before timestamptz,
    search text, match text, sort text, after_rank double precision, after_at timestamptz, after_id uuid,
    page_size integer)
returns table (item_id uuid, item_rank double precision, item_created_at timestamptz)
language plpgsql
stable
-- a page: at most 101 rows (so the caller's join reads them by primary key)
rows 101
security definer
set search_path = pg_catalog, public, extensions
-- plan with the actual filters, so an unused one folds away (search.sql)
set plan_cache_mode = force_custom_plan
-- a search of stop words only is no error, just no full-text part
set client_min_messages = warning
-- fuzzy matching: a word at least this similar (search.sql; list_workspace too)
set pg_trgm.word_similarity_threshold = 0.5
as $$
declare
    uid uuid := auth.uid();
    words tsquery := ourvidz_private.search_words(search);
    pattern text := ourvidz_private.search_pattern(search);
begin
    if sort = 'newest' then
        return query
        select l.id, null::double precision, l.created_at
        from ourvidz_private.library_items(uid, library_page.collection_id, library_page.in_collection,
                 library_page.asset_type, library_page.model, library_page.is_favorite, library_page.visibility,
                 library_page.tags_all, library_page.tags_any, library_page.created_after,
                 library_page.created_before, library_page.search, words, pattern, library_page.match) l
        where after_at is null or (l.created_at, l.id) < (after_at, after_id)
        order by l.created_at desc, l.id desc
        limit page_size;
    elsif sort = 'oldest' then
        return query
        select l.id, null::double precision, l.created_at
        from ourvidz_private.library_items(uid, library_page.collection_id, library_page.in_collection,
                 library_page.asset_type, library_page.model, library_page.is_favorite, library_page.visibility,
                 library_page.tags_all, library_page.tags_any, library_page.created_after,
                 library_page.created_before, library_page.search, words, pattern, library_page.match) l
        where after_at is null or (l.created_at, l.id) > (after_at, after_id)
        order by l.created_at, l.id
        limit page_size;
    else
        return query
        select r.id, r.rank, r.created_at
        from (select l.id, l.created_at,
                     ourvidz_private.text_rank(l.search_document,
                         ourvidz_private.library_text(l.custom_title, l.original_prompt), library_page.search, words,
                         library_page.match) as rank
              from ourvidz_private.library_items(uid, library_page.collection_id, library_page.in_collection,
                       library_page.asset_type, library_page.model, library_page.is_favorite, library_page.visibility,
                       library_page.tags_all, library_page.tags_any, library_page.created_after,
                       library_page.created_before, library_page.search, words, pattern, library_page.match) l) r
        where after_at is null or (r.rank, r.created_at, r.id) < (after_rank, after_at, after_id)
        order by r.rank desc, r.created_at desc, r.id desc
        limit page_size;
    end if;
end;
$$;

-- A page of the caller's library, keyset-paginated: `sort` "newest" (the
-- default), "oldest", or "relevance" (needs a search; best first, then newest).
-- Pass the answer's `next` back as `after` for the following page. A search
-- is tried in stages (search.sql); the answer says which stage matched
-- (`match`), and its cursor keeps to it.
create function list_library(
    page_size integer default null,
    after jsonb default null,
    search text default null,
    sort text default null,
    collection_id uuid default null,
    in_collection boolean default null,
    asset_type text default null,
    model text default null,
    is_favorite boolean default null,
    visibility text default null,
    tags_all text[] default null,
    tags_any text[] default null,
    created_after timestamptz default null,
    created_before timestamptz default null
)
returns jsonb
language plpgsql
stable
set search_path = pg_catalog, public
-- the rows are read by primary key and user (see below), with the user known
set plan_cache_mode = force_custom_plan
as $$
declare
    uid uuid := ourvidz_private.require_user();
    wanted text := ourvidz_private.checked_search(search);
    order_by text := coalesce(sort, 'newest');
    all_tags text[] := ourvidz_private.checked_tags(tags_all, 'tags_all');
    any_tags text[] := ourvidz_private.checked_tags(tags_any, 'tags_any');
    after_rank double precision;
    after_at timestamptz;
    after_id uuid;
    match text;
    ids uuid[];
    ranks double precision[];
    rows jsonb;
begin
    page_size := coalesce(page_size, 50);
    perform ourvidz_private.require_between(page_size, 'page_size', 1, 100);
    perform ourvidz_private.json_enum(jsonb_build_object('sort', sort), 'sort', '{newest,oldest,relevance}');
    perform ourvidz_private.json_enum(jsonb_build_object('asset_type', asset_type), 'asset_type', '{image,video}');
    perform ourvidz_private.json_enum(jsonb_build_object('visibility', visibility), 'visibility',
                                      '{private,unlisted,public}');
    if order_by = 'relevance' and wanted is null then
        raise exception using errcode = 'PT400', message = 'sort "relevance" needs a search';
    end if;
    if list_library.collection_id is not null then
        if in_collection is false then
            raise exception using errcode = 'PT400', message = 'collection_id and in_collection false contradict';
        end if;
        -- a listing locks nothing: PostgREST runs stable functions read-only
        if not exists (select 1 from user_collections c
                       where c.id = list_library.collection_id and c.user_id = auth.uid()) then
            raise exception using errcode = 'PT404', message = 'collection not found';
        end if;
    end if;
    -- The cursor is what a "next" holds: the sort it belongs to, an ISO 8601
    -- timestamp, an id, for relevance the rank, and for a search the stage
    -- that matched. A JSON null is the first page.
    if after is not null and after <> 'null'::jsonb then
        begin
            if not coalesce(jsonb_typeof(after) = 'object'
                            and after ->> 'sort' = order_by
                            and after ->> 'created_at' ~ '^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d(:?\d\d)?)?$'
                            and after ->> 'id' ~ '^[0-9A-Fa-f-]{36}$'
                            and (order_by <> 'relevance' or jsonb_typeof(after -> 'rank') = 'number')
                            and case when wanted is null then not after ? 'match'
                                     else after ->> 'match' = any (ourvidz_private.search_matches()) end,
                            false) then
                raise invalid_text_representation;
            end if;
            after_at := (after ->> 'created_at')::timestamptz;
            after_id := (after ->> 'id')::uuid;
            after_rank := (after ->> 'rank')::double precision;
            match := after ->> 'match';
        exception when invalid_text_representation or invalid_datetime_format or datetime_field_overflow then
            raise exception using errcode = 'PT400',
                message = 'after must be the "next" object of a previous page of the same sort';
        end;
    end if;

    -- page_size + 1 ids: the extra one only says whether a next page exists.
    -- A search's stages are tried in turn until one finds something (the
    -- first page decides; a cursor names its stage).
    foreach match in array case when wanted is null then array[null::text]
                                when match is not null then array[match]
                                else ourvidz_private.search_matches() end loop
        select coalesce(array_agg(p.item_id order by p.n), '{}'), coalesce(array_agg(p.item_rank order by p.n), '{}')
        into ids, ranks
        from ourvidz_private.library_page(list_library.collection_id, in_collection, asset_type, model, is_favorite,
                 visibility, all_tags, any_tags, created_after, created_before, wanted, match, order_by,
                 after_rank, after_at, after_id, page_size + 1)
             with ordinality p (item_id, item_rank, item_created_at, n);
        exit when cardinality(ids) > 0;
    end loop;
    -- The rows themselves are read as the caller, under RLS, by primary key;
    -- the user named too, so the planner needs no index on the policy's side.
    select coalesce(jsonb_agg(jsonb_build_object('item', ourvidz_private.library_item_json(l),
                                                 'rank', ranks[array_position(ids, l.id)],
                                                 'created_at', l.created_at, 'id', l.id)
                              order by array_position(ids, l.id)), '[]'::jsonb)
    into rows
    from user_library l
    where l.id = any (ids) and l.user_id = uid;

    return jsonb_build_object(
        'items', (select coalesce(jsonb_agg(r -> 'item' order by n), '[]'::jsonb)
                  from jsonb_array_elements(rows) with ordinality e (r, n) where n <= page_size),
        'next', case when jsonb_array_length(rows) > page_size then
                    jsonb_strip_nulls(jsonb_build_object('sort', order_by,
                                                         'rank', rows -> (page_size - 1) -> 'rank',
                                                         'created_at', rows -> (page_size - 1) -> 'created_at',
                                                         'id', rows -> (page_size - 1) -> 'id',
                                                         'match', match))
                end,
        'match', match);
end;
$$;

-- update_library_items ----------------------------------------------------------------
-- Changes the listed items of the caller alike; `changes` names what to set:
--   custom_title   a title, or null to clear it
--   tags           the tags (replacing them) — or add_tags / remove_tags
--   is_favorite    true / false
--   visibility     "private" | "unlisted" | "public"
--   collection_id  a collection of the caller's to move them into, or null
--                  to take them out of any
-- Answers {"updated": [ids], "failed": [{"id", "error"}]}: not_found for an id
-- that is not the caller's, invalid_request for an item the change would
-- break (more than max_tags() tags).
create function update_library_items(item_ids uuid[], changes jsonb)
returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
    uid uuid := ourvidz_private.require_user();
    wanted uuid[] := ourvidz_private.require_ids(item_ids, 'item_ids');
    set_title boolean;
    new_title text;
    set_tags boolean;
    new_tags text[];
    added text[];
    removed text[];
    new_favorite boolean;
    new_visibility text;
    set_collection boolean;
    new_collection uuid;
    item uuid;
    updated jsonb := '[]'::jsonb;
    failed jsonb := '[]'::jsonb;
begin
    perform ourvidz_private.reject_unknown_fields(changes,
        array['custom_title', 'tags', 'add_tags', 'remove_tags', 'is_favorite', 'visibility', 'collection_id'], 'changes.');
    if changes = '{}'::jsonb then
        raise exception using errcode = 'PT400', message = 'changes must name at least one field';
    end if;
    set_title := changes ? 'custom_title';
    if set_title then
        new_title := ourvidz_private.json_field(changes, 'custom_title', 'string', 'changes.') #>> '{}';
        if new_title is not null then
            new_title := ourvidz_private.checked_title(new_title);
        end if;
    end if;
    set_tags := changes ? 'tags';
    if set_tags and (changes ? 'add_tags' or changes ? 'remove_tags') then
        raise exception using errcode = 'PT400', message = 'changes.tags replaces the tags: give it without add_tags or remove_tags';
    end if;
    new_tags := ourvidz_private.checked_tags(ourvidz_private.json_string_array(changes, 'tags', 'changes.'), 'changes.tags');
    added := ourvidz_private.checked_tags(ourvidz_private.json_string_array(changes, 'add_tags', 'changes.'), 'changes.add_tags');
    removed := ourvidz_private.checked_tags(ourvidz_private.json_string_array(changes, 'remove_tags', 'changes.'), 'changes.remove_tags');
    if set_tags and new_tags is null then
        new_tags := '{}';
    end if;
    if changes ? 'is_favorite' then
        new_favorite := (ourvidz_private.json_field(changes, 'is_favorite', 'boolean', 'changes.') #>> '{}')::boolean;
        if new_favorite is null then
            raise exception using errcode = 'PT400', message = 'changes.is_favorite must be true or false';
        end if;
    end if;
    if changes ? 'visibility' then
        new_visibility := ourvidz_private.json_enum(changes, 'visibility', '{private,unlisted,public}', 'changes.');
        if new_visibility is null then
            raise exception using errcode = 'PT400', message = 'changes.visibility must be one of "private", "unlisted", "public"';
        end if;
    end if;
    set_collection := changes ? 'collection_id';
    if set_collection then
        begin
            new_collection := (ourvidz_private.json_field(changes, 'collection_id', 'string', 'changes.') #>> '{}')::uuid;
        exception when invalid_text_representation then
            raise exception using errcode = 'PT400', message = 'changes.collection_id must be a uuid or null';
        end;
        if new_collection is not null then
            perform ourvidz_private.require_collection(new_collection);
        end if;
    end if;

    foreach item in array wanted loop
        begin
            update user_library l
            set custom_title = case when set_title then new_title else l.custom_title end,
                tags = case when set_tags then new_tags
                            when added is null and removed is null then l.tags
                            else array(select t from unnest(l.tags || coalesce(added, '{}')) with ordinality u (t, n)
                                       where t <> all (coalesce(removed, '{}'))
                                       group by t order by min(n)) end,
                is_favorite = coalesce(new_favorite, l.is_favorite),
                visibility = coalesce(new_visibility, l.visibility),
                collection_id = case when set_collection then new_collection else l.collection_id end
            where l.id = item and l.user_id = uid;
            if found then
                updated := updated || to_jsonb(item);
            else
                failed := failed || jsonb_build_object('id', item, 'error', 'not_found');
            end if;
        exception when check_violation then
            failed := failed || jsonb_build_object('id', item, 'error', 'invalid_request');
        end;
    end loop;
    return jsonb_build_object('updated', updated, 'failed', failed);
end;
$$;

-- delete_library_items ----------------------------------------------------------------
-- Deletes the listed items of the caller: rows now, files through the outbox.
create function delete_library_items(item_ids uuid[])
returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
    uid uuid := ourvidz_private.require_user();
    wanted uuid[] := ourvidz_private.require_ids(item_ids, 'item_ids');
    gone uuid[];
begin
    with deleted as (
        delete from user_library l where l.id = any (wanted) and l.user_id = uid returning l.id
    )
    select coalesce(array_agg(id), '{}') into gone from deleted;
    return ourvidz_private.batch_answer('deleted', wanted, gone);
end;
$$;

-- Collections ---------------------------------------------------------------------------
-- Names are trimmed, 1 to max_collection_name_chars() characters, unique per
-- user whatever their case (PT409 for a taken one); descriptions at most
-- max_description_chars().

create function create_collection(name text, description text default null)
returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
    uid uuid := ourvidz_private.require_user();
    created user_collections;
begin
    insert into user_collections (user_id, name, description)
    values (uid, ourvidz_private.checked_collection_name(name),
            nullif(ourvidz_private.checked_description(description), ''))
    returning * into created;
    return ourvidz_private.collection_json(created);
exception when unique_violation then
    raise exception using errcode = 'PT409', message = 'you already have a collection with this name';
end;
$$;

-- Rename and/or describe; an empty description clears it.
create function update_collection(collection_id uuid, name text default null, description text default null)
returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
    uid uuid := ourvidz_private.require_user();
    changed user_collections;
begin
    if name is null and description is null then
        raise exception using errcode = 'PT400', message = 'give a name, a description, or both';
    end if;
    update user_collections c
    set name = case when update_collection.name is null then c.name
                    else ourvidz_private.checked_collection_name(update_collection.name) end,
        description = case when update_collection.description is null then c.description
                           else nullif(ourvidz_private.checked_description(update_collection.description), '') end
    where c.id = update_collection.collection_id and c.user_id = uid
    returning * into changed;
    if not found then
        raise exception using errcode = 'PT404', message = 'collection not found';
    end if;
    return ourvidz_private.collection_json(changed);
exception when unique_violation then
    raise exception using errcode = 'PT409', message = 'you already have a collection with this name';
end;
$$;

-- Deletes a collection. Its items are kept, in no collection, unless
-- `delete_items`: then they are deleted with it (files through the outbox).
create function delete_collection(collection_id uuid, delete_items boolean default false)
returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
    uid uuid := ourvidz_private.require_user();
    items_deleted integer := 0;
    items_kept integer;
begin
    -- lock it first: a concurrent move into it waits, then finds it gone
    perform 1 from user_collections c
    where c.id = delete_collection.collection_id and c.user_id = uid
    for update;
    if not found then
        raise exception using errcode = 'PT404', message = 'collection not found';
    end if;
    if coalesce(delete_items, false) then
        delete from user_library l where l.collection_id = delete_collection.collection_id and l.user_id = uid;
        get diagnostics items_deleted = row_count;
    end if;
    select count(*) into items_kept from user_library l
    where l.collection_id = delete_collection.collection_id and l.user_id = uid;
    delete from user_collections c where c.id = delete_collection.collection_id and c.user_id = uid;
    return jsonb_build_object('deleted', collection_id, 'items_deleted', items_deleted, 'items_kept', items_kept);
end;
$$;

-- The newest item of each of the caller's collections. `security definer`,
-- reading only auth.uid()'s collections: under RLS the planner, not knowing
-- the policy's user, takes a large library for a small one and reads covers
-- through the wrong index; list_collections reads the items as the caller.
create function ourvidz_private.collection_covers()
returns table (collection_id uuid, item_id uuid)
language sql
stable
security definer
set search_path = pg_catalog, public
as $$
    select c.id, cover.id
    from user_collections c
    cross join lateral (select l.id from user_library l
                        where l.collection_id = c.id
                        order by l.created_at desc, l.id desc
                        limit 1) cover
    where c.user_id = auth.uid()
$$;

-- The caller's collections, newest first, each with its count and its cover:
-- the newest item in it (as list_library shows items), null when empty.
create function list_collections()
returns jsonb
language plpgsql
stable
set search_path = pg_catalog, public
as $$
declare
    uid uuid := ourvidz_private.require_user();
begin
    return jsonb_build_object('collections', coalesce((
        select jsonb_agg(ourvidz_private.collection_json(c)
                         || jsonb_build_object('cover', ourvidz_private.library_item_json(l))
                         order by c.created_at desc, c.id desc)
        from user_collections c
        left join ourvidz_private.collection_covers() cover on cover.collection_id = c.id
        left join user_library l on l.id = cover.item_id and l.user_id = uid
        where c.user_id = uid), '[]'::jsonb));
end;
$$;

-- asset_statistics --------------------------------------------------------------------
-- What the caller keeps, for a page header: counts and bytes by asset type in
-- the workspace (live items; dismissed ones too, and apart) and in the library
-- (and per collection, and outside any). The library's come from
-- library_totals (a few rows), the workspace's from its rows (7 days' worth).
create function asset_statistics()
returns jsonb
language plpgsql
stable
set search_path = pg_catalog, public
as $$
declare
    uid uuid := ourvidz_private.require_user();
    workspace jsonb;
    library jsonb;
    collections jsonb;
begin
    select jsonb_build_object(
               'image', jsonb_build_object('count', count(*) filter (where w.asset_type = 'image'),
                                           'bytes', coalesce(sum(w.file_size_bytes) filter (where w.asset_type = 'image'), 0)),
               'video', jsonb_build_object('count', count(*) filter (where w.asset_type = 'video'),
                                           'bytes', coalesce(sum(w.file_size_bytes) filter (where w.asset_type = 'video'), 0)),
               'total', jsonb_build_object('count', count(*), 'bytes', coalesce(sum(w.file_size_bytes), 0)),
               'dismissed', jsonb_build_object('count', count(*) filter (where w.dismissed_at is not null),
                                               'bytes', coalesce(sum(w.file_size_bytes)
                                                                 filter (where w.dismissed_at is not null), 0)))
    into workspace
    from workspace_assets w
    where w.user_id = uid and w.expires_at > now();

    select jsonb_build_object(
               'image', jsonb_build_object('count', coalesce(sum(t.items) filter (where t.asset_type = 'image'), 0),
                                           'bytes', coalesce(sum(t.bytes) filter (where t.asset_type = 'image'), 0)),
               'video', jsonb_build_object('count', coalesce(sum(t.items) filter (where t.asset_type = 'video'), 0),
                                           'bytes', coalesce(sum(t.bytes) filter (where t.asset_type = 'video'), 0)),
               'total', jsonb_build_object('count', coalesce(sum(t.items), 0), 'bytes', coalesce(sum(t.bytes), 0)),
               'unfiled', jsonb_build_object('count', coalesce(sum(t.items) filter (where t.collection_id is null), 0),
                                             'bytes', coalesce(sum(t.bytes) filter (where t.collection_id is null), 0)))
    into library
    from library_totals t
    where t.user_id = uid;

    select coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'name', c.name,
                                                 'count', coalesce(n.items, 0), 'bytes', coalesce(n.bytes, 0))
                              order by c.created_at desc, c.id desc), '[]'::jsonb)
    into collections
    from user_collections c
    left join (select t.collection_id, sum(t.items) as items, sum(t.bytes) as bytes
               from library_totals t
               where t.user_id = uid and t.collection_id is not null
               group by t.collection_id) n on n.collection_id = c.id
    where c.user_id = uid;

    return jsonb_build_object('workspace', workspace, 'library', library, 'collections', collections);
end;
$$;

revoke execute on function
    list_library(integer, jsonb, text, text, uuid, boolean, text, text, boolean, text, text[], text[],
                 timestamptz, timestamptz),
    update_library_items(uuid[], jsonb), delete_library_items(uuid[]),
    create_collection(text, text), update_collection(uuid, text, text), delete_collection(uuid, boolean),
    list_collections(), asset_statistics()
    from public, anon;
grant execute on function
    list_library(integer, jsonb, text, text, uuid, boolean, text, text, boolean, text, text[], text[],
                 timestamptz, timestamptz),
    update_library_items(uuid[], jsonb), delete_library_items(uuid[]),
    create_collection(text, text), update_collection(uuid, text, text), delete_collection(uuid, boolean),
    list_collections(), asset_statistics()
    to authenticated, service_role;
revoke execute on function repair_library_totals(uuid) from public, anon, authenticated;
grant execute on function repair_library_totals(uuid) to service_role;
revoke execute on function ourvidz_private.add_library_totals(uuid[], uuid[], text[], bigint[], bigint[]),
    ourvidz_private.count_library_totals(), ourvidz_private.collection_covers()
    from public;
grant execute on function ourvidz_private.collection_covers() to authenticated, service_role;
revoke execute on function ourvidz_private.library_item_json(user_library),
    ourvidz_private.collection_json(user_collections), ourvidz_private.require_collection(uuid),
    ourvidz_private.library_items(uuid, uuid, boolean, text, text, boolean, text, text[], text[],
                                  timestamptz, timestamptz, text, tsquery, text, text),
    ourvidz_private.library_page(uuid, boolean, text, text, boolean, text, text[], text[], timestamptz,
                                 timestamptz, text, text, text, double precision, timestamptz, uuid, integer)
    from public;
grant execute on function ourvidz_private.library_item_json(user_library),
    ourvidz_private.collection_json(user_collections), ourvidz_private.require_collection(uuid),
    ourvidz_private.library_items(uuid, uuid, boolean, text, text, boolean, text, text[], text[],
                                  timestamptz, timestamptz, text, tsquery, text, text),
    ourvidz_private.library_page(uuid, boolean, text, text, boolean, text, text[], text[], timestamptz,
                                 timestamptz, text, text, text, double precision, timestamptz, uuid, integer)
    to authenticated, service_role;
