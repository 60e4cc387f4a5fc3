//! Benchmarks of the whole stack (not tests; not run by CI):
//!
//!   cargo build --release -p ourvidz-runtime
//!   cargo build --release --target wasm32-wasip2 -p job-callback -p workspace-actions -p queue-job
//!   OURVIDZ_E2E_PROFILE=release OURVIDZ_TEST_PG=... cargo bench -p ourvidz-e2e --bench stack
//!   (BENCH_ONLY=queue,functions,e2e,listing runs a part; BENCH_SECONDS per
//!   step, default 5; BENCH_FULL=1 the full sizes of issue 13)
//!
//! Each figure is printed as a line and as a machine-readable
//! `BENCH|figure|ours|baseline|unit|target` row (bench/run.sh's table).
//!
//! 1. queue: claim + complete jobs/s with 1, 2, 4 and 8 workers, each a
//!    connection of its own burning down no-op jobs queued beforehand. Ours,
//!    as the reference worker runs it (through PostgREST RPC, so as the
//!    service role): `claim_jobs(worker, 10)`, then one `record_job_result`
//!    per job, completed with one asset. The baseline on the same database
//!    in the same run, River's shape (its JobGetAvailable and
//!    JobSetStateIfRunning): a `FOR UPDATE SKIP LOCKED` CTE claiming 10, then
//!    per job an UPDATE to completed if still running plus the INSERT of its
//!    asset row — the same rows written, none of the API's checks.
//! 2. the function path: `job-callback` (a completed callback with one
//!    asset) and `workspace-actions` GET (a page of 20 jobs, 60 assets with
//!    their objects, one batch sign) through HTTP → gateway → wasm →
//!    Postgres, against a native Rust client (tokio-postgres, a pool as large
//!    as the runtime's, statements prepared once) running the same SQL with
//!    the same transaction shape (`begin; set_config(role, claims); call;
//!    commit`) and, for the listing, the same batch-sign request to the
//!    Storage API; closed loop at 1, 8 and 32 concurrent clients: p50 and
//!    requests/s. Commits are asynchronous in this part (for both), so the
//!    disk's flushes, equal for both and noisy on a shared machine, don't
//!    hide what the host costs.
//! 3. end-to-end jobs/s: queue-job → reference worker (render 256 px, upload,
//!    callback) with 1, 2 and 4 workers (informational).
//! 4. workspace listing latency (GET workspace-actions, one page of 20 jobs
//!    with its batch-signed URLs) for a user with 10,000 assets among
//!    1,000,000 (BENCH_FULL; informational).
//!
//! Everything shares the machine's cores with Postgres and the server.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use ourvidz_e2e::{Method, Stack, StackOptions, StatusCode};
use serde_json::{json, Value};
use tokio_postgres::NoTls;
use uuid::Uuid;

/// The runtime's Postgres pool (its `--pg-pool-size` default); the native
/// client gets as many connections.
const POOL: usize = 16;

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// One row of bench/run.sh's table; a NaN baseline (none) is printed as "-".
fn bench_row(figure: &str, ours: f64, baseline: f64, unit: &str, target: &str) {
    let baseline = if baseline.is_nan() { "-".to_owned() } else { format!("{baseline:.2}") };
    println!("BENCH|{figure}|{ours:.2}|{baseline}|{unit}|{target}");
}

fn seconds() -> u64 {
    std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5)
}

fn full() -> bool {
    std::env::var("BENCH_FULL").is_ok_and(|v| v == "1")
}

/// Queue `jobs` no-op jobs directly in SQL, spread over users so the
/// per-user cap never binds (in statements of 10,000: the cap's trigger
/// takes a lock per user).
async fn prefill(stack: &Stack, jobs: i32, status: &str) {
    let db = stack.sql().await;
    let mut left = jobs;
    while left > 0 {
        let chunk = left.min(10_000);
        left -= chunk;
        db.batch_execute(&format!(
            "create temp table u as select gen_random_uuid() as id, n from generate_series(1, greatest({chunk} / 5, 1)) n;
             insert into auth.users (id) select id from u;
             insert into jobs (user_id, job_type, mode, prompt, model, batch_size, generation_seed, status, worker_id, lease_expires_at)
             select u.id, 'image_fast', 'image', 'bench', 'sdxl', 1, g, '{status}',
                    case when '{status}' = 'processing' then 'bench' end,
                    case when '{status}' = 'processing' then now() + interval '1 hour' end
             from generate_series(1, {chunk}) g
             join u on u.n = g % greatest({chunk} / 5, 1) + 1;
             drop table u;"
        ))
        .await
        .expect("prefill");
    }
    db.batch_execute("analyze jobs").await.expect("analyze");
}

