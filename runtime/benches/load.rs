//! Load benchmark of the runtime (not a test; CI does not run it).
//!
//! Starts the release `ourvidz` binary on the host-probe fixture (as the
//! integration tests do) and drives it with a closed-loop Rust load
//! generator: C concurrent clients, each sending its next request as soon as
//! the previous one answered, for a fixed time per workload. Reports
//! requests/s and p50/p99 latency for
//!   - `echo`: a trivial HTTP-only component call (no database), and
//!   - `one-query`: a component that opens a pooled Postgres connection and
//!     runs one `select count(*)` (prepare + execute).
//!
//! Run: `OURVIDZ_TEST_PG=postgresql://... cargo bench -p ourvidz-runtime --bench load`
//! (knobs: `BENCH_SECONDS`, default 5; `BENCH_CONCURRENCY`, default "1,16,64").
//! The generator shares the machine with the server: on 2 cores the figures
//! are a floor, not a ceiling. Each figure is also printed as a
//! machine-readable `BENCH|...` row (bench/run.sh's table; no baseline).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::{database, Host, HostOptions};

struct Outcome {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    latencies_us: Vec<u64>,
}

async fn drive(url: String, method: reqwest::Method, concurrency: usize, duration: Duration) -> Outcome {
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().unwrap();
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, method) = (client.clone(), url.clone(), method.clone());
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0);
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    match client.request(method.clone(), &url).send().await {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            latencies.push(sent.elapsed().as_micros() as u64);
                        }
                        _ => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut outcome = Outcome { requests: 0, errors: 0, elapsed: Duration::ZERO, latencies_us: Vec::new() };
    for worker in workers {
        let (latencies, errors) = worker.await.unwrap();
        outcome.requests += latencies.len();
        outcome.errors += errors;
        outcome.latencies_us.extend(latencies);
    }
    outcome.elapsed = started.elapsed();
    outcome.latencies_us.sort_unstable();
    outcome
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let levels: Vec<usize> = std::env::var("BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "1,16,64".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let host = Host::start(&HostOptions::new(database()).arg("--pg-pool-size", 16));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    println!("workload   conc   req/s     p50 ms   p99 ms   errors");
    for (name, path, method) in [
        ("echo", "probe/echo", reqwest::Method::GET),
        ("one-query", "probe/pg/tx/count", reqwest::Method::POST),
    ] {
        let url = host.function(path);
        runtime.block_on(drive(url.clone(), method.clone(), 4, Duration::from_secs(1)));
        for &concurrency in &levels {
            let o = runtime.block_on(drive(url.clone(), method.clone(), concurrency, Duration::from_secs(seconds)));
            let rate = o.requests as f64 / o.elapsed.as_secs_f64();
            println!(
                "{name:<10} {concurrency:>4} {rate:>8.0} {:>9.2} {:>8.2} {:>8}",
                percentile(&o.latencies_us, 0.50),
                percentile(&o.latencies_us, 0.99),
                o.errors
            );
            println!("BENCH|runtime alone, {name}: req/s at {concurrency} conns|{rate:.0}|-|req/s|-");
        }
    }
}
