-- The job queue: enqueue (users), claim / heartbeat / record result (workers).
--
-- One named function per operation, explicit states
-- (queued → processing → completed | failed), River-style claiming: a CTE
-- picks runnable rows `for update skip locked` and one UPDATE leases them, so
-- concurrent workers never claim the same job and never wait on each other.
-- A lease that runs out (the worker died) makes the job claimable again until
-- max_attempts is spent, then it fails. Errors are raised as PostgREST-style
-- `PTxxx` SQLSTATEs (see docs/sql-api.md).
--
-- Helpers that must write what the caller may not (the outbox, another
-- user's job folder on behalf of a worker) are `security definer` and live in
-- schema ourvidz_private, which PostgREST does not expose. Limits and ranges
-- are the rules of rules.sql.

-- Every job's generation settings obey the rules, however the job is
-- inserted (enqueue_job or PostgREST); references are stored normalised.
-- (Named to fire before the cap below: a bad request is a 400, not a 429.)
create function ourvidz_private.check_generation_settings()
returns trigger
language plpgsql
set search_path = pg_catalog, public
as $$
begin
    new.generation_settings := ourvidz_private.checked_generation_settings(new.generation_settings, new.user_id);
    return new;
end;
$$;

create trigger jobs_check_generation_settings
    before insert on jobs
    for each row execute function ourvidz_private.check_generation_settings();

-- A user may hold at most `ourvidz.max_active_jobs` (default 10) queued or
-- processing jobs. Enforced on insert, so a plain PostgREST insert obeys it
-- too; the advisory lock makes concurrent enqueues of one user count in turn.
create index idx_jobs_user_active on jobs (user_id) where status in ('queued', 'processing');

create function ourvidz_private.enforce_active_job_cap()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
declare
    cap integer := coalesce(nullif(current_setting('ourvidz.max_active_jobs', true), '')::integer, 10);
    active integer;
begin
    perform pg_advisory_xact_lock(hashtextextended('ourvidz.jobs.' || new.user_id::text, 0));
    select count(*) into active
    from jobs
    where user_id = new.user_id and status in ('queued', 'processing');
    if active >= cap then
        raise exception using errcode = 'PT429',
            message = format('too many active jobs: at most %s may be queued or processing at once', cap);
    end if;
    return new;
end;
$$;

create trigger jobs_enforce_active_job_cap
    before insert on jobs
    for each row execute function ourvidz_private.enforce_active_job_cap();

-- Workers LISTEN on `ourvidz_jobs` instead of polling.
create function ourvidz_private.notify_job_queued()
returns trigger
language plpgsql
as $$
begin
    perform pg_notify('ourvidz_jobs', new.id::text);
    return null;
end;
$$;

create trigger jobs_notify_queued
    after insert on jobs
    for each row execute function ourvidz_private.notify_job_queued();

-- Queue every object in a job's folder that no row owns: the job was deleted
-- or failed, so whatever a worker uploaded there has no future.
create function ourvidz_private.queue_job_folder(folder_owner uuid, folder_job uuid, why text)
returns void
language sql
security definer
set search_path = pg_catalog, public
as $$
    insert into storage_deletion_outbox (bucket_id, object_name, user_id, reason)
    select 'workspace-temp', o.name, queue_job_folder.folder_owner, queue_job_folder.why
    from storage.objects o
    where o.bucket_id = 'workspace-temp'
      and o.name like queue_job_folder.folder_owner::text || '/' || queue_job_folder.folder_job::text || '/%'
      and not exists (select 1 from workspace_assets w
                      where w.temp_storage_path = o.name or w.thumbnail_path = o.name)
    on conflict (bucket_id, object_name) do nothing
$$;

create function ourvidz_private.queue_deleted_job_folders()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, public
as $$
begin
    perform ourvidz_private.queue_job_folder(gone.user_id, gone.id, 'row_deleted') from gone;
    return null;
end;
$$;

create trigger jobs_queue_deleted_job_folders
    after delete on jobs
    referencing old table as gone
    for each statement execute function ourvidz_private.queue_deleted_job_folders();

-- enqueue_job ---------------------------------------------------------------------
-- A job from a request, or from one of the caller's assets (`from_asset`, a
-- live workspace item or a library item): its prompt, model, quality, settings
-- and seed are reused, and every field the request gives overrides them
-- (settings key by key; a JSON null drops an inherited key). `reuse_seed:
-- false` draws a new seed (variations). The job records where it came from
-- (job_sources, lineage.sql): its assets are `derived_from` the source when
-- they reuse its seed, a `variant_of` it with another, `generated_from` it in
-- another mode (an image made into a video).
create function enqueue_job(request jsonb, idempotency_key text default null)
returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
    uid uuid := ourvidz_private.require_user();
    source_id uuid;
    source_type text;
    source_prompt text;
    source_model text;
    source_seed bigint;
    source_settings jsonb;
    source_job uuid;
    reuse_seed boolean;
    job_mode text;
    job_prompt text;
    job_quality text;
    job_model text;
    job_batch bigint;
    job_seed bigint;
    job_settings jsonb;
    job jobs;
