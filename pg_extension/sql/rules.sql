-- The rules of the SQL API, each stated once.
--
-- Every function `authenticated` may execute is public through PostgREST RPC
-- on hosted Supabase, so the SQL is the contract: each limit, range and enum a
-- caller can break lives here once — a constant (a small immutable function),
-- a predicate, or a validator — and the table checks, the triggers and the API
-- functions use it. The edge functions only shape requests and map the errors
-- to HTTP. A broken rule raises SQLSTATE PT400 with a sentence safe to show
-- (PostgREST and the edge functions answer 400 with it).
--
-- Everything here lives in schema ourvidz_private, which PostgREST does not
-- expose; the API roles may execute what table checks and triggers call on
-- their behalf.

create schema ourvidz_private;
revoke all on schema ourvidz_private from public;
grant usage on schema ourvidz_private to authenticated, service_role;

-- Constants -----------------------------------------------------------------------
-- plpgsql, not SQL: the planner folds an immutable call with constant
-- arguments by running it, once for every statement that mentions it — and
-- a table's checks are planned for every INSERT and UPDATE of it. A SQL
-- function is parsed and planned on each such run (about 2 µs), a plpgsql
-- one compiled once per session. The predicates below are plpgsql for a
-- like reason (see there).

-- Seeds are at most 2^53 - 1: JSON clients (JavaScript) read numbers as
-- doubles, and a larger integer would come back as a different seed.
create function ourvidz_private.max_seed() returns bigint
language plpgsql immutable parallel safe as $$ begin return 9007199254740991; end $$;

create function ourvidz_private.max_prompt_chars() returns integer
language plpgsql immutable parallel safe as $$ begin return 4000; end $$;

create function ourvidz_private.max_model_chars() returns integer
language plpgsql immutable parallel safe as $$ begin return 100; end $$;