/// A completed callback for `job` of `user`, with one asset.
fn completion(job: Uuid, user: Uuid, worker: &str) -> Value {
    json!({"job_id": job, "status": "completed", "worker_id": worker, "assets": [
        {"asset_index": 0, "storage_path": format!("{user}/{job}/0.png"), "mime_type": "image/png",
         "file_size_bytes": 1000, "width": 64, "height": 64}]})
}

const SERVICE_SESSION: &str =
    "select set_config('role', 'service_role', true), set_config('request.jwt.claims', '{\"role\": \"service_role\"}', true)";

/// One worker of ours: claim 10, complete each, until the queue is empty.
async fn our_worker(db: tokio_postgres::Client, worker: String) -> u64 {
    let claim = db.prepare("select claim_jobs($1, 10)::text").await.expect("prepare claim");
    let record = db.prepare("select record_job_result($1::text::jsonb)::text").await.expect("prepare record");
    let mut done = 0;
    loop {
        db.batch_execute(&format!("begin; {SERVICE_SESSION}")).await.expect("begin");
        let claimed: String = db.query_one(&claim, &[&worker]).await.expect("claim").get(0);
        db.batch_execute("commit").await.expect("commit");
        let claimed: Value = serde_json::from_str(&claimed).expect("claim JSON");
        let jobs = claimed["jobs"].as_array().cloned().unwrap_or_default();
        if jobs.is_empty() {
            return done;
        }
        for job in jobs {
            let (id, user) = (job["id"].as_str().expect("id"), job["user_id"].as_str().expect("user"));
            let body = completion(id.parse().expect("uuid"), user.parse().expect("uuid"), &worker).to_string();
            db.batch_execute(&format!("begin; {SERVICE_SESSION}")).await.expect("begin");
            let answer: String = db.query_one(&record, &[&body]).await.expect("record").get(0);
            db.batch_execute("commit").await.expect("commit");
            assert!(answer.contains("\"completed\""), "{answer}");
            done += 1;
        }
    }
}

/// One worker of the baseline: River's claim and completion, plus the asset.
async fn river_worker(db: tokio_postgres::Client, worker: String) -> u64 {
    let claim = db
        .prepare(
            "with locked as (
                 select id from jobs where status = 'queued' order by created_at limit $2 for update skip locked
             )
             update jobs j set status = 'processing', worker_id = $1, attempts = j.attempts + 1,
                               started_at = now(), lease_expires_at = now() + interval '30 seconds'
             from locked where j.id = locked.id
             returning j.id, j.user_id",
        )
        .await
        .expect("prepare claim");
    let complete = db
        .prepare(
            "update jobs set status = 'completed', completed_at = now(), worker_id = null, lease_expires_at = null
             where id = $1 and status = 'processing' and worker_id = $2",
        )
        .await
        .expect("prepare complete");
    let asset = db
        .prepare(
            "insert into workspace_assets (user_id, job_id, asset_index, asset_type, temp_storage_path, file_size_bytes,
                                           mime_type, generation_seed, original_prompt, model_used, width, height)
             values ($1, $2, 0, 'image', $3, 1000, 'image/png', 1, 'bench', 'sdxl', 64, 64)",
        )
        .await
        .expect("prepare asset");
    let mut done = 0;
    loop {
        db.batch_execute("begin").await.expect("begin");
        let rows = db.query(&claim, &[&worker, &10i64]).await.expect("claim");
        db.batch_execute("commit").await.expect("commit");
        if rows.is_empty() {
            return done;
        }
        for row in rows {
            let (job, user): (Uuid, Uuid) = (row.get(0), row.get(1));
            db.batch_execute("begin").await.expect("begin");
            db.execute(&complete, &[&job, &worker]).await.expect("complete");
            db.execute(&asset, &[&user, &job, &format!("{user}/{job}/0.png")]).await.expect("asset");
            db.batch_execute("commit").await.expect("commit");
            done += 1;
        }
    }
}