begin
    perform ourvidz_private.reject_unknown_fields(request,
        array['mode', 'prompt', 'model', 'quality', 'batch_size', 'seed', 'settings', 'from_asset', 'reuse_seed']);

    begin
        source_id := (ourvidz_private.json_field(request, 'from_asset', 'string') #>> '{}')::uuid;
    exception when invalid_text_representation then
        raise exception using errcode = 'PT400', message = 'from_asset must be a uuid';
    end;
    reuse_seed := (ourvidz_private.json_field(request, 'reuse_seed', 'boolean') #>> '{}')::boolean;
    if reuse_seed is not null and source_id is null then
        raise exception using errcode = 'PT400', message = 'reuse_seed needs from_asset';
    end if;
    if source_id is not null then
        select a.asset_type, a.original_prompt, a.model_used, a.generation_seed, a.generation_settings, a.job_id
        into source_type, source_prompt, source_model, source_seed, source_settings, source_job
        from (select w.id, w.asset_type, w.original_prompt, w.model_used, w.generation_seed,
                     coalesce(w.generation_settings, '{}') as generation_settings, w.job_id
              from workspace_assets w
              where w.id = source_id and w.user_id = uid and w.expires_at > now()
              union all
              select l.id, l.asset_type, l.original_prompt, l.model_used, l.generation_seed,
                     l.generation_settings, l.job_id
              from user_library l
              where l.id = source_id and l.user_id = uid) a;
        if not found then
            raise exception using errcode = 'PT404', message = 'from_asset not found';
        end if;
    end if;

    job_mode := coalesce(ourvidz_private.json_enum(request, 'mode', '{image,video}'), source_type);
    if job_mode is null then
        raise exception using errcode = 'PT400', message = 'mode is required';
    end if;
    -- stored without surrounding whitespace
    job_prompt := regexp_replace(coalesce(ourvidz_private.json_field(request, 'prompt', 'string') #>> '{}',
                                          source_prompt), '^\s+|\s+$', '', 'g');
    if job_prompt is null or not ourvidz_private.is_prompt(job_prompt) then
        raise exception using errcode = 'PT400', message = format(
            'prompt must be 1 to %s characters, not blank, without control characters other than tab and newline',
            ourvidz_private.max_prompt_chars());
    end if;
    job_quality := coalesce(ourvidz_private.json_enum(request, 'quality', '{fast,high}'),
                            (select j.quality from jobs j where j.id = source_job and j.user_id = uid), 'fast');
    -- a source's model only makes sense in the source's own mode
    job_model := coalesce(ourvidz_private.json_field(request, 'model', 'string') #>> '{}',
                          case when job_mode = source_type then source_model end,
                          case job_mode when 'image' then 'sdxl' else 'wan' end);
    if not ourvidz_private.is_model_name(job_model) then
        raise exception using errcode = 'PT400', message = format(
            'model must be 1 to %s letters, digits, ".", "_", ":", "/" or "-", starting with a letter or digit, without ".."',
            ourvidz_private.max_model_chars());
    end if;
    job_batch := coalesce(ourvidz_private.json_integer(request, 'batch_size', 1, ourvidz_private.max_image_batch()),
                          case job_mode when 'image' then 3 else 1 end);
    if not ourvidz_private.is_batch_size(job_mode, job_batch) then
        raise exception using errcode = 'PT400', message = 'batch_size must be 1 for videos';
    end if;
    job_seed := coalesce(ourvidz_private.json_integer(request, 'seed', 0, ourvidz_private.max_seed()),
                         case when reuse_seed is distinct from false then source_seed end,
                         floor(random() * 4294967296)::bigint);
    job_settings := coalesce(source_settings, '{}')
                    || coalesce(ourvidz_private.json_field(request, 'settings', 'object'), '{}');
    if idempotency_key is not null and not ourvidz_private.is_idempotency_key(idempotency_key) then
        raise exception using errcode = 'PT400', message = format(
            'the idempotency key must be 1 to %s visible ASCII characters', ourvidz_private.max_idempotency_key_chars());
    end if;

    -- One enqueue per user at a time (the cap trigger takes the same lock): a
    -- concurrent request with the same key then finds this one's job instead
    -- of racing it to the insert and losing to the cap.
    perform pg_advisory_xact_lock(hashtextextended('ourvidz.jobs.' || uid::text, 0));
    if idempotency_key is not null then
        select * into job from jobs j where j.user_id = uid and j.idempotency_key = enqueue_job.idempotency_key;
        if found then
            return jsonb_build_object('job', to_jsonb(job), 'created', false);
        end if;
    end if;

    -- the settings are checked by the jobs_check_generation_settings trigger
    -- (JSON nulls, such as one dropping an inherited key, are dropped there)
    insert into jobs (user_id, job_type, mode, prompt, model, quality, batch_size,
                      generation_seed, generation_settings, idempotency_key)
    values (uid, job_mode || '_' || job_quality, job_mode, job_prompt, job_model, job_quality, job_batch,
            job_seed, job_settings, idempotency_key)
    on conflict on constraint jobs_user_idempotency_key_key do nothing
    returning * into job;
    if not found then
        -- a concurrent request with the same key won the insert
        select * into job from jobs j where j.user_id = uid and j.idempotency_key = enqueue_job.idempotency_key;
        return jsonb_build_object('job', to_jsonb(job), 'created', false);
    end if;
    if source_id is not null then
        perform ourvidz_private.record_job_source(job.id, source_id,
            case when job_mode <> source_type then 'generated_from'
                 when job_seed = source_seed then 'derived_from'
                 else 'variant_of' end);
    end if;
    return jsonb_build_object('job', to_jsonb(job), 'created', true);
end;
$$;

-- claim_jobs ------------------------------------------------------------------------
create function claim_jobs(worker_id text, max_jobs integer default 1,
                           lease_seconds integer default ourvidz_private.default_lease_seconds())
returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
    lease interval := ourvidz_private.lease(lease_seconds);
    dead record;
    claimed jsonb;
begin
    perform ourvidz_private.require_worker_id(worker_id);
    perform ourvidz_private.require_between(max_jobs, 'max_jobs', 1, 100);

    -- Jobs whose worker died with no attempts left fail now, and whatever that
    -- worker uploaded is queued for deletion.
    for dead in
        update jobs
        set status = 'failed',
            error = format('worker lease expired after %s attempts', attempts),
            worker_id = null,
            lease_expires_at = null,
            completed_at = now()
        where id in (select id from jobs
                     where status = 'processing' and lease_expires_at < now() and attempts >= max_attempts
                     for update skip locked)
        returning user_id, id
    loop
        perform ourvidz_private.queue_job_folder(dead.user_id, dead.id, 'job_failed');
    end loop;

    with expired as (
        select id, 0 as lane, lease_expires_at as since
        from jobs
        where status = 'processing' and lease_expires_at < now() and attempts < max_attempts
        order by lease_expires_at
        limit max_jobs
        for update skip locked
    ),
    queued as (
        select id, 1 as lane, created_at as since
        from jobs
        where status = 'queued'
        order by created_at
        limit max_jobs
        for update skip locked
    ),
    runnable as (
        select * from expired
        union all
        select * from queued
    ),
    picked as (
        select id from runnable order by lane, since limit max_jobs
    ),
    -- Each row becomes JSON in RETURNING, as the table's row type: made
    -- from the CTE's anonymous record a claim of 10 took 0.96 ms, not 0.92.
    leased as (
        update jobs j
        set status = 'processing',
            worker_id = claim_jobs.worker_id,
            lease_expires_at = now() + lease,
            attempts = j.attempts + 1,
            started_at = coalesce(j.started_at, now()),
            error = null
        from picked
        where j.id = picked.id
        returning to_jsonb(j) as job, j.created_at
    )
    select coalesce(jsonb_agg(leased.job order by leased.created_at), '[]'::jsonb) into claimed from leased;
    return jsonb_build_object('jobs', claimed);
end;
$$;

-- heartbeat_job -----------------------------------------------------------------------
create function heartbeat_job(job_id uuid, worker_id text,
                              lease_seconds integer default ourvidz_private.default_lease_seconds())
returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
    lease interval := ourvidz_private.lease(lease_seconds);
    leased_until timestamptz;
begin
    perform ourvidz_private.require_worker_id(worker_id);
    update jobs j
    set lease_expires_at = now() + lease
    where j.id = heartbeat_job.job_id and j.status = 'processing' and j.worker_id = heartbeat_job.worker_id
    returning j.lease_expires_at into leased_until;
    if found then
        return jsonb_build_object('lease_expires_at', leased_until);
    end if;
    if exists (select 1 from jobs j where j.id = heartbeat_job.job_id) then
        raise exception using errcode = 'PT409', message = 'the job is not leased by this worker';
    end if;
    raise exception using errcode = 'PT404', message = 'job not found';
end;
$$;

-- record_job_result --------------------------------------------------------------------
-- A path a worker reports, normalised in workspace-temp, or PT400 naming the field.
-- A name `owner` owns is already in stored form (storage_path_is_owned: nothing
-- the normaliser would change), so it is returned as it is — the common case,
-- without the subtransaction of the exception block.
create function ourvidz_private.reported_path(path text, field text, owner uuid default null)
returns text
language plpgsql
immutable
set search_path = pg_catalog, public
as $$
begin
    if path is null or storage_path_is_owned(path, owner) then
        return path;
    end if;
    begin
        return normalize_storage_path(path, 'workspace-temp');
    exception when invalid_parameter_value then
        raise exception using errcode = 'PT400', message = format('%s: %s', field, sqlerrm);
    end;
end;
$$;

-- Validate one reported asset and return it as a workspace_assets row image.
create function ourvidz_private.reported_asset(job jobs, asset jsonb)
returns workspace_assets
language plpgsql
set search_path = pg_catalog, public
as $$
declare
    folder text := job.user_id::text || '/' || job.id::text || '/';
    asset_row workspace_assets;
begin
    perform ourvidz_private.reject_unknown_fields(asset, array['asset_index', 'storage_path', 'mime_type',
        'file_size_bytes', 'width', 'height', 'duration_seconds', 'thumbnail_path', 'generation_seed']);
    asset_row.id := gen_random_uuid();
    asset_row.user_id := job.user_id;
    asset_row.job_id := job.id;
    asset_row.asset_index := ourvidz_private.json_integer(asset, 'asset_index', 0, job.batch_size - 1);
    if asset_row.asset_index is null then
        raise exception using errcode = 'PT400', message = 'asset_index is required';
    end if;
    asset_row.temp_storage_path := ourvidz_private.reported_path(
        coalesce(ourvidz_private.json_field(asset, 'storage_path', 'string') #>> '{}', ''), 'storage_path', job.user_id);
    asset_row.thumbnail_path := ourvidz_private.reported_path(
        ourvidz_private.json_field(asset, 'thumbnail_path', 'string') #>> '{}', 'thumbnail_path', job.user_id);
    if not starts_with(asset_row.temp_storage_path, folder)
       or (asset_row.thumbnail_path is not null and not starts_with(asset_row.thumbnail_path, folder)) then
        raise exception using errcode = 'PT400',
            message = 'asset paths must lie in the job''s folder {user_id}/{job_id}/ of workspace-temp';
    end if;
    -- names the project generates; nothing a URL or a file system would decode
    if concat(asset_row.temp_storage_path, asset_row.thumbnail_path) !~ '^[A-Za-z0-9._/-]+$' then
        raise exception using errcode = 'PT400',
            message = 'asset paths may only contain letters, digits, ".", "_", "-" and "/"';
    end if;
    asset_row.mime_type := ourvidz_private.json_enum(asset, 'mime_type', ourvidz_private.allowed_mime_types());
    if asset_row.mime_type is null then
        raise exception using errcode = 'PT400', message = 'mime_type is required';
    end if;
    asset_row.asset_type := split_part(asset_row.mime_type, '/', 1);
    if asset_row.asset_type <> job.mode then
        raise exception using errcode = 'PT400',
            message = format('%s jobs produce %s assets, not %s', job.mode, job.mode, asset_row.asset_type);
    end if;
    asset_row.file_size_bytes := ourvidz_private.json_integer(asset, 'file_size_bytes', 1, ourvidz_private.max_object_bytes());
    if asset_row.file_size_bytes is null then
        raise exception using errcode = 'PT400', message = 'file_size_bytes is required';
    end if;
    asset_row.width := ourvidz_private.json_integer(asset, 'width', 1, 16384);
    asset_row.height := ourvidz_private.json_integer(asset, 'height', 1, 16384);
    asset_row.duration_seconds := ourvidz_private.json_number(asset, 'duration_seconds', 0, 3600, false);
    if asset_row.duration_seconds = 0 then
        raise exception using errcode = 'PT400', message = 'duration_seconds must be above 0';
    end if;
    asset_row.generation_seed := coalesce(
        ourvidz_private.json_integer(asset, 'generation_seed', 0, ourvidz_private.max_seed()),
        ourvidz_private.asset_seed(job.generation_seed, asset_row.asset_index));
    asset_row.original_prompt := job.prompt;
    asset_row.model_used := job.model;
    asset_row.generation_settings := job.generation_settings;
    asset_row.created_at := now();
    asset_row.expires_at := now() + ourvidz_private.workspace_lifetime();
    return asset_row;
end;
$$;

-- Queue the reported objects no row owns (a rejected or redundant callback).
create function ourvidz_private.queue_unowned_reported_objects(paths_owner uuid, paths text[], why text)
returns void
language sql
security definer
set search_path = pg_catalog, public
as $$
    insert into storage_deletion_outbox (bucket_id, object_name, user_id, reason)
    select 'workspace-temp', p, queue_unowned_reported_objects.paths_owner, queue_unowned_reported_objects.why
    from unnest(queue_unowned_reported_objects.paths) p
    where p is not null
      and storage_path_is_owned(p, queue_unowned_reported_objects.paths_owner)
      and not exists (select 1 from workspace_assets w where w.temp_storage_path = p or w.thumbnail_path = p)
    on conflict (bucket_id, object_name) do nothing
$$;

-- The callback answer: the job and its assets. (plpgsql, not sql: a SQL
-- function with a SET clause is never inlined, so it would be parsed and
-- planned again on every callback; plpgsql keeps its plan.)
create function ourvidz_private.job_result(job jobs)
returns jsonb
language plpgsql
stable
set search_path = pg_catalog, public
as $$
begin
    return jsonb_build_object(
        'job', to_jsonb(job),
        'assets', coalesce((select jsonb_agg(jsonb_build_object('id', w.id, 'asset_index', w.asset_index)
                                             order by w.asset_index)
                            from workspace_assets w
                            where w.user_id = job.user_id and w.job_id = job.id), '[]'::jsonb));
end;
$$;

create function record_job_result(result jsonb)
returns jsonb
language plpgsql
set search_path = pg_catalog, public
as $$
declare
    reported_job_id uuid;
    new_status text;
    reporter text;
    failure text;
    reported jsonb;
    paths text[];
    job jobs;
    rejection text;
begin
    perform ourvidz_private.reject_unknown_fields(result,
        array['job_id', 'status', 'worker_id', 'assets', 'error']);
    begin
        reported_job_id := (ourvidz_private.json_field(result, 'job_id', 'string') #>> '{}')::uuid;
    exception when invalid_text_representation then
        raise exception using errcode = 'PT400', message = 'job_id must be a uuid';
    end;
    if reported_job_id is null then
        raise exception using errcode = 'PT400', message = 'job_id is required';
    end if;
    new_status := ourvidz_private.json_enum(result, 'status', '{processing,completed,failed}');
    if new_status is null then
        raise exception using errcode = 'PT400', message = 'status is required';
    end if;
    reporter := ourvidz_private.json_field(result, 'worker_id', 'string') #>> '{}';
    if reporter is not null then
        perform ourvidz_private.require_worker_id(reporter);
    end if;
    failure := ourvidz_private.json_field(result, 'error', 'string') #>> '{}';
    if failure is not null and new_status <> 'failed' then
        raise exception using errcode = 'PT400', message = 'only a failed callback carries an error';
    end if;
    if not ourvidz_private.is_error_text(failure) then
        raise exception using errcode = 'PT400', message = format(
            'error must be at most %s characters without control characters other than tab and newline',
            ourvidz_private.max_error_chars());
    end if;
    reported := coalesce(ourvidz_private.json_field(result, 'assets', 'array'), '[]'::jsonb);
    perform ourvidz_private.require_between(jsonb_array_length(reported), 'the number of assets', 0, 100);
    if new_status <> 'completed' and jsonb_array_length(reported) > 0 then
        raise exception using errcode = 'PT400', message = 'only a completed callback carries assets';
    end if;
    if jsonb_array_length(reported) > 1 then
        if exists (select 1 from jsonb_array_elements(reported) a
                   where jsonb_typeof(a) = 'object' and a ? 'asset_index'
                   group by a -> 'asset_index' having count(*) > 1) then
            raise exception using errcode = 'PT400', message = 'each asset_index may appear once per callback';
        end if;
    end if;

    select * into job from jobs j where j.id = reported_job_id for update;
    if not found then
        -- The job was deleted while a worker rendered it: its uploads belong to
        -- no one. The owner is the first segment of each path.
        perform ourvidz_private.queue_unowned_reported_objects(p.owner, array[p.path], 'callback_rejected')
        from (select split_part(x.path, '/', 1)::uuid as owner, x.path
              from (select ourvidz_private.reported_path(coalesce(a ->> k, ''), k) as path
                    from jsonb_array_elements(reported) a, unnest(array['storage_path', 'thumbnail_path']) k
                    where a ? k) x
              where x.path ~ ('^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/' || reported_job_id::text || '/')) p;
        return jsonb_build_object('error', jsonb_build_object('status', 404, 'message', 'job not found'));
    end if;

    select array_agg(p) into paths
    from (select ourvidz_private.reported_path(a ->> k, k, job.user_id) p
          from jsonb_array_elements(reported) a, unnest(array['storage_path', 'thumbnail_path']) k
          where jsonb_typeof(a) = 'object' and jsonb_typeof(a -> k) = 'string') s;

    if job.status = new_status and new_status in ('completed', 'failed') then
        -- a repeated final callback: same answer, nothing new; uploads it names
        -- that no row owns are queued so a late duplicate leaves no orphan
        perform ourvidz_private.queue_unowned_reported_objects(job.user_id, paths, 'callback_rejected');
        return ourvidz_private.job_result(job);
    end if;

    rejection := case
        when job.status in ('completed', 'failed') then format('job is already %s', job.status)
        when job.status = 'queued' and new_status = 'completed' then 'job has not started processing'
    end;
    if rejection is not null then
        perform ourvidz_private.queue_unowned_reported_objects(job.user_id, paths, 'callback_rejected');
        return jsonb_build_object('error', jsonb_build_object('status', 409, 'message', rejection),
                                  'job', to_jsonb(job));
    end if;

    if new_status = 'processing' then
        update jobs j
        set status = 'processing',
            worker_id = coalesce(reporter, j.worker_id, 'callback'),
            lease_expires_at = greatest(j.lease_expires_at,
                                        now() + make_interval(secs => ourvidz_private.default_lease_seconds())),
            attempts = case when j.status = 'queued' then j.attempts + 1 else j.attempts end,
            started_at = coalesce(j.started_at, now())
        where j.id = job.id
        returning * into job;
    elsif new_status = 'failed' then
        update jobs j
        set status = 'failed', error = coalesce(failure, 'the worker reported a failure'),
            worker_id = null, lease_expires_at = null, completed_at = now()
        where j.id = job.id
        returning * into job;
        perform ourvidz_private.queue_job_folder(job.user_id, job.id, 'job_failed');
    else
        if jsonb_array_length(reported) = 0 then
            raise exception using errcode = 'PT400', message = 'a completed callback needs at least one asset';
        end if;
        insert into workspace_assets
        select r.*
        from jsonb_array_elements(reported) a, lateral ourvidz_private.reported_asset(job, a) r
        on conflict on constraint workspace_assets_user_id_job_id_asset_index_key do nothing;
        update jobs j
        set status = 'completed', error = null, worker_id = null, lease_expires_at = null, completed_at = now()
        where j.id = job.id
        returning * into job;
    end if;
    return ourvidz_private.job_result(job);
end;
$$;

revoke execute on all functions in schema ourvidz_private from public;
revoke execute on function enqueue_job(jsonb, text), claim_jobs(text, integer, integer),
    heartbeat_job(uuid, text, integer), record_job_result(jsonb) from public, anon, authenticated;
grant execute on function enqueue_job(jsonb, text) to authenticated, service_role;
grant execute on function claim_jobs(text, integer, integer), heartbeat_job(uuid, text, integer),
    record_job_result(jsonb) to service_role;
grant execute on function ourvidz_private.reported_asset(jobs, jsonb), ourvidz_private.reported_path(text, text, uuid),
    ourvidz_private.queue_unowned_reported_objects(uuid, text[], text),
    ourvidz_private.queue_job_folder(uuid, uuid, text),
    ourvidz_private.job_result(jobs) to service_role;
