-- The job queue: enqueue (validation, defaults, idempotency, the per-user cap),
-- claim (order, leases, retries, exhaustion), heartbeat, and every transition
-- of record_job_result, legal and illegal.
\set VERBOSITY terse
begin;

-- enqueue_job ---------------------------------------------------------------------
select regress.act_as('aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa');
-- defaults: fast quality, sdxl, the 1x3 set
select regress.stable(enqueue_job('{"mode": "image", "prompt": "  a red fox  ", "seed": 7}'));
select regress.stable(enqueue_job('{"mode": "video", "prompt": "a fox running", "quality": "high", "model": "wan-2",
                                    "seed": 9, "settings": {"aspect_ratio": "16:9"}}'));
-- a random seed when none is given
with enqueued as (select (enqueue_job('{"mode": "image", "prompt": "p"}') #>> '{job,generation_seed}')::bigint as seed)
select seed between 0 and 4294967295 as seeded from enqueued;

-- bad requests
savepoint attack;
select enqueue_job('{"mode": "image", "prompt": "p", "admin": true}');
rollback to savepoint attack;
select enqueue_job('{"mode": "gif", "prompt": "p"}');
rollback to savepoint attack;
select enqueue_job('{"prompt": "p"}');
rollback to savepoint attack;
select enqueue_job('{"mode": "image", "prompt": "   "}');
rollback to savepoint attack;
select enqueue_job(jsonb_build_object('mode', 'image', 'prompt', repeat('x', 4001)));
rollback to savepoint attack;
select enqueue_job('{"mode": "image", "prompt": 42}');
rollback to savepoint attack;
select enqueue_job('{"mode": "image", "prompt": "p", "batch_size": 5}');
rollback to savepoint attack;
select enqueue_job('{"mode": "image", "prompt": "p", "batch_size": 2.5}');
rollback to savepoint attack;
select enqueue_job('{"mode": "video", "prompt": "p", "batch_size": 3}');
rollback to savepoint attack;
select enqueue_job('{"mode": "image", "prompt": "p", "quality": "ultra"}');
rollback to savepoint attack;
select enqueue_job('{"mode": "image", "prompt": "p", "model": "../sdxl"}');
rollback to savepoint attack;
select enqueue_job('{"mode": "image", "prompt": "p", "model": "stabilityai/sdxl..base"}');
rollback to savepoint attack;
select enqueue_job('{"mode": "image", "prompt": "p", "settings": "16:9"}');
rollback to savepoint attack;
select enqueue_job('{"mode": "image", "prompt": "p", "seed": "7"}');
rollback to savepoint attack;
select enqueue_job('[]');
rollback to savepoint attack;

-- the same idempotency key returns the same job, once created
select (enqueue_job('{"mode": "image", "prompt": "once", "seed": 11}', 'key-1') -> 'created') as first,
       (enqueue_job('{"mode": "image", "prompt": "once", "seed": 11}', 'key-1') -> 'created') as again;
select count(*) as jobs_with_key from jobs where idempotency_key = 'key-1';
-- keys are per user: bob may use the same key
reset role;
select regress.act_as('bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb');
select enqueue_job('{"mode": "image", "prompt": "bob once"}', 'key-1') -> 'created' as bob_first;

-- at most ourvidz.max_active_jobs queued or processing jobs per user
set local ourvidz.max_active_jobs = 2;
select enqueue_job('{"mode": "image", "prompt": "2"}') -> 'created' as second;
savepoint attack;
select enqueue_job('{"mode": "image", "prompt": "3"}');
rollback to savepoint attack;
-- ... also for a plain insert through PostgREST
insert into jobs (job_type, mode, prompt, model, batch_size, generation_seed)
values ('image_fast', 'image', 'p', 'sdxl', 1, 1);
rollback to savepoint attack;
-- but an idempotent replay at the cap still answers
select enqueue_job('{"mode": "image", "prompt": "bob once"}', 'key-1') -> 'created' as replay_at_cap;
reset ourvidz.max_active_jobs;

-- claim_jobs ------------------------------------------------------------------------
reset role;
-- distinct arrival times (everything in this transaction shares one now())
update jobs j set created_at = now() + make_interval(secs => array_position(
    array['a red fox', 'a fox running', 'p', 'once', 'bob once', '2'], j.prompt));
select regress.act_as_service();
select jsonb_array_length(claim_jobs('worker-1', 2) -> 'jobs') as claimed;
-- oldest first, leased to the worker, one attempt spent
select prompt, status, worker_id, attempts, lease_expires_at > now() as leased from jobs order by created_at, prompt;
select jsonb_array_length(claim_jobs('worker-2', 10) -> 'jobs') as claimed_the_rest;
select jsonb_array_length(claim_jobs('worker-3') -> 'jobs') as nothing_left;
savepoint attack;
select claim_jobs('');
rollback to savepoint attack;
select claim_jobs('w', 0);
rollback to savepoint attack;
select claim_jobs('w', 1, 1);
rollback to savepoint attack;

-- heartbeat_job: only the lease holder extends its lease
reset role;
create temp table fox on commit drop as
    select id from jobs where prompt = 'a red fox';
grant select on fox to service_role;
select regress.act_as_service();
savepoint attack;
select heartbeat_job((select id from fox), 'worker-1') ? 'lease_expires_at' as extended;
select heartbeat_job((select id from fox), 'worker-2');
rollback to savepoint attack;
select heartbeat_job('99999999-9999-4999-8999-999999999999', 'worker-1');
rollback to savepoint attack;

-- A worker that dies leaves its lease to run out: the job is claimed again,
-- by someone else, with one more attempt ...
reset role;
update jobs set lease_expires_at = now() - interval '1 second' where id = (select id from fox);
select regress.act_as_service();
select j -> 'prompt' as prompt, j -> 'attempts' as attempts, j -> 'worker_id' as worker
from jsonb_array_elements(claim_jobs('worker-4') -> 'jobs') j;
-- ... and once max_attempts are spent it fails, and its uploads are queued.
reset role;
insert into storage.objects (bucket_id, name)
select 'workspace-temp', format('%s/%s/0.png', user_id, id) from jobs where id = (select id from fox);
update jobs set lease_expires_at = now() - interval '1 second', attempts = max_attempts where id = (select id from fox);
select regress.act_as_service();
select jsonb_array_length(claim_jobs('worker-5') -> 'jobs') as claimed;
select status, error, worker_id, lease_expires_at from jobs where id = (select id from fox);
select reason, object_name like '%/0.png' as upload from storage_deletion_outbox;

-- record_job_result ---------------------------------------------------------------
reset role;
create temp table cb on commit drop as
    select id, user_id, format('%s/%s/', user_id, id) as folder from jobs where prompt = 'once';
grant select on cb to service_role;
create function pg_temp.asset(i integer, thumb boolean default false) returns jsonb language sql as $$
    select jsonb_build_object('asset_index', i, 'storage_path', 'workspace-temp/' || (select folder from cb) || i || '.png',
                              'mime_type', 'image/png', 'file_size_bytes', 1000 + i, 'width', 1024, 'height', 1024)
           || case when thumb then jsonb_build_object('thumbnail_path', (select folder from cb) || 'thumbnails/' || i || '.png')
                   else '{}' end
$$;
create function pg_temp.callback(status text, assets jsonb default null, error text default null) returns jsonb language sql as $$
    select regress.stable(record_job_result(jsonb_strip_nulls(jsonb_build_object(
        'job_id', (select id from cb), 'status', status, 'worker_id', 'worker-9', 'assets', assets, 'error', error))))
$$;
select regress.act_as_service();
-- (the job is processing: worker-2 claimed it above)
select pg_temp.callback('processing') #> '{job,status}' as ack;
-- bad callbacks
savepoint attack;
select record_job_result('{"job_id": "not-a-uuid", "status": "processing"}');
rollback to savepoint attack;
select record_job_result(jsonb_build_object('job_id', (select id from cb), 'status', 'done'));
rollback to savepoint attack;
select record_job_result(jsonb_build_object('job_id', (select id from cb), 'status', 'processing', 'extra', 1));
rollback to savepoint attack;
select pg_temp.callback('completed', '[]');
rollback to savepoint attack;
select pg_temp.callback('completed', jsonb_build_array(pg_temp.asset(3)));  -- batch of 3: indexes 0..2
rollback to savepoint attack;
select pg_temp.callback('completed', jsonb_build_array(pg_temp.asset(0) || '{"storage_path": "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb/x.png"}'));
rollback to savepoint attack;
select pg_temp.callback('completed', jsonb_build_array(pg_temp.asset(0) || jsonb_build_object('storage_path', (select folder from cb) || '../x.png')));
rollback to savepoint attack;
select pg_temp.callback('completed', jsonb_build_array(pg_temp.asset(0) || '{"mime_type": "video/mp4"}'));
rollback to savepoint attack;
select pg_temp.callback('completed', jsonb_build_array(pg_temp.asset(0) || '{"secret": 1}'));
rollback to savepoint attack;
select pg_temp.callback('processing', jsonb_build_array(pg_temp.asset(0)));
rollback to savepoint attack;
-- completed: assets inserted once, with the job's generation context
select pg_temp.callback('completed', jsonb_build_array(pg_temp.asset(0, true), pg_temp.asset(1), pg_temp.asset(2)));
select asset_index, temp_storage_path = (select folder from cb) || asset_index || '.png' as path_normalised,
       thumbnail_path is not null as thumbnail, original_prompt, model_used, generation_seed - (select generation_seed from jobs where id = (select id from cb)) as seed_offset
from workspace_assets where job_id = (select id from cb) order by asset_index;
-- the same callback again: same answer, nothing duplicated
select pg_temp.callback('completed', jsonb_build_array(pg_temp.asset(0, true), pg_temp.asset(1), pg_temp.asset(2)));
select count(*) as assets from workspace_assets where job_id = (select id from cb);
-- a late duplicate naming an object no row owns: the object is queued
select pg_temp.callback('completed', jsonb_build_array(pg_temp.asset(0) || jsonb_build_object(
    'storage_path', (select folder from cb) || 'stray.png'))) -> 'assets' as assets;
select object_name like '%/stray.png' as stray, reason from storage_deletion_outbox where reason = 'callback_rejected';
-- illegal transitions answer 409 and change nothing
select pg_temp.callback('failed', error => 'too late');
select pg_temp.callback('processing');
select status from jobs where id = (select id from cb);

-- failed: from processing and from queued; a failed job can't complete later
select regress.stable(record_job_result(jsonb_build_object('job_id', j.id, 'status', 'failed', 'error', 'GPU fell over')))
from jobs j where j.prompt = 'a fox running';
select regress.stable(record_job_result(jsonb_build_object('job_id', j.id, 'status', 'failed')))
from jobs j where j.prompt = 'a fox running';
select regress.stable(record_job_result(jsonb_build_object('job_id', j.id, 'status', 'completed', 'assets',
    jsonb_build_array(jsonb_build_object('asset_index', 0, 'storage_path', format('%s/%s/0.mp4', j.user_id, j.id),
                                         'mime_type', 'video/mp4', 'file_size_bytes', 1)))))
from jobs j where j.prompt = 'a fox running';

-- queued → processing (a push-style worker reporting without claim_jobs)
reset role;
insert into jobs (id, user_id, job_type, mode, prompt, model, batch_size, generation_seed)
values ('10000000-0000-4000-8000-00000000000f', 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'image_fast', 'image', 'pushed', 'sdxl', 1, 1);
select regress.act_as_service();
select regress.stable(record_job_result('{"job_id": "10000000-0000-4000-8000-00000000000f", "status": "completed",
    "assets": [{"asset_index": 0, "storage_path": "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-00000000000f/0.png",
                "mime_type": "image/png", "file_size_bytes": 1}]}'));
select (regress.stable(record_job_result('{"job_id": "10000000-0000-4000-8000-00000000000f", "status": "processing",
                                          "worker_id": "pusher"}')) #> '{job}') - 'generation_seed' as job;

-- a job deleted while rendering: 404, and the uploads it reports are queued
select record_job_result('{"job_id": "10000000-0000-4000-8000-0000000000dd", "status": "completed",
    "assets": [{"asset_index": 0, "storage_path": "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/10000000-0000-4000-8000-0000000000dd/0.png",
                "mime_type": "image/png", "file_size_bytes": 1}]}');
select object_name, reason from storage_deletion_outbox where object_name like '%0000000000dd%';
rollback;