async fn queue_throughput(stack: &Stack) {
    println!("== queue: claim + complete jobs/s (ours: claim_jobs/record_job_result; baseline: River-shaped SQL)");
    let jobs: i32 = if full() { 20_000 } else { 4_000 };
    for workers in [1, 2, 4, 8] {
        let mut rates = Vec::new();
        for ours in [true, false] {
            prefill(stack, jobs, "queued").await;
            let started = Instant::now();
            let mut tasks = Vec::new();
            for n in 0..workers {
                let db = connect(&stack.db_url).await;
                let worker = format!("bench-{n}");
                tasks.push(if ours { tokio::spawn(our_worker(db, worker)) } else { tokio::spawn(river_worker(db, worker)) });
            }
            let mut total = 0;
            for task in tasks {
                total += task.await.expect("worker");
            }
            assert_eq!(total, jobs as u64, "every queued job completed");
            rates.push(total as f64 / started.elapsed().as_secs_f64());
            stack.sql().await.batch_execute("delete from jobs; delete from storage_deletion_outbox").await.expect("reset");
        }
        println!("  {workers} worker(s): ours {:.0} jobs/s, River-shaped {:.0} jobs/s", rates[0], rates[1]);
        bench_row(&format!("queue: claim + complete jobs/s, {workers} worker(s)"), rates[0], rates[1], "jobs/s", "ratio>=1.0");
    }
}

/// Closed-loop load: `clients` tasks calling `request` for `duration`;
/// returns (requests/s, sorted latencies).
async fn closed_loop<F, Fut>(clients: usize, duration: Duration, request: F) -> (f64, Vec<Duration>)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let request = Arc::new(request);
    let counter = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (request, counter) = (request.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                request(n).await;
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client"));
    }
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    (rate, latencies)
}

fn native_pool(url: &str) -> Pool {
    let config: tokio_postgres::Config = url.parse().expect("a database URL");
    let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager).max_size(POOL).build().expect("pool")
}

/// `begin; set_config(role, claims); <statement>(param); commit`, statements
/// prepared once per connection: what the function runs, natively.
async fn native_call(pool: &Pool, role: &str, claims: &str, statement: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) -> Value {
    let db = pool.get().await.expect("a pooled connection");
    let session = db
        .prepare_cached("select set_config('role', $1::text, true), set_config('request.jwt.claims', $2::text, true)")
        .await
        .expect("prepare session");
    let call = db.prepare_cached(statement).await.expect("prepare call");
    db.batch_execute("begin").await.expect("begin");
    db.query_one(&session, &[&role, &claims]).await.expect("session");
    let answer: String = db.query_one(&call, params).await.expect("call").get(0);
    db.batch_execute("commit").await.expect("commit");
    serde_json::from_str(&answer).expect("a JSON answer")
}

