//! The storage-deletion drain on a schedule, as pg_cron + pg_net run it on
//! hosted Supabase (docs/deploy.md): the stack POSTs to the `storage-drain`
//! function with the service role key. The call goes through the stack's own
//! router, so it passes the gateway's rules and leaves a request log line like
//! any other request.
//!
//! While passes find work the drain runs every `interval`, and again at once
//! after a pass that claimed a full batch; after a pass that found nothing (or
//! failed: the database is down, say) the wait doubles, up to [`IDLE_WAIT_MAX`],
//! so an idle stack logs a drain about once a minute.

use std::time::Duration;

use axum::body::Body;
use axum::Router;
use http::{header, Method, Request, StatusCode};
use tokio::task::JoinHandle;
use tower::ServiceExt;

/// Where the drain function is served (`functions/spin.toml`).
pub const DRAIN_PATH: &str = "/functions/v1/storage-drain";

/// Entries claimed per pass: the most `claim_storage_deletions` hands out.
const MAX_ITEMS: u64 = 1000;

/// The longest wait between passes while there is nothing to drain.
const IDLE_WAIT_MAX: Duration = Duration::from_secs(60);

/// What a pass found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// A full batch: more is probably due.
    Full,
    /// Some entries, fewer than a batch.
    Some,
    /// Nothing due.
    Empty,
    /// The function did not answer 200.
    Failed,
}

/// How long to wait after a pass, given the wait before it.
fn next_wait(pass: Pass, previous: Duration, interval: Duration) -> Duration {
    match pass {
        Pass::Full => Duration::ZERO,
        Pass::Some => interval,
        Pass::Empty | Pass::Failed => (previous * 2).clamp(interval, IDLE_WAIT_MAX.max(interval)),
    }
}

/// One pass through `app`.
async fn run_pass(app: &Router, service_role_key: &str) -> Pass {
    let request = Request::builder()
        .method(Method::POST)
        .uri(DRAIN_PATH)
        .header(header::AUTHORIZATION, format!("Bearer {service_role_key}"))
        .header("apikey", service_role_key)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::json!({"max_items": MAX_ITEMS}).to_string()));
    let Ok(request) = request else { return Pass::Failed };
    let Ok(response) = app.clone().oneshot(request).await;
    if response.status() != StatusCode::OK {
        return Pass::Failed;
    }
    let Ok(body) = axum::body::to_bytes(response.into_body(), 64 * 1024).await else { return Pass::Failed };
    let claimed = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|answer| answer["claimed"].as_u64());
    match claimed {
        None => Pass::Failed,
        Some(0) => Pass::Empty,
        Some(n) if n >= MAX_ITEMS => Pass::Full,
        Some(_) => Pass::Some,
    }
}

/// Drain on a schedule until the task is aborted (the stack does so when it
/// stops; a pass cut off leaves its claims to expire, so nothing is lost).
pub fn spawn(app: Router, service_role_key: String, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut wait = interval;
        loop {
            tokio::time::sleep(wait).await;
            wait = next_wait(run_pass(&app, &service_role_key).await, wait, interval);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_full_batch_runs_again_at_once_and_some_work_keeps_the_interval() {
        assert_eq!(next_wait(Pass::Full, 40 * SECOND, 5 * SECOND), Duration::ZERO);
        assert_eq!(next_wait(Pass::Some, 40 * SECOND, 5 * SECOND), 5 * SECOND);
        assert_eq!(next_wait(Pass::Some, Duration::ZERO, 5 * SECOND), 5 * SECOND);
    }

    #[test]
    fn an_idle_or_failing_drain_backs_off_to_a_minute() {
        let mut wait = 5 * SECOND;
        let mut waits = Vec::new();
        for pass in [Pass::Empty, Pass::Failed, Pass::Empty, Pass::Empty, Pass::Empty] {
            wait = next_wait(pass, wait, 5 * SECOND);
            waits.push(wait.as_secs());
        }
        assert_eq!(waits, vec![10, 20, 40, 60, 60]);
        // after a full batch (wait zero), an empty pass waits the interval again
        assert_eq!(next_wait(Pass::Empty, Duration::ZERO, 5 * SECOND), 5 * SECOND);
        // an interval longer than the idle cap is kept
        assert_eq!(next_wait(Pass::Empty, 90 * SECOND, 90 * SECOND), 90 * SECOND);
    }
}