-- Images come in sets of at most this many (the seeds' 1x3 set by default);
-- a video job renders one video.
create function ourvidz_private.max_image_batch() returns integer
language plpgsql immutable parallel safe as $$ begin return 4; end $$;

create function ourvidz_private.max_worker_id_chars() returns integer
language plpgsql immutable parallel safe as $$ begin return 200; end $$;

create function ourvidz_private.max_error_chars() returns integer
language plpgsql immutable parallel safe as $$ begin return 2000; end $$;

create function ourvidz_private.max_idempotency_key_chars() returns integer
language plpgsql immutable parallel safe as $$ begin return 255; end $$;

create function ourvidz_private.max_title_chars() returns integer
language plpgsql immutable parallel safe as $$ begin return 200; end $$;

create function ourvidz_private.max_tags() returns integer
language plpgsql immutable parallel safe as $$ begin return 50; end $$;

create function ourvidz_private.max_tag_chars() returns integer
language plpgsql immutable parallel safe as $$ begin return 50; end $$;

-- The buckets' object limit and media types (seed 001), which every row that
-- describes an object obeys too.
create function ourvidz_private.max_object_bytes() returns bigint
language plpgsql immutable parallel safe as $$ begin return 1073741824; end $$;

create function ourvidz_private.allowed_mime_types() returns text[]
language plpgsql immutable parallel safe as $$ begin return '{image/jpeg,image/png,image/webp,video/mp4}'::text[]; end $$;

-- How long a generated asset stays in the workspace (seed 001: 7 days).
create function ourvidz_private.workspace_lifetime() returns interval
language plpgsql immutable parallel safe as $$ begin return interval '7 days'; end $$;

-- A batch call names at most this many ids (asset_ids, item_ids).
create function ourvidz_private.max_batch_ids() returns integer
language plpgsql immutable parallel safe as $$ begin return 100; end $$;

-- A search is a short phrase typed into a box, not a document.
create function ourvidz_private.max_search_chars() returns integer
language plpgsql immutable parallel safe as $$ begin return 200; end $$;

-- Substring and fuzzy matching start at this many characters: pg_trgm
-- indexes three-letter runs, so a shorter pattern cannot use the index.
create function ourvidz_private.min_substring_chars() returns integer
language plpgsql immutable parallel safe as $$ begin return 3; end $$;

create function ourvidz_private.max_collection_name_chars() returns integer
language plpgsql immutable parallel safe as $$ begin return 100; end $$;

create function ourvidz_private.max_description_chars() returns integer
language plpgsql immutable parallel safe as $$ begin return 2000; end $$;

-- asset_lineage follows at most this many generations each way.
create function ourvidz_private.max_lineage_depth() returns integer
language plpgsql immutable parallel safe as $$ begin return 20; end $$;

-- Worker leases: short by default, kept alive by heartbeats, so a job whose
-- claim answer never reached its worker is claimable again within seconds.
create function ourvidz_private.default_lease_seconds() returns integer
language plpgsql immutable parallel safe as $$ begin return 30; end $$;

-- A number argument within [low, high] (NULL is out of range), or PT400.
create function ourvidz_private.require_between(value numeric, field text, low numeric, high numeric)
returns void
language plpgsql
immutable
as $$
begin
    if value is null or value not between low and high then
        raise exception using errcode = 'PT400', message = format('%s must be between %s and %s', field, low, high);
    end if;
end;
$$;

-- The caller -------------------------------------------------------------------------
-- Every user function starts here: the id of the signed-in user, or PT401 —
-- also for a validly signed token whose user is not (or no longer) in
-- auth.users, and for a subject that is not a user id at all. A definer,
-- because the API roles may not read auth.users.
create function ourvidz_private.require_user()
returns uuid
language plpgsql
stable
security definer
set search_path = pg_catalog, public
as $$
declare
    uid uuid;
begin
    begin
        uid := auth.uid();
    exception when invalid_text_representation then
        raise exception using errcode = 'PT401', message = 'the token''s subject is not a user id';
    end;
    if uid is null then
        raise exception using errcode = 'PT401', message = 'a signed-in user is required';
    end if;
    if not exists (select 1 from auth.users u where u.id = uid) then
        raise exception using errcode = 'PT401', message = 'the token''s user does not exist';
    end if;
    return uid;
end;
$$;

-- Predicates (table checks and API validation) ---------------------------------------
-- The predicates a table checks are plpgsql: a SQL function is inlined into
-- the check, and a check is prepared again for every INSERT and UPDATE
-- statement — each inlined body read back from its stored node tree
-- (decompressed first), ~30 µs per statement on jobs. A plpgsql predicate
-- is compiled once per session and costs about a microsecond a row: single
-- rows into user_library 5,550 -> 8,900 rows/s, 10-row saves 24,000 ->
-- 29,500, 1,000-row statements unchanged (~43,000). is_plain_text and
-- is_blank stay SQL: they are inlined into the predicates' own plans, which
-- a session keeps.

-- No control characters (Unicode Cc, NUL aside: text cannot hold it); with
-- `multiline`, tab, newline and carriage return are allowed.
create function ourvidz_private.is_plain_text(value text, multiline boolean)
returns boolean
language sql immutable parallel safe
return case when multiline then value !~ '[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]'
            else value !~ '[\x01-\x1f\x7f-\x9f]' end;

create function ourvidz_private.is_blank(value text)
returns boolean
language sql immutable parallel safe
return value ~ '^\s*$';

create function ourvidz_private.is_prompt(prompt text)
returns boolean
language plpgsql immutable parallel safe
as $$
begin
    return char_length(prompt) <= ourvidz_private.max_prompt_chars()
       and not ourvidz_private.is_blank(prompt)
       and ourvidz_private.is_plain_text(prompt, true);
end;
$$;

-- A worker may look the model up by name: no traversal, no odd characters.
create function ourvidz_private.is_model_name(model text)
returns boolean
language plpgsql immutable parallel safe
as $$
begin
    return char_length(model) <= ourvidz_private.max_model_chars()
       and model ~ '^[A-Za-z0-9][A-Za-z0-9._:/-]*$'
       and strpos(model, '..') = 0;
end;
$$;

create function ourvidz_private.is_batch_size(mode text, batch_size bigint)
returns boolean
language plpgsql immutable parallel safe
as $$
begin
    return case mode when 'image' then batch_size between 1 and ourvidz_private.max_image_batch()
                     when 'video' then batch_size = 1
                     else false end;
end;
$$;

create function ourvidz_private.is_seed(seed numeric)
returns boolean
language plpgsql immutable parallel safe
as $$
begin
    return seed between 0 and ourvidz_private.max_seed() and seed = trunc(seed);
end;
$$;

-- The seed of asset `asset_index` of a job: consecutive from the job's seed,
-- wrapping at 2^53 so it stays a valid seed however large the job's is.
create function ourvidz_private.asset_seed(job_seed bigint, asset_index integer)
returns bigint
language sql immutable parallel safe
return (job_seed + asset_index) % (ourvidz_private.max_seed() + 1);

create function ourvidz_private.is_worker_id(worker_id text)
returns boolean
language plpgsql immutable parallel safe
as $$
begin
    return char_length(worker_id) <= ourvidz_private.max_worker_id_chars() and worker_id ~ '^[A-Za-z0-9._:@/-]+$';
end;
$$;

-- Idempotency keys travel in an HTTP header: visible ASCII only.
create function ourvidz_private.is_idempotency_key(idempotency_key text)
returns boolean
language plpgsql immutable parallel safe
as $$
begin
    return char_length(idempotency_key) <= ourvidz_private.max_idempotency_key_chars() and idempotency_key ~ '^[!-~]+$';
end;
$$;

create function ourvidz_private.is_error_text(error text)
returns boolean
language plpgsql immutable parallel safe
as $$
begin
    return char_length(error) <= ourvidz_private.max_error_chars() and ourvidz_private.is_plain_text(error, true);
end;
$$;

create function ourvidz_private.is_title(title text)
returns boolean
language plpgsql immutable parallel safe
as $$
begin
    return char_length(title) <= ourvidz_private.max_title_chars()
       and not ourvidz_private.is_blank(title)
       and ourvidz_private.is_plain_text(title, false);
end;
$$;

create function ourvidz_private.are_tags(tags text[])
returns boolean
language plpgsql immutable parallel safe
as $$
begin
    return cardinality(tags) <= ourvidz_private.max_tags()
       and not exists (select 1 from unnest(tags) t
                       where t is null or char_length(t) > ourvidz_private.max_tag_chars()
                          or ourvidz_private.is_blank(t) or not ourvidz_private.is_plain_text(t, false));
end;
$$;

-- Collection names are unique per user regardless of case (an index on
-- lower(name)), so they are stored trimmed.
create function ourvidz_private.is_collection_name(name text)
returns boolean
language plpgsql immutable parallel safe
as $$
begin
    return char_length(name) <= ourvidz_private.max_collection_name_chars()
       and not ourvidz_private.is_blank(name)
       and name = btrim(name)
       and ourvidz_private.is_plain_text(name, false);
end;
$$;

create function ourvidz_private.is_description(description text)
returns boolean
language plpgsql immutable parallel safe
as $$
begin
    return char_length(description) <= ourvidz_private.max_description_chars()
       and ourvidz_private.is_plain_text(description, true);
end;
$$;

-- A library title as stored (without surrounding whitespace), or PT400.
create function ourvidz_private.checked_title(custom_title text)
returns text
language plpgsql
immutable
as $$
begin
    if not ourvidz_private.is_title(custom_title) then
        raise exception using errcode = 'PT400', message = format(
            'custom_title must be 1 to %s characters, not blank, without control characters',
            ourvidz_private.max_title_chars());
    end if;
    return btrim(custom_title);
end;
$$;

-- Tags as stored (without surrounding whitespace), or PT400 naming `field`.
create function ourvidz_private.checked_tags(tags text[], field text default 'tags')
returns text[]
language plpgsql
immutable
as $$
declare
    trimmed text[] := array(select regexp_replace(t, '^\s+|\s+$', '', 'g')
                            from unnest(tags) with ordinality u (t, n) order by n);
begin
    if not ourvidz_private.are_tags(trimmed) then
        raise exception using errcode = 'PT400', message = format(
            '%s must be at most %s tags of 1 to %s characters, not blank, without control characters',
            field, ourvidz_private.max_tags(), ourvidz_private.max_tag_chars());
    end if;
    return case when tags is not null then trimmed end;
end;
$$;

-- The labels a save gives its library rows: a title and tags (both stored
-- trimmed, checked_title for the title). Returns the tags as stored, or
-- raises PT400.
create function ourvidz_private.checked_labels(custom_title text, tags text[])
returns text[]
language plpgsql
immutable
as $$
begin
    perform ourvidz_private.checked_title(custom_title);
    return ourvidz_private.checked_tags(tags);
end;
$$;

-- A collection's name as stored (trimmed), or PT400.
create function ourvidz_private.checked_collection_name(name text)
returns text
language plpgsql
immutable
as $$
begin
    if name is null or not ourvidz_private.is_collection_name(btrim(name)) then
        raise exception using errcode = 'PT400', message = format(
            'name must be 1 to %s characters, not blank, without control characters',
            ourvidz_private.max_collection_name_chars());
    end if;
    return btrim(name);
end;
$$;

create function ourvidz_private.checked_description(description text)
returns text
language plpgsql
immutable
as $$
begin
    if not ourvidz_private.is_description(description) then
        raise exception using errcode = 'PT400', message = format(
            'description must be at most %s characters without control characters other than tab and newline',
            ourvidz_private.max_description_chars());
    end if;
    return description;
end;
$$;

-- A batch of ids: 1 to max_batch_ids(), no NULL; returns them in the order
-- of first occurrence, duplicates dropped.
create function ourvidz_private.require_ids(ids uuid[], what text)
returns uuid[]
language plpgsql
immutable
as $$
begin
    if ids is null or cardinality(ids) not between 1 and ourvidz_private.max_batch_ids()
       or array_position(ids, null) is not null then
        raise exception using errcode = 'PT400',
            message = format('%s must list between 1 and %s ids', what, ourvidz_private.max_batch_ids());
    end if;
    return array(select x from unnest(ids) with ordinality u (x, n) group by x order by min(n));
end;
$$;

-- The answer of a batch call: under `done_key` the ids it acted on, and under
-- `failed` the others, not found (not the caller's, or gone) — both in the
-- order the caller listed them.
create function ourvidz_private.batch_answer(done_key text, wanted uuid[], done uuid[])
returns jsonb
language sql
immutable
as $$
    select jsonb_build_object(
        done_key, (select coalesce(jsonb_agg(x order by n), '[]'::jsonb)
                   from unnest(wanted) with ordinality u (x, n) where x = any (done)),
        'failed', (select coalesce(jsonb_agg(jsonb_build_object('id', x, 'error', 'not_found') order by n), '[]'::jsonb)
                   from unnest(wanted) with ordinality u (x, n) where x <> all (done)))
$$;

-- Workers ------------------------------------------------------------------------------

create function ourvidz_private.require_worker_id(worker_id text)
returns text
language plpgsql
immutable
as $$
begin
    if worker_id is null or not ourvidz_private.is_worker_id(worker_id) then
        raise exception using errcode = 'PT400', message = format(
            'worker_id must be 1 to %s letters, digits, ".", "_", ":", "@", "/" or "-"',
            ourvidz_private.max_worker_id_chars());
    end if;
    return worker_id;
end;
$$;

-- A lease of `lease_seconds` (5 seconds to an hour; a long job heartbeats).
create function ourvidz_private.lease(lease_seconds integer)
returns interval
language plpgsql
immutable
as $$
begin
    perform ourvidz_private.require_between(lease_seconds, 'lease_seconds', 5, 3600);
    return make_interval(secs => lease_seconds);
end;
$$;

-- Reading JSON requests --------------------------------------------------------------
-- Each reader returns an optional field (absent and JSON null are both NULL)
-- or raises PT400 naming the field as the caller knows it: `prefix` || `field`.

create function ourvidz_private.json_field(body jsonb, field text, expected text, prefix text default '')
returns jsonb
language plpgsql
immutable
as $$
begin
    if not body ? field or body -> field = 'null'::jsonb then
        return null;
    end if;
    if jsonb_typeof(body -> field) <> expected then
        raise exception using errcode = 'PT400', message = format('%s%s must be a JSON %s', prefix, field, expected);
    end if;
    return body -> field;
end;
$$;

-- A number within [low, high] (an integer when `integral`).
create function ourvidz_private.json_number(body jsonb, field text, low numeric, high numeric,
                                            integral boolean, prefix text default '')
returns numeric
language plpgsql
immutable
as $$
declare
    value numeric := (ourvidz_private.json_field(body, field, 'number', prefix) #>> '{}')::numeric;
begin
    if value is not null and ((integral and value <> trunc(value)) or value < low or value > high) then
        raise exception using errcode = 'PT400',
            message = format('%s%s must be %s between %s and %s', prefix, field,
                             case when integral then 'an integer' else 'a number' end, low, high);
    end if;
    return value;
end;
$$;

create function ourvidz_private.json_integer(body jsonb, field text, low numeric, high numeric, prefix text default '')
returns bigint
language sql
immutable
as $$ select ourvidz_private.json_number(body, field, low, high, true, prefix)::bigint $$;

-- One of `allowed`.
create function ourvidz_private.json_enum(body jsonb, field text, allowed text[], prefix text default '')
returns text
language plpgsql
immutable
as $$
declare
    value text := ourvidz_private.json_field(body, field, 'string', prefix) #>> '{}';
begin
    if value is not null and value <> all (allowed) then
        raise exception using errcode = 'PT400',
            message = format('%s%s must be one of %s', prefix, field,
                             (select string_agg(format('"%s"', a), ', ') from unnest(allowed) a));
    end if;
    return value;
end;
$$;

-- An array of strings (or NULL when absent), or PT400.
create function ourvidz_private.json_string_array(body jsonb, field text, prefix text default '')
returns text[]
language plpgsql
immutable
as $$
declare
    value jsonb := ourvidz_private.json_field(body, field, 'array', prefix);
begin
    if value is null then
        return null;
    end if;
    if exists (select 1 from jsonb_array_elements(value) e where jsonb_typeof(e) <> 'string') then
        raise exception using errcode = 'PT400', message = format('%s%s must be an array of strings', prefix, field);
    end if;
    return array(select e from jsonb_array_elements_text(value) with ordinality a (e, n) order by n);
end;
$$;

-- Refuse fields outside `allowed`.
create function ourvidz_private.reject_unknown_fields(body jsonb, allowed text[], prefix text default '')
returns void
language plpgsql
immutable
as $$
declare
    unknown text;
begin
    if jsonb_typeof(body) is distinct from 'object' then
        raise exception using errcode = 'PT400',
            message = case when prefix = '' then 'request body must be a JSON object'
                           else format('%s must be a JSON object', rtrim(prefix, '.')) end;
    end if;
    select k into unknown from jsonb_object_keys(body) k where k <> all (allowed) order by k limit 1;
    if unknown is not null then
        raise exception using errcode = 'PT400', message = format('unknown field %s%s', prefix, unknown);
    end if;
end;
$$;

-- Generation settings ---------------------------------------------------------------------
-- A job's `generation_settings` (ARCHITECTURE.md, queue-job): known keys only,
-- each of its type and range; JSON nulls dropped. A reference image is an
-- https:// URL, the id of one of `owner`'s assets (a live workspace item or a
-- library item), or a storage path `{bucket}/{name}` of an existing object of
-- `owner` in workspace-temp or user-library — looked up under the caller's RLS
-- as well, so another user's asset or object reads exactly like a missing
-- one. An object already queued for deletion is refused too. Returns the
-- settings with references stored as `{bucket}/{name}`: the object a worker
-- signs through Storage (worker/PROTOCOL.md).
--
-- The row that owns a referenced object is locked (FOR KEY SHARE) until the
-- job's transaction ends; by then the job's sources (lineage.sql) hold the
-- object, so a deletion racing the enqueue either finishes first (and the
-- object is refused here) or leaves the object alive until the job finishes.

create function ourvidz_private.checked_reference(value text, field text, owner uuid)
returns text
language plpgsql
volatile
set search_path = pg_catalog, public
as $$
declare
    longest_url constant integer := 2048;
    refused text := format('settings.%s must be an https:// URL, the id of one of your assets, or the storage path '
                           'of an existing object of yours ("workspace-temp/..." or "user-library/...")', field);
    path text := ltrim(value, '/');
    bucket text;
    name_in_bucket text;
begin
    if starts_with(value, 'https://') then
        if char_length(value) > longest_url or value ~ '[\s\x01-\x1f\x7f-\x9f]' or value = 'https://' then
            raise exception using errcode = 'PT400', message = format(
                'settings.%s must be an https:// URL of at most %s characters without spaces', field, longest_url);
        end if;
        return value;
    end if;
    if value ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
        select a.bucket_id, a.object_name into bucket, name_in_bucket
        from (select 'workspace-temp' as bucket_id, w.temp_storage_path as object_name
              from workspace_assets w
              where w.id = value::uuid and w.user_id = owner and w.expires_at > now()
              union all
              select 'user-library', l.storage_path
              from user_library l
              where l.id = value::uuid and l.user_id = owner) a;
        if not found then
            raise exception using errcode = 'PT400', message = refused;
        end if;
    else
        bucket := split_part(path, '/', 1);
        if bucket not in ('workspace-temp', 'user-library') then
            raise exception using errcode = 'PT400', message = refused;
        end if;
        begin
            name_in_bucket := normalize_storage_path(substr(path, char_length(bucket) + 2), bucket);
        exception when invalid_parameter_value then
            raise exception using errcode = 'PT400', message = refused;
        end;
    end if;
    if not storage_path_is_owned(name_in_bucket, owner)
       or not exists (select 1 from storage.objects o where o.bucket_id = bucket and o.name = name_in_bucket)
       or exists (select 1 from storage_deletion_outbox d where d.bucket_id = bucket and d.object_name = name_in_bucket) then
        raise exception using errcode = 'PT400', message = refused;
    end if;
    if bucket = 'workspace-temp' then
        perform 1 from workspace_assets w where w.temp_storage_path = name_in_bucket and w.user_id = owner for key share;
    else
        perform 1 from user_library l where l.storage_path = name_in_bucket and l.user_id = owner for key share;
    end if;
    return bucket || '/' || name_in_bucket;
end;
$$;

create function ourvidz_private.checked_generation_settings(settings jsonb, owner uuid)
returns jsonb
language plpgsql
volatile
set search_path = pg_catalog, public
as $$
declare
    p constant text := 'settings.';
    longest_style constant integer := 500;
    checked jsonb;
    reference text;
begin
    perform ourvidz_private.reject_unknown_fields(settings, array['aspect_ratio', 'shot_type', 'camera_angle',
        'style', 'style_reference', 'reference_image', 'reference_strength', 'guidance_scale',
        'num_inference_steps', 'content_type', 'enhancement_model', 'exact_copy_mode'], p);
    checked := jsonb_strip_nulls(jsonb_build_object(
        'aspect_ratio', ourvidz_private.json_enum(settings, 'aspect_ratio', '{16:9,1:1,9:16}', p),
        'shot_type', ourvidz_private.json_enum(settings, 'shot_type', '{wide,medium,close}', p),
        'camera_angle', ourvidz_private.json_enum(settings, 'camera_angle',
                                                  '{none,eye_level,low_angle,over_shoulder,overhead,bird_eye}', p),
        'style', ourvidz_private.json_field(settings, 'style', 'string', p),
        'reference_strength', ourvidz_private.json_number(settings, 'reference_strength', 0, 1, false, p),
        'guidance_scale', ourvidz_private.json_number(settings, 'guidance_scale', 0, 50, false, p),
        'num_inference_steps', ourvidz_private.json_integer(settings, 'num_inference_steps', 1, 200, p),
        'content_type', ourvidz_private.json_enum(settings, 'content_type', '{sfw,nsfw}', p),
        'enhancement_model', ourvidz_private.json_enum(settings, 'enhancement_model', '{qwen_base,qwen_instruct}', p),
        'exact_copy_mode', ourvidz_private.json_field(settings, 'exact_copy_mode', 'boolean', p)));
    if char_length(checked ->> 'style') > longest_style or not ourvidz_private.is_plain_text(checked ->> 'style', false) then
        raise exception using errcode = 'PT400', message = format(
            'settings.style must be at most %s characters without control characters', longest_style);
    end if;
    foreach reference in array array['style_reference', 'reference_image'] loop
        if ourvidz_private.json_field(settings, reference, 'string', p) is not null then
            checked := checked || jsonb_build_object(reference,
                ourvidz_private.checked_reference(settings ->> reference, reference, owner));
        end if;
    end loop;
    return checked;
end;
$$;

revoke execute on all functions in schema ourvidz_private from public;
grant execute on all functions in schema ourvidz_private to authenticated, service_role;