async fn function_path(stack: &Stack) {
    println!("== the function path against a native client (same SQL, same transaction shape)");
    let duration = Duration::from_secs(seconds());
    let levels = [1usize, 8, 32];
    // Commits without waiting for the disk, for both: a flush costs the same
    // either way, and on a shared machine its noise would hide the host's cost.
    let database = stack.db_url.rsplit('/').next().expect("a database in the URL").to_owned();
    stack.sql().await.batch_execute(&format!("alter database {database} set synchronous_commit = off"))
        .await.expect("asynchronous commits");
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("http client");
    let pool = native_pool(&stack.db_url);

    // job-callback: every request completes a job of its own
    // more than the fastest of them can do in a step
    let per_step = 4_000 * seconds() as usize;
    prefill(stack, (per_step * levels.len() * 2) as i32, "processing").await;
    let rows = stack.sql().await.query("select id, user_id from jobs", &[]).await.expect("jobs");
    let bodies: Arc<Vec<String>> =
        Arc::new(rows.iter().map(|r| completion(r.get(0), r.get(1), "bench").to_string()).collect());
    let service = stack.service_token();
    let mut next = 0;
    for clients in levels {
        let mut take = || {
            let range = next..next + per_step;
            next += per_step;
            range
        };
        let (ours_range, native_range) = (take(), take());
        let (bodies_ours, http_ours, url, token) =
            (bodies.clone(), http.clone(), format!("{}/functions/v1/job-callback", stack.api), service.clone());
        let (ours_rate, ours) = closed_loop(clients, duration, move |n| {
            let (http, url, token) = (http_ours.clone(), url.clone(), token.clone());
            assert!(n < ours_range.len(), "more callbacks than jobs queued for the step");
            let body = bodies_ours[ours_range.start + n].clone();
            async move {
                let response = http.post(url).bearer_auth(token).header("content-type", "application/json").body(body)
                    .send().await.expect("callback");
                assert_eq!(response.status(), StatusCode::OK);
                let _: Value = response.json().await.expect("JSON");
            }
        })
        .await;
        let (bodies_native, pool_native) = (bodies.clone(), pool.clone());
        let (native_rate, native) = closed_loop(clients, duration, move |n| {
            let pool = pool_native.clone();
            assert!(n < native_range.len(), "more callbacks than jobs queued for the step");
            let body = bodies_native[native_range.start + n].clone();
            async move {
                let answer = native_call(&pool, "service_role", "{\"role\": \"service_role\"}",
                                         "select public.record_job_result($1::text::jsonb)::text", &[&body]).await;
                assert!(answer.get("error").is_none(), "{answer}");
            }
        })
        .await;
        report("job-callback", clients, (ours_rate, &ours), (native_rate, &native));
    }
    stack.sql().await.batch_execute("delete from jobs; delete from storage_deletion_outbox").await.expect("reset");

    // workspace-actions GET: ten users, each with 20 completed jobs of 3 assets
    // (a thumbnail on the first) whose objects exist
    let db = stack.sql().await;
    let mut users = Vec::new();
    for _ in 0..10 {
        users.push(stack.new_user().await);
    }
    db.execute(
        "insert into jobs (id, user_id, job_type, mode, prompt, model, batch_size, generation_seed, status, created_at)
         select gen_random_uuid(), u, 'image_fast', 'image', 'listing', 'sdxl', 3, g, 'completed', now() - make_interval(secs => g)
         from unnest($1::uuid[]) u, generate_series(1, 20) g",
        &[&users],
    )
    .await
    .expect("jobs");
    db.batch_execute(
        "insert into workspace_assets (user_id, job_id, asset_index, asset_type, temp_storage_path, thumbnail_path,
                                       file_size_bytes, mime_type, generation_seed, original_prompt, model_used, width, height)
         select j.user_id, j.id, i, 'image', format('%s/%s/%s.png', j.user_id, j.id, i),
                case when i = 0 then format('%s/%s/thumbnails/%s.png', j.user_id, j.id, i) end,
                1000, 'image/png', 1, 'bench', 'sdxl', 64, 64
         from jobs j cross join generate_series(0, 2) i;
         insert into storage.objects (bucket_id, name, owner, owner_id, metadata)
         select 'workspace-temp', o.name, w.user_id, w.user_id::text, '{\"size\": 1000, \"mimetype\": \"image/png\"}'
         from workspace_assets w cross join lateral (values (w.temp_storage_path), (w.thumbnail_path)) o (name)
         where o.name is not null;
         analyze;",
    )
    .await
    .expect("assets and their objects");
    let tokens: Arc<Vec<(String, String)>> = Arc::new(
        users
            .iter()
            .map(|u| (stack.user_token(*u), json!({"sub": u, "role": "authenticated", "aud": "authenticated"}).to_string()))
            .collect(),
    );
    let answer = stack.call(Method::GET, "workspace-actions", Some(&tokens[0].0), None).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["jobs"].as_array().map(Vec::len), Some(20), "{}", answer.body);
    assert!(answer.body["jobs"][0]["assets"][0]["url"].is_string(), "signed: {}", answer.body);
    for clients in levels {
        let (tokens_ours, http_ours, url) = (tokens.clone(), http.clone(), format!("{}/functions/v1/workspace-actions", stack.api));
        let (ours_rate, ours) = closed_loop(clients, duration, move |n| {
            let (http, url) = (http_ours.clone(), url.clone());
            let token = tokens_ours[n % tokens_ours.len()].0.clone();
            async move {
                let response = http.get(url).bearer_auth(token).send().await.expect("listing");
                assert_eq!(response.status(), StatusCode::OK);
                let _: Value = response.json().await.expect("JSON");
            }
        })
        .await;
        let (tokens_native, http_native, pool_native, sign_url) =
            (tokens.clone(), http.clone(), pool.clone(), format!("{}/storage/v1/object/sign/workspace-temp", stack.api));
        let (native_rate, native) = closed_loop(clients, duration, move |n| {
            let (http, pool, sign_url) = (http_native.clone(), pool_native.clone(), sign_url.clone());
            let (token, claims) = tokens_native[n % tokens_native.len()].clone();
            async move {
                let mut page = native_call(&pool, "authenticated", &claims,
                    "select public.list_workspace($1::text::int, $2::text::jsonb, $3::text, $4::text, $5::text, \
                     $6::text::timestamptz, $7::text::timestamptz, $8::text::boolean)::text",
                    &[&None::<String>, &None::<String>, &None::<String>, &None::<String>, &None::<String>,
                      &None::<String>, &None::<String>, &None::<String>]).await;
                sign_page(&http, &sign_url, &token, &mut page).await;
            }
        })
        .await;
        report("workspace-actions GET", clients, (ours_rate, &ours), (native_rate, &native));
    }
}

