-- The rules of the SQL API (rules.sql), one case each, called as PostgREST
-- calls them: role and JWT claims set for the transaction, then the function.
-- Each case shows the rule's answer (SQLSTATE and message, or ok) and, where a
-- limit has two sides, the value just inside it. tests/e2e/tests/contract.rs
-- checks that the edge functions give the same 400s.
\set VERBOSITY terse
begin;

-- alice's objects (as the Storage API records them), and one of bob's.
insert into storage.objects (bucket_id, name, owner) values
    ('workspace-temp', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-000000000001/0.png', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'),
    ('user-library', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/ref.png', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa'),
    ('user-library', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/ref.png', 'bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb');

-- enqueue_job ---------------------------------------------------------------------
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
set local ourvidz.max_active_jobs = 1000;
select rule, regress.try(format('select enqueue_job(%L::jsonb)', request)) as answer
from (values
    ('the request is an object',               '[]'),
    ('no unknown fields',                      '{"mode": "image", "prompt": "p", "priority": 1}'),
    ('mode is required',                       '{"prompt": "p"}'),
    ('mode is image or video',                 '{"mode": "gif", "prompt": "p"}'),
    ('prompt is a string',                     '{"mode": "image", "prompt": 42}'),
    ('prompt is not blank',                    '{"mode": "image", "prompt": " \n\t "}'),
    ('prompt has at most 4000 characters',     '{"mode": "image", "prompt": "' || repeat('é', 4001) || '"}'),
    ('... 4000 is fine',                       '{"mode": "image", "prompt": "' || repeat('é', 4000) || '"}'),
    ('prompt has no control characters',       '{"mode": "image", "prompt": "a\u0007b"}'),
    ('... but tabs and newlines',              '{"mode": "image", "prompt": "a\tb\nc"}'),
    ('model is a name without ..',             '{"mode": "image", "prompt": "p", "model": "../sdxl"}'),
    ('model has at most 100 characters',       '{"mode": "image", "prompt": "p", "model": "' || repeat('m', 101) || '"}'),
    ('... 100 is fine',                        '{"mode": "image", "prompt": "p", "model": "' || repeat('m', 100) || '"}'),
    ('quality is fast or high',                '{"mode": "image", "prompt": "p", "quality": "ultra"}'),
    ('image batches hold 1 to 4',              '{"mode": "image", "prompt": "p", "batch_size": 5}'),
    ('... 4 is fine',                          '{"mode": "image", "prompt": "p", "batch_size": 4}'),
    ('batch_size is an integer',               '{"mode": "image", "prompt": "p", "batch_size": 2.5}'),
    ('a video job renders one video',          '{"mode": "video", "prompt": "p", "batch_size": 2}'),
    ('seed is at least 0',                     '{"mode": "image", "prompt": "p", "seed": -1}'),
    ('seed is at most 2^53 - 1',               '{"mode": "image", "prompt": "p", "seed": 9007199254740992}'),
    ('... 2^53 - 1 is fine',                   '{"mode": "image", "prompt": "p", "seed": 9007199254740991}'),
    ('settings is an object',                  '{"mode": "image", "prompt": "p", "settings": "16:9"}'),
    ('settings has no unknown keys',           '{"mode": "image", "prompt": "p", "settings": {"lora": "x"}}'),
    ('aspect_ratio is 16:9, 1:1 or 9:16',      '{"mode": "image", "prompt": "p", "settings": {"aspect_ratio": "99:1"}}'),
    ('shot_type is wide, medium or close',     '{"mode": "image", "prompt": "p", "settings": {"shot_type": "extreme"}}'),
    ('camera_angle is one of six',             '{"mode": "image", "prompt": "p", "settings": {"camera_angle": "dutch"}}'),
    ('style is at most 500 characters',        '{"mode": "image", "prompt": "p", "settings": {"style": "' || repeat('s', 501) || '"}}'),
    ('style has no control characters',        '{"mode": "image", "prompt": "p", "settings": {"style": "a\nb"}}'),
    ('reference_strength is 0 to 1',           '{"mode": "image", "prompt": "p", "settings": {"reference_strength": 1.01}}'),
    ('guidance_scale is 0 to 50',              '{"mode": "image", "prompt": "p", "settings": {"guidance_scale": 50.5}}'),
    ('num_inference_steps is 1 to 200',        '{"mode": "image", "prompt": "p", "settings": {"num_inference_steps": 201}}'),
    ('num_inference_steps is an integer',      '{"mode": "image", "prompt": "p", "settings": {"num_inference_steps": 20.5}}'),
    ('content_type is sfw or nsfw',            '{"mode": "image", "prompt": "p", "settings": {"content_type": "adult"}}'),
    ('enhancement_model is a qwen',            '{"mode": "image", "prompt": "p", "settings": {"enhancement_model": "gpt"}}'),
    ('exact_copy_mode is a boolean',           '{"mode": "image", "prompt": "p", "settings": {"exact_copy_mode": "yes"}}'),
    ('references are https:// URLs',           '{"mode": "image", "prompt": "p", "settings": {"reference_image": "http://example.com/a.png"}}'),
    ('... without spaces',                     '{"mode": "image", "prompt": "p", "settings": {"reference_image": "https://example.com/a b.png"}}'),
    ('... or a path with its bucket',          '{"mode": "image", "prompt": "p", "settings": {"reference_image": "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/ref.png"}}'),
    ('... of an existing object',              '{"mode": "image", "prompt": "p", "settings": {"reference_image": "user-library/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/gone.png"}}'),
    ('... of yours: another''s reads as missing', '{"mode": "image", "prompt": "p", "settings": {"reference_image": "user-library/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/ref.png"}}'),
    ('... never climbing out of your folder',  '{"mode": "image", "prompt": "p", "settings": {"reference_image": "user-library/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/../bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/ref.png"}}'),
    ('style_reference follows the same rule',  '{"mode": "image", "prompt": "p", "settings": {"style_reference": "user-library/bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/ref.png"}}'),
    ('every setting at once is fine',          '{"mode": "video", "prompt": "p", "settings": {"aspect_ratio": "9:16", "shot_type": "close",
        "camera_angle": "bird_eye", "style": "noir", "style_reference": "https://example.com/s.png",
        "reference_image": "/workspace-temp/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-000000000001/0.png/",
        "reference_strength": 1, "guidance_scale": 0, "num_inference_steps": 1, "content_type": "nsfw",
        "enhancement_model": "qwen_base", "exact_copy_mode": false}}'),
    ('a JSON null is no setting',              '{"mode": "image", "prompt": "p", "settings": {"aspect_ratio": null}}')
) as cases (rule, request);
-- references are stored normalised, with their bucket
select generation_settings ->> 'reference_image' as stored_reference from jobs where mode = 'video';
-- the idempotency key travels in a header: visible ASCII, at most 255
select rule, regress.try(format('select enqueue_job(%L, %L)', '{"mode": "image", "prompt": "p"}', key)) as answer
from (values ('the key is visible ASCII', 'a key'), ('the key has at most 255', repeat('k', 256)),
             ('... 255 is fine', repeat('k', 255))) as cases (rule, key);
