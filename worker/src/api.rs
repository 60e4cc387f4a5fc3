//! The worker's HTTP side, all with the service role key: Storage uploads
//! (`POST /storage/v1/object/workspace-temp/{name}` with `x-upsert: true`, so
//! a retried job overwrites its own earlier files), reference images (a
//! short-lived signed URL, then its bytes) and the job-callback function. Transport errors, 5xx and 429 are retried with backoff; anything
//! else is final.

use crate::error::WorkerError;
use crate::job::{Upload, WORKSPACE_BUCKET};
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

/// Attempts per request, and the pause before the second one (doubling).
const ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Lifetime of a reference image's signed URL.
const REFERENCE_URL_SECONDS: u64 = 300;

/// What job-callback said.
#[derive(Debug, Clone, PartialEq)]
pub enum CallbackOutcome {
    /// 200 with the job (and asset ids).
    Accepted(Value),
    /// 409: not a legal transition any more (canceled, or finished by
    /// another worker after our lease expired). The job is not ours.
    Conflict,
}

pub struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    pub fn new(base: &str, service_role_key: &str) -> Result<Api, WorkerError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|error| WorkerError::Config(format!("HTTP client: {error}")))?;
        Ok(Api { http, base: base.to_owned(), key: service_role_key.to_owned() })
    }

    /// Upload (or overwrite) an object in workspace-temp.
    pub async fn upload(&self, upload: &Upload) -> Result<(), WorkerError> {
        let url = format!("{}/storage/v1/object/{WORKSPACE_BUCKET}/{}", self.base, upload.name);
        let what = format!("upload {}", upload.name);
        retry(&what, || async {
            let response = self
                .authorized(self.http.post(&url))
                .header("content-type", upload.content_type)
                .header("x-upsert", "true")
                .body(upload.bytes.clone())
                .send()
                .await?;
            answer(&what, response).await.map(drop)
        })
        .await
    }

    /// The bytes of a job's reference image `bucket/name`, through a signed
    /// URL valid for [`REFERENCE_URL_SECONDS`] (what a GPU box would hand to
    /// its model loader). A 4xx means the object is gone: the job fails.
    pub async fn fetch_reference(&self, bucket: &str, name: &str) -> Result<Vec<u8>, WorkerError> {
        let what = format!("reference {bucket}/{name}");
        let sign_url = format!("{}/storage/v1/object/sign/{bucket}/{name}", self.base);
        let body = serde_json::json!({"expiresIn": REFERENCE_URL_SECONDS});
        let signed = retry(&what, || self.post_json(&sign_url, &what, &body)).await.map_err(final_as_reference)?;
        let path = signed.get("signedURL").and_then(Value::as_str).ok_or_else(|| WorkerError::Api {
            what: what.clone(),
            status: 200,
            body: "the sign answer has no signedURL".into(),
        })?;
        let url = format!("{}/storage/v1{path}", self.base);
        let bytes = retry(&what, || async { answer(&what, self.http.get(&url).send().await?).await }).await;
        bytes.map_err(final_as_reference)
    }

    /// POST a job-callback body.
    pub async fn callback(&self, body: &Value) -> Result<CallbackOutcome, WorkerError> {
        let url = format!("{}/functions/v1/job-callback", self.base);
        match retry("job-callback", || self.post_json(&url, "job-callback", body)).await {
            Ok(job) => Ok(CallbackOutcome::Accepted(job)),
            Err(WorkerError::Api { status: 409, .. }) => Ok(CallbackOutcome::Conflict),
            Err(error) => Err(error),
        }
    }

    async fn post_json(&self, url: &str, what: &str, body: &Value) -> Result<Value, WorkerError> {
        let response = self.authorized(self.http.post(url)).json(body).send().await?;
        let bytes = answer(what, response).await?;
        serde_json::from_slice(&bytes).map_err(|error| WorkerError::Api { what: what.to_owned(), status: 200, body: error.to_string() })
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.bearer_auth(&self.key).header("apikey", &self.key)
    }
}

/// A refusal that retrying cannot change becomes a reference error (the job
/// fails with it); transient ones stay what they are (the job is left to its
/// lease and retried).
fn final_as_reference(error: WorkerError) -> WorkerError {
    match error {
        WorkerError::Api { status, body, .. } if (400..500).contains(&status) && status != 429 => {
            WorkerError::Reference(format!("HTTP {status}: {body}"))
        }
        other => other,
    }
}

/// The body of a 2xx answer, or the status and (bounded) body as an error.
async fn answer(what: &str, response: reqwest::Response) -> Result<Vec<u8>, WorkerError> {
    let status = response.status();
    let bytes = response.bytes().await?;
    if status.is_success() {
        Ok(bytes.to_vec())
    } else {
        let body = String::from_utf8_lossy(&bytes[..bytes.len().min(500)]).into_owned();
        Err(WorkerError::Api { what: what.to_owned(), status: status.as_u16(), body })
    }
}

/// Run `attempt` until it succeeds, fails for good, or `ATTEMPTS` run out,
/// doubling the pause between tries (every HTTP call of the worker).
pub(crate) async fn retry<T, F, Fut>(what: &str, mut attempt: F) -> Result<T, WorkerError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, WorkerError>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut attempts_left = ATTEMPTS;
    loop {
        attempts_left -= 1;
        match attempt().await {
            Err(error) if error.is_retryable() && attempts_left > 0 => {
                eprintln!("worker: {what} failed ({error}); retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
            outcome => return outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn api_error(status: u16) -> WorkerError {
        WorkerError::Api { what: "x".into(), status, body: String::new() }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let outcome = retry("x", || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Err(WorkerError::Transport("reset".into())),
                1 => Err(api_error(503)),
                _ => Ok(7),
            }
        })
        .await;
        assert_eq!(outcome, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn client_errors_are_final_and_retries_are_bounded() {
        let calls = AtomicU32::new(0);
        let outcome: Result<(), _> = retry("x", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(api_error(409))
        })
        .await;
        assert_eq!(outcome, Err(api_error(409)));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        calls.store(0, Ordering::SeqCst);
        let outcome: Result<(), _> = retry("x", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(api_error(500))
        })
        .await;
        assert_eq!(outcome, Err(api_error(500)));
        assert_eq!(calls.load(Ordering::SeqCst), ATTEMPTS);
    }
}