/// What workspace-actions does with a page: one batch-sign request for every
/// asset and thumbnail, and the URLs put in place.
async fn sign_page(http: &reqwest::Client, sign_url: &str, token: &str, page: &mut Value) {
    let mut names = Vec::new();
    for job in page["jobs"].as_array().into_iter().flatten() {
        for asset in job["assets"].as_array().into_iter().flatten() {
            for key in ["temp_storage_path", "thumbnail_path"] {
                if let Some(name) = asset[key].as_str() {
                    names.push(name.to_owned());
                }
            }
        }
    }
    let response = http
        .post(sign_url)
        .bearer_auth(token)
        .json(&json!({"expiresIn": 3600, "paths": names}))
        .send()
        .await
        .expect("batch sign");
    assert_eq!(response.status(), StatusCode::OK);
    let signed: Vec<Value> = response.json().await.expect("sign JSON");
    let urls: std::collections::HashMap<&str, &str> =
        signed.iter().filter_map(|s| Some((s["path"].as_str()?, s["signedURL"].as_str()?))).collect();
    for job in page["jobs"].as_array_mut().into_iter().flatten() {
        for asset in job["assets"].as_array_mut().into_iter().flatten() {
            let url = asset["temp_storage_path"].as_str().and_then(|p| urls.get(p)).map(|u| u.to_string());
            asset["url"] = url.map_or(Value::Null, Value::String);
        }
    }
}

fn report(function: &str, clients: usize, ours: (f64, &[Duration]), native: (f64, &[Duration])) {
    let (p50_ours, p50_native) = (percentile(ours.1, 0.5), percentile(native.1, 0.5));
    println!(
        "  {function}, {clients:>2} client(s): ours {:.0}/s p50 {p50_ours:.2} ms p99 {:.2} ms; native {:.0}/s p50 {p50_native:.2} ms p99 {:.2} ms",
        ours.0, percentile(ours.1, 0.99), native.0, percentile(native.1, 0.99)
    );
    bench_row(&format!("{function} vs native: p50 at {clients} conns"), p50_ours, p50_native, "ms", "ratio<=1.5");
    bench_row(&format!("{function} vs native: requests/s at {clients} conns"), ours.0, native.0, "req/s", "ratio>=0.67");
}