reset ourvidz.max_active_jobs;

-- A plain PostgREST insert obeys the same rules.
select regress.try($$insert into jobs (job_type, mode, prompt, model, batch_size, generation_seed, generation_settings)
                     values ('image_fast', 'image', 'p', 'sdxl', 1, 1, '{"aspect_ratio": "99:1"}')$$) as insert_bad_settings;
select regress.try($$insert into jobs (job_type, mode, prompt, model, batch_size, generation_seed)
                     values ('image_fast', 'image', 'p', 'sdxl', 1, 9223372036854775807)$$) as insert_huge_seed;
-- and a user writes no workspace row at all: those are the worker's output
select regress.try($$insert into workspace_assets (job_id, asset_type, temp_storage_path, file_size_bytes, mime_type,
                         generation_seed, original_prompt, model_used)
                     select id, 'image', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/x.png', 1, 'image/png', 1, 'p', 'sdxl'
                     from jobs limit 1$$) as insert_workspace_row;

-- The caller: a signed-in user who exists ---------------------------------------------
reset role;
select set_config('request.jwt.claims', '{"sub": "cccccccc-cccc-4ccc-8ccc-cccccccccccc", "role": "authenticated"}', true),
       set_config('role', 'authenticated', true);
select rule, regress.try(statement) as answer
from (values ('enqueue: the token''s user exists', $$select enqueue_job('{"mode": "image", "prompt": "p"}')$$),
             ('list: the same',                    $$select list_workspace()$$),
             ('save: the same',                    $$select prepare_workspace_save(job_id => gen_random_uuid())$$),
             ('discard: the same',                 $$select discard_workspace_assets(job_id => gen_random_uuid())$$),
             ('clear: the same',                   $$select clear_workspace()$$),
             ('delete: the same',                  $$select delete_workspace_items(job_id => gen_random_uuid())$$)) as cases (rule, statement);
select set_config('request.jwt.claims', '{"sub": "not-a-uuid", "role": "authenticated"}', true);
select regress.try($$select list_workspace()$$) as subject_is_a_user_id;
select set_config('request.jwt.claims', '{"role": "authenticated"}', true);
select regress.try($$select list_workspace()$$) as subject_is_required;

