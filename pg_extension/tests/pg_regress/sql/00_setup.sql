-- Shared fixtures for the suite (committed: later files build on them).
-- Two users, and helpers that act as them the way PostgREST does: the role
-- and the JWT claims are set for the current transaction only.
\set VERBOSITY terse

insert into auth.users (id, email) values
    ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'alice@example.com'),
    ('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb', 'bob@example.com');

create schema regress;
grant usage on schema regress to public;

create function regress.act_as(uid uuid)
returns text
language plpgsql
as $$
begin
    perform set_config('request.jwt.claims',
        json_build_object('sub', uid, 'role', 'authenticated')::text, true);
    perform set_config('role', 'authenticated', true);
    return 'authenticated as ' || uid;
end;
$$;

create function regress.act_as_service()
returns text
language plpgsql
as $$
begin
    perform set_config('request.jwt.claims', '{"role": "service_role"}', true);
    perform set_config('role', 'service_role', true);
    return 'service_role';
end;
$$;

create function regress.act_as_anon()
returns text
language plpgsql
as $$
begin
    perform set_config('request.jwt.claims', '{"role": "anon"}', true);
    perform set_config('role', 'anon', true);
    return 'anon';
end;
$$;

-- Run `statement` in a subtransaction: 'ok', or the SQLSTATE and message.
create function regress.try(statement text)
returns text
language plpgsql
as $$
begin
    execute statement;
    return 'ok';
exception when others then
    return sqlstate || ': ' || sqlerrm;
end;
$$;

grant execute on all functions in schema regress to public;

-- A job with two image assets for alice, used by several files (as postgres,
-- who owns the tables and bypasses RLS).
create function regress.seed_workspace(uid uuid, job uuid, assets integer default 2,
                                       expires timestamptz default now() + interval '7 days')
returns void
language sql
as $$
    insert into jobs (id, user_id, job_type, mode, prompt, model, batch_size, generation_seed, status)
    values (job, uid, 'image_fast', 'image', 'a red fox', 'sdxl', least(greatest(assets, 1), 4), 42, 'completed');
    insert into workspace_assets (user_id, job_id, asset_index, asset_type, temp_storage_path, thumbnail_path,
                                  file_size_bytes, mime_type, generation_seed, original_prompt, model_used,
                                  width, height, expires_at)
    select uid, job, i, 'image', format('%s/%s/%s.png', uid, job, i),
           case when i = 0 then format('%s/%s/thumbnails/%s.png', uid, job, i) end,
           1000 + i, 'image/png', 42 + i, 'a red fox', 'sdxl', 1024, 1024, expires
    from generate_series(0, assets - 1) i;
$$;

-- API answers without the keys that change from run to run (ids, timestamps).
create function regress.stable(answer jsonb)
returns jsonb
language sql
immutable
as $$
    select case jsonb_typeof(answer)
        when 'object' then (
            select coalesce(jsonb_object_agg(key, regress.stable(value)), '{}'::jsonb)
            from jsonb_each(answer)
            where key not in ('id', 'job_id', 'asset_id', 'library_id', 'created_at', 'updated_at', 'started_at',
                              'completed_at', 'lease_expires_at', 'expires_at', 'destination_path',
                              'destination_thumbnail_path'))
        when 'array' then (
            select coalesce(jsonb_agg(regress.stable(value) order by ordinality), '[]'::jsonb)
            from jsonb_array_elements(answer) with ordinality)
        else answer
    end
$$;

-- A worker's "completed" callback for `assets` PNG assets of a job.
create function regress.completion(job uuid, owner uuid, assets integer)
returns jsonb
language sql
immutable
as $$
    select jsonb_build_object(
        'job_id', job, 'status', 'completed', 'worker_id', 'w1',
        'assets', (select jsonb_agg(jsonb_build_object(
                       'asset_index', i, 'storage_path', format('%s/%s/%s.png', owner, job, i),
                       'mime_type', 'image/png', 'file_size_bytes', 10 + i) order by i)
                   from generate_series(0, assets - 1) i))
$$;
