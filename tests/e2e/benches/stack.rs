//! Benchmarks of the whole stack (not tests; not run by CI):
//!
//!   cargo build --release -p ourvidz-runtime
//!   OURVIDZ_E2E_PROFILE=release OURVIDZ_TEST_PG=... cargo bench -p ourvidz-e2e --bench stack
//!   (BENCH_ONLY=claim,callback,e2e,listing runs a part)
//!
//! 1. claim throughput of the queue alone: `claim_jobs(worker, 10)` then the
//!    River-style "set completed if running" UPDATE, no-op jobs burned down by
//!    1..8 concurrent connections (River's published shape: a SKIP LOCKED CTE
//!    claim, ~46k jobs/s on an 8-core laptop);
//! 2. job-callback throughput: `completed` callbacks with one asset each, over
//!    HTTP through the gateway, the wasm component and Postgres;
//! 3. end-to-end jobs/s: queue-job → reference worker (render, upload,
//!    callback) with 1, 2 and 4 workers;
//! 4. workspace listing latency (GET workspace-actions, one page of 20 jobs
//!    with its batch-signed URLs) for a user with 10,000 assets among 1,000,000.
//!
//! Everything shares the machine's cores with Postgres and the server.

use std::time::{Duration, Instant};

use ourvidz_e2e::{Method, Stack, StatusCode};
use serde_json::json;
use tokio_postgres::NoTls;
use uuid::Uuid;

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// Queue `jobs` no-op jobs directly in SQL, spread over users so the
/// per-user cap never binds.
async fn prefill(stack: &Stack, jobs: i32, status: &str) {
    let db = stack.sql().await;
    db.batch_execute(&format!(
        "insert into auth.users (id) select gen_random_uuid() from generate_series(1, greatest({jobs} / 5, 1));
         insert into jobs (user_id, job_type, mode, prompt, model, batch_size, generation_seed, status, worker_id, lease_expires_at)
         select u.id, 'image_fast', 'image', 'bench', 'sdxl', 1, g, '{status}',
                case when '{status}' = 'processing' then 'bench' end,
                case when '{status}' = 'processing' then now() + interval '1 hour' end
         from generate_series(1, {jobs}) g
         join (select id, row_number() over () as n from auth.users) u on u.n = g % greatest({jobs} / 5, 1) + 1;
         analyze jobs;"
    ))
    .await
    .expect("prefill");
}

async fn claim_throughput(stack: &Stack) {
    println!("== claim throughput of the queue alone (claim 10 + set completed per transaction)");
    for connections in [1, 2, 4, 8] {
        let jobs = 20_000;
        prefill(stack, jobs, "queued").await;
        let started = Instant::now();
        let mut workers = Vec::new();
        for n in 0..connections {
            let url = stack.db_url.clone();
            workers.push(tokio::spawn(async move {
                let db = connect(&url).await;
                let worker = format!("bench-{n}");
                let mut done = 0u64;
                loop {
                    let tx = "begin; select set_config('role', 'service_role', true)";
                    db.batch_execute(tx).await.expect("begin");
                    let ids: Vec<Uuid> = db
                        .query(
                            "select (j ->> 'id')::uuid from jsonb_array_elements(claim_jobs($1, 10, 60) -> 'jobs') j",
                            &[&worker],
                        )
                        .await
                        .expect("claim")
                        .iter()
                        .map(|r| r.get(0))
                        .collect();
                    db.execute(
                        "update jobs set status = 'completed', completed_at = now(), worker_id = null, lease_expires_at = null
                         where id = any($1) and status = 'processing' and worker_id = $2",
                        &[&ids, &worker],
                    )
                    .await
                    .expect("complete");
                    db.batch_execute("commit").await.expect("commit");
                    if ids.is_empty() {
                        return done;
                    }
                    done += ids.len() as u64;
                }
            }));
        }
        let mut total = 0;
        for worker in workers {
            total += worker.await.expect("worker");
        }
        let seconds = started.elapsed().as_secs_f64();
        println!("  {connections} connection(s): {total} jobs in {seconds:.2} s = {:.0} jobs/s", total as f64 / seconds);
        stack.sql().await.batch_execute("delete from jobs").await.expect("reset");
    }
}

async fn callback_throughput(stack: &Stack) {
    println!("== job-callback throughput (HTTP → gateway → wasm → Postgres; one asset per callback)");
    let jobs = 2_000;
    prefill(stack, jobs, "processing").await;
    let rows = stack.sql().await.query("select id, user_id from jobs", &[]).await.expect("jobs");
    let bodies: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let (job, user): (Uuid, Uuid) = (r.get(0), r.get(1));
            json!({"job_id": job, "status": "completed", "worker_id": "bench", "assets": [
                {"asset_index": 0, "storage_path": format!("{user}/{job}/0.png"), "mime_type": "image/png",
                 "file_size_bytes": 1000, "width": 64, "height": 64}]})
        })
        .collect();
    let service = stack.service_token();
    // each concurrency level completes its own, disjoint set of jobs
    for (concurrency, range) in [(1usize, 0..300), (8, 300..1100), (32, 1100..2000)] {
        let started = Instant::now();
        let queue = std::sync::Arc::new(tokio::sync::Mutex::new(bodies[range].to_vec()));
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let queue = queue.clone();
            let service = service.clone();
            let api = stack.api.clone();
            tasks.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut latencies = Vec::new();
                loop {
                    let Some(body) = queue.lock().await.pop() else { return latencies };
                    let sent = Instant::now();
                    let response = http
                        .post(format!("{api}/functions/v1/job-callback"))
                        .bearer_auth(&service)
                        .json(&body)
                        .send()
                        .await
                        .expect("callback");
                    assert_eq!(response.status(), reqwest::StatusCode::OK);
                    latencies.push(sent.elapsed());
                }
            }));
        }
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.expect("task"));
        }
        let seconds = started.elapsed().as_secs_f64();
        latencies.sort();
        println!(
            "  concurrency {concurrency:>2}: {:.0} callbacks/s, p50 {:.1} ms, p99 {:.1} ms ({} callbacks)",
            latencies.len() as f64 / seconds,
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies.len()
        );
    }
    stack.sql().await.batch_execute("delete from jobs").await.expect("reset");
}

async fn end_to_end(stack: &Stack) {
    println!("== end to end: queue-job → worker (render 256 px, upload, callback) → completed");
    for workers in [1, 2, 4] {
        let jobs = 200;
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
        let seconds = started.elapsed().as_secs_f64();
        println!("  {workers} worker(s) × 2: {completed} jobs in {seconds:.2} s = {:.1} jobs/s", completed as f64 / seconds);
        assert_eq!(completed as usize, jobs);
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
    println!("  GET workspace-actions (page of 20 jobs, 80 signed URLs): p50 {:.1} ms, p99 {:.1} ms",
             percentile(&latencies, 0.5), percentile(&latencies, 0.99));
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
    println!("  list_workspace(20) in SQL alone:                       p50 {:.1} ms, p99 {:.1} ms",
             percentile(&sql, 0.5), percentile(&sql, 0.99));
}

/// Whether to run a phase: all of them, or those named in BENCH_ONLY
/// (comma-separated: claim, callback, e2e, listing).
fn wanted(phase: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| only.split(',').any(|p| p.trim() == phase))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let stack = Stack::start().await;
    if wanted("claim") {
        claim_throughput(&stack).await;
    }
    if wanted("callback") {
        callback_throughput(&stack).await;
    }
    if wanted("e2e") {
        end_to_end(&stack).await;
    }
    if wanted("listing") {
        listing_latency(&stack).await;
    }
}