-- The workspace API -------------------------------------------------------------------
reset role;
select regress.seed_workspace('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000002', 1);
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
create temp table item on commit drop as
    select prepare_workspace_save(job_id => '10000000-0000-4000-8000-000000000002') -> 'items' as items;
select rule, regress.try(statement) as answer
from (values
    ('page_size is 1 to 100',            $$select list_workspace(101)$$),
    ('... 100 is fine',                  $$select list_workspace(100)$$),
    ('before is a previous page''s next', $$select list_workspace(null, '{"created_at": "noon", "job_id": "x"}')$$),
    ('1 to 100 asset ids',               $$select discard_workspace_assets(array(select gen_random_uuid() from generate_series(1, 101)))$$),
    ('asset ids or a job, not both',     $$select discard_workspace_assets('{10000000-0000-4000-8000-000000000002}', '10000000-0000-4000-8000-000000000002')$$),
    ('an asset id or a job, not both',   $$select delete_workspace_items('10000000-0000-4000-8000-000000000002', '10000000-0000-4000-8000-000000000002')$$),
    ('1 to 100 prepared items',          $$select save_workspace_assets('[]')$$),
    ('a title is not blank',             $$select save_workspace_assets((select items from item), custom_title => '  ')$$),
    ('a title has at most 200',          $$select save_workspace_assets((select items from item), custom_title => repeat('t', 201))$$),
    ('at most 50 tags',                  $$select save_workspace_assets((select items from item), tags => array_fill('t'::text, '{51}'))$$),
    ('a tag has at most 50 characters',  $$select save_workspace_assets((select items from item), tags => array[repeat('t', 51)])$$),
    ('a tag is not blank',               $$select save_workspace_assets((select items from item), tags => '{" "}')$$),
    ('a tag has no control characters',  $$select save_workspace_assets((select items from item), tags => array[E'a\tb'])$$),
    ('... checked before any copy',      $$select prepare_workspace_save(job_id => '10000000-0000-4000-8000-000000000002', tags => '{" "}')$$),
    ('50 tags of 50 are fine',           $$select save_workspace_assets((select items from item), custom_title => 'fox', tags => array_fill(repeat('t', 50), '{50}'))$$)
) as cases (rule, statement);
-- tags are stored trimmed
reset role;
select regress.seed_workspace('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000003', 1);
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
select save_workspace_assets(prepare_workspace_save(job_id => '10000000-0000-4000-8000-000000000003') -> 'items',
                             tags => '{" red ", "fox"}') -> 'failed' as failed;
select tags from user_library where job_id = '10000000-0000-4000-8000-000000000003';

-- The worker API ------------------------------------------------------------------------
reset role;
insert into jobs (id, user_id, job_type, mode, prompt, model, batch_size, generation_seed, status, worker_id,
                  lease_expires_at, attempts)
values ('10000000-0000-4000-8000-000000000009', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'image_fast', 'image', 'p', 'sdxl',
        2, 9007199254740991, 'processing', 'w', now() + interval '1 minute', 1);