async fn end_to_end(stack: &Stack) {
    println!("== end to end: queue-job → worker (render 256 px, upload, callback) → completed");
    for workers in [1, 2, 4] {
        let jobs = if full() { 200 } else { 60 };
        let mut users = Vec::new();
        for _ in 0..jobs / 5 {
            users.push(stack.new_user().await);
        }
        let started = Instant::now();
        for n in 0..jobs {
            stack.queue(users[n % users.len()], json!({"mode": "image", "prompt": format!("fox {n}"), "batch_size": 1})).await;
        }
        let mut running = Vec::new();
        for w in 0..workers {
            let mut options = stack.worker_options(&format!("bench-{workers}-{w}"));
            options.size = 256;
            options.concurrency = 2;
            running.push(options);
        }
        let summaries = futures::future::join_all(running.iter().map(|o| stack.run_worker(o))).await;
        let completed: u32 = summaries.iter().map(|s| s.completed).sum();
        let rate = completed as f64 / started.elapsed().as_secs_f64();
        println!("  {workers} worker(s) × 2: {completed} jobs = {rate:.1} jobs/s");
        assert_eq!(completed as usize, jobs);
        bench_row(&format!("end to end: jobs/s with {workers} reference worker(s)"), rate, f64::NAN, "jobs/s", "-");
    }
}

async fn listing_latency(stack: &Stack) {
    println!("== workspace listing: one user with 10,000 assets among 1,000,000");
    let db = stack.sql().await;
    let target = stack.new_user().await;
    db.batch_execute(&format!(
        "insert into auth.users (id) select gen_random_uuid() from generate_series(1, 999);
         create temp table u as select id, row_number() over (order by id) as n from auth.users where id <> '{target}';
         set ourvidz.max_active_jobs = 1000000;
         insert into jobs (id, user_id, job_type, mode, prompt, model, batch_size, generation_seed, status, created_at)
         select gen_random_uuid(), case when g < 2500 then '{target}'::uuid else u.id end,
                'image_fast', 'image', 'listing', 'sdxl', 4, g, 'completed', now() - make_interval(secs => g)
         from generate_series(0, 249999) g join u on u.n = g % 999 + 1;
         insert into workspace_assets (user_id, job_id, asset_index, asset_type, temp_storage_path, file_size_bytes,
                                       mime_type, generation_seed, original_prompt, model_used, width, height)
         select j.user_id, j.id, i, 'image', format('%s/%s/%s.png', j.user_id, j.id, i), 1000, 'image/png', 1,
                'bench', 'sdxl', 64, 64
         from jobs j cross join generate_series(0, 3) i
         where j.prompt = 'listing';"
    ))
    .await
    .expect("load 1,000,000 assets");
    db.batch_execute("vacuum analyze jobs").await.expect("vacuum jobs");
    db.batch_execute("vacuum analyze workspace_assets").await.expect("vacuum workspace_assets");
    let token = stack.user_token(target);
    let mut latencies = Vec::new();
    for _ in 0..200 {
        let sent = Instant::now();
        let answer = stack.call(Method::GET, "workspace-actions", Some(&token), None).await;
        latencies.push(sent.elapsed());
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.body["jobs"].as_array().map(Vec::len), Some(20));
    }
    latencies.sort();
    db.batch_execute(&format!(
        "select set_config('request.jwt.claims', '{{\"sub\": \"{target}\", \"role\": \"authenticated\"}}', false);
         set role authenticated;"
    ))
    .await
    .expect("act as the user");
    let mut sql = Vec::new();
    for _ in 0..200 {
        let sent = Instant::now();
        db.query_one("select list_workspace(20)::text", &[]).await.expect("list_workspace");
        sql.push(sent.elapsed());
    }
    sql.sort();
    println!(
        "  GET workspace-actions (page of 20 jobs, 80 signed URLs): p50 {:.1} ms, p99 {:.1} ms; list_workspace(20) in SQL alone: p50 {:.1} ms",
        percentile(&latencies, 0.5), percentile(&latencies, 0.99), percentile(&sql, 0.5)
    );
    bench_row("workspace listing at 10,000 of 1,000,000 assets: p50 (vs its SQL alone)",
              percentile(&latencies, 0.5), percentile(&sql, 0.5), "ms", "-");
}

/// Whether to run a phase: all of them, or those named in BENCH_ONLY
/// (comma-separated: queue, functions, e2e, listing).
fn wanted(phase: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| only.split(',').any(|p| p.trim() == phase))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let stack = Stack::start_options(StackOptions::default()).await;
    if wanted("queue") {
        queue_throughput(&stack).await;
    }
    if wanted("functions") {
        function_path(&stack).await;
    }
    if wanted("e2e") {
        end_to_end(&stack).await;
    }
    if wanted("listing") && full() {
        listing_latency(&stack).await;
    }
}