select regress.act_as_service();
create function pg_temp.completion(asset jsonb) returns text language sql as $$
    select format('select record_job_result(%L)', jsonb_build_object(
        'job_id', '10000000-0000-4000-8000-000000000009', 'status', 'completed', 'worker_id', 'w',
        'assets', jsonb_build_array(jsonb_build_object(
            'asset_index', 0, 'mime_type', 'image/png', 'file_size_bytes', 1,
            'storage_path', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-000000000009/0.png') || asset)))
$$;
select rule, regress.try(statement) as answer
from (values
    ('worker_id is a name',              $$select claim_jobs('gpu 1')$$),
    ('worker_id has at most 200',        $$select claim_jobs(repeat('w', 201))$$),
    ('max_jobs is 1 to 100',             $$select claim_jobs('w', 101)$$),
    ('a lease is 5 to 3600 seconds',     $$select claim_jobs('w', 1, 3601)$$),
    ('... also for a heartbeat',         $$select heartbeat_job('10000000-0000-4000-8000-000000000009', 'w', 4)$$),
    ('status is one of three',           $$select record_job_result('{"job_id": "10000000-0000-4000-8000-000000000009", "status": "done"}')$$),
    ('no unknown fields',                $$select record_job_result('{"job_id": "10000000-0000-4000-8000-000000000009", "status": "failed", "retry": true}')$$),
    ('an error only when failed',        $$select record_job_result('{"job_id": "10000000-0000-4000-8000-000000000009", "status": "processing", "error": "x"}')$$),
    ('an error has at most 2000',        format('select record_job_result(%L)', jsonb_build_object(
                                             'job_id', '10000000-0000-4000-8000-000000000009', 'status', 'failed', 'error', repeat('e', 2001)))),
    ('an error has no control characters', $$select record_job_result('{"job_id": "10000000-0000-4000-8000-000000000009", "status": "failed", "error": "a\u0001"}')$$),
    ('assets only when completed',       $$select record_job_result('{"job_id": "10000000-0000-4000-8000-000000000009", "status": "processing", "assets": [{}]}')$$),
    ('at most 100 assets',               format('select record_job_result(%L)', jsonb_build_object(
                                             'job_id', '10000000-0000-4000-8000-000000000009', 'status', 'completed',
                                             'assets', (select jsonb_agg('{}'::jsonb) from generate_series(1, 101))))),
    ('each asset_index once',            format('select record_job_result(%L)', jsonb_build_object(
                                             'job_id', '10000000-0000-4000-8000-000000000009', 'status', 'completed',
                                             'assets', '[{"asset_index": 0}, {"asset_index": 0}]'::jsonb))),
    ('asset_index below the batch size', pg_temp.completion('{"asset_index": 2}')),
    ('paths in the job''s folder',       pg_temp.completion('{"storage_path": "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/x.png"}')),
    ('paths of plain names',             pg_temp.completion('{"storage_path": "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-000000000009/%2e%2e"}')),
    ('paths never climb',                pg_temp.completion('{"thumbnail_path": "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-000000000009/../x.png"}')),
    ('mime_type is one of the buckets''', pg_temp.completion('{"mime_type": "image/gif"}')),
    ('mime_type fits the job''s mode',   pg_temp.completion('{"mime_type": "video/mp4"}')),
    ('file_size_bytes is at least 1',    pg_temp.completion('{"file_size_bytes": 0}')),
    ('file_size_bytes is at most 1 GiB', pg_temp.completion('{"file_size_bytes": 1073741825}')),
    ('width is 1 to 16384',              pg_temp.completion('{"width": 16385}')),
    ('duration_seconds is above 0',      pg_temp.completion('{"duration_seconds": 0}')),
    ('duration_seconds is at most 3600', pg_temp.completion('{"duration_seconds": 3600.5}')),
    ('generation_seed is 0 to 2^53 - 1', pg_temp.completion('{"generation_seed": 9007199254740992}')),
    ('outbox claims take 1 to 1000',     $$select claim_storage_deletions(1001)$$)
) as cases (rule, statement);
-- a job seeded at 2^53 - 1 completes: the second asset's seed wraps to 0
select record_job_result(jsonb_build_object('job_id', '10000000-0000-4000-8000-000000000009', 'status', 'completed',
    'assets', jsonb_build_array(
        jsonb_build_object('asset_index', 0, 'mime_type', 'image/png', 'file_size_bytes', 1,
            'storage_path', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-000000000009/0.png'),
        jsonb_build_object('asset_index', 1, 'mime_type', 'image/png', 'file_size_bytes', 1,
            'storage_path', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-000000000009/1.png'))))
    #>> '{job,status}' as status;
select asset_index, generation_seed from workspace_assets
where job_id = '10000000-0000-4000-8000-000000000009' order by asset_index;
-- a lease is 30 seconds unless the worker asks otherwise, for claims and heartbeats
create temp table leased on commit drop as select claim_jobs('w') #> '{jobs,0}' as job;
select (job ->> 'lease_expires_at')::timestamptz - now() as default_lease from leased;
select (heartbeat_job((job ->> 'id')::uuid, 'w') ->> 'lease_expires_at')::timestamptz - now() as heartbeat_lease from leased;

-- Tables the service role writes obey the rules too: no workspace row outlives 7 days.
select regress.try($$insert into workspace_assets (user_id, job_id, asset_type, temp_storage_path, file_size_bytes,
                         mime_type, generation_seed, original_prompt, model_used, expires_at)
                     values ('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', '10000000-0000-4000-8000-000000000009', 'image',
                             'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-000000000009/5.png', 1, 'image/png',
                             1, 'p', 'sdxl', now() + interval '7 days 1 second')$$) as outliving_row;

-- Every security definer function pins its search_path.
reset role;
select p.oid::regprocedure as definer_without_search_path
from pg_proc p
where p.prosecdef
  and p.pronamespace in ('public'::regnamespace, 'ourvidz_private'::regnamespace)
  and not exists (select 1 from unnest(p.proconfig) c where c like 'search_path=%');
rollback;
