//! The Spin binding (wasm32 only): turns a wasi:http request into a
//! [`Context`], runs a handler, and turns whatever comes out — answer or
//! [`EdgeError`] — into a JSON response, so nothing escapes to the host as an
//! HTML 500. It also owns the three host capabilities the handlers use:
//! Spin variables ([`Config`]), one spin:postgres connection per request
//! ([`Db`], the PostgREST-style transaction), and outbound HTTP to the
//! Storage API ([`send_storage`]).

use crate::auth::{self, Caller, DbSession, User};
use crate::config::Config;
use crate::error::EdgeError;
use crate::request::{self, MAX_BODY_BYTES};
use crate::response::{self, ApiResponse};
use crate::sql::{self, DbError, SqlCall, SqlParam};
use crate::storage::{Credential, StorageClient, StorageFailure, StorageRequest};
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, Method};
use serde::de::DeserializeOwned;
use serde_json::Value;
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{FullBody, Request};
use spin_sdk::pg::{self, Connection, DbValue, ParameterValue, PgError, QueryError};
use std::future::Future;

/// What a component's `handle` returns.
pub type SpinResponse = http::Response<FullBody<Bytes>>;

/// One request, read and configured, handed to a handler.
pub struct Context {
    pub method: Method,
    headers: HeaderMap,
    query: Option<String>,
    body: Bytes,
    config: Config,
    now: i64,
}

impl Context {
    /// The verified caller of the `Authorization` header.
    pub fn caller(&self) -> Result<Caller, EdgeError> {
        let authorization = request::header(&self.headers, "authorization")?;
        auth::authenticate(authorization, &self.config.verifier()?, self.now)
    }

    /// The body as `T` (415 / 400 / 413 as [`request::json_body`] decides).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, EdgeError> {
        request::json_body(&self.headers, &self.body)
    }

    pub fn header(&self, name: &str) -> Result<Option<&str>, EdgeError> {
        request::header(&self.headers, name)
    }

    pub fn query_pairs(&self) -> Result<Vec<(String, String)>, EdgeError> {
        request::query_pairs(self.query.as_deref())
    }

    pub fn storage(&self) -> StorageClient<'_> {
        StorageClient::new(&self.config.supabase_url)
    }

    /// Storage authority of `user`: their token, plus the client's `apikey`.
    pub fn user_credential<'a>(&'a self, user: &'a User) -> Credential<'a> {
        let apikey = self.headers.get("apikey").and_then(|value| value.to_str().ok());
        Credential::User { token: &user.token, apikey }
    }

    /// Storage authority of the project (the outbox drainer); a 500 in a
    /// component whose manifest does not give it the service role key.
    pub fn service_credential(&self) -> Result<Credential<'_>, EdgeError> {
        Ok(Credential::ServiceRole { key: self.config.service_role_key()? })
    }

    /// This request's database connection.
    pub async fn db(&self) -> Result<Db, EdgeError> {
        let connection = Connection::open(self.config.db_url.as_str()).await.map_err(db_error)?;
        Ok(Db { connection })
    }
}

/// One spin:postgres connection; each [`Db::call`] is one transaction.
pub struct Db {
    connection: Connection,
}

impl Db {
    /// `begin; set_config(role, claims); <call>; commit` and the call's JSON
    /// result. On any failure the transaction is rolled back.
    pub async fn call(&self, session: DbSession<'_>, call: SqlCall) -> Result<Value, EdgeError> {
        self.execute("begin", Vec::new()).await?;
        match self.run(session, call).await {
            Ok(value) => {
                self.execute("commit", Vec::new()).await?;
                Ok(value)
            }
            Err(error) => {
                if let Err(rollback) = self.execute("rollback", Vec::new()).await {
                    eprintln!("rollback failed: {rollback}");
                }
                Err(error)
            }
        }
    }

    async fn run(&self, session: DbSession<'_>, call: SqlCall) -> Result<Value, EdgeError> {
        self.execute(sql::SET_SESSION, sql::session_params(session)).await?;
        let rows = self
            .connection
            .query(call.statement, parameters(call.params))
            .await
            .map_err(db_error)?
            .collect()
            .await
            .map_err(db_error)?;
        let text = match rows.first().map(|row| &row[0]) {
            None | Some(DbValue::DbNull) => None,
            Some(DbValue::Str(text)) => Some(text.as_str()),
            Some(other) => return Err(DbError::Decode(format!("expected a text column, got {other:?}")).into()),
        };
        Ok(sql::parse_result(text)?)
    }

    async fn execute(&self, statement: &str, params: Vec<SqlParam>) -> Result<(), EdgeError> {
        self.connection.execute(statement, parameters(params)).await.map(drop).map_err(db_error)
    }
}

fn parameters(params: Vec<SqlParam>) -> Vec<ParameterValue> {
    params
        .into_iter()
        .map(|param| match param {
            SqlParam::Text(text) => ParameterValue::Str(text),
            SqlParam::TextArray(items) => ParameterValue::ArrayStr(items.into_iter().map(Some).collect()),
            SqlParam::Null => ParameterValue::DbNull,
        })
        .collect()
}

fn db_error(error: pg::Error) -> EdgeError {
    let error = match error {
        pg::Error::Decode(detail) => DbError::Decode(detail),
        pg::Error::PgError(PgError::ConnectionFailed(detail)) => DbError::Connect(detail),
        pg::Error::PgError(PgError::QueryFailed(QueryError::DbError(db))) => {
            DbError::Query { sqlstate: Some(db.code), message: db.message }
        }
        pg::Error::PgError(PgError::QueryFailed(QueryError::Text(text))) => DbError::Query { sqlstate: None, message: text },
        pg::Error::PgError(other) => DbError::Query { sqlstate: None, message: format!("{other:?}") },
    };
    error.into()
}

/// Send a Storage request; the status and body come back for the
/// `storage::read_*` functions.
pub async fn send_storage(request: StorageRequest) -> Result<(u16, Vec<u8>), StorageFailure> {
    let mut builder = http::Request::builder().method(request.method.clone()).uri(&request.url);
    for (name, value) in &request.headers {
        builder = builder.header(*name, value);
    }
    let outgoing = builder.body(FullBody::new(Bytes::from(request.body))).map_err(StorageFailure::transport)?;
    let response = spin_sdk::http::send(outgoing)
        .await
        .map_err(|error| StorageFailure::transport(format!("{} {}: {error:?}", request.method, request.url)))?;
    let status = response.status().as_u16();
    let body = response.into_body().bytes().await.map_err(|error| StorageFailure::transport(format!("{error:?}")))?;
    Ok((status, body.to_vec()))
}

/// Serve one request: preflight and 405 for methods outside `allowed`, then
/// body (≤ [`MAX_BODY_BYTES`]) and configuration, then `handler`. Every
/// outcome is a JSON response with CORS headers.
pub async fn serve<F, Fut>(req: Request, allowed: &[Method], handler: F) -> SpinResponse
where
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = Result<ApiResponse, EdgeError>>,
{
    let (parts, body) = req.into_parts();
    let response = match request::dispatch(&parts.method, allowed) {
        Some(response) => response,
        None => {
            let outcome = async {
                request::check_declared_length(&parts.headers)?;
                let body = if parts.method == Method::GET { Bytes::new() } else { read_body(body).await? };
                let context = Context {
                    method: parts.method.clone(),
                    query: parts.uri.query().map(str::to_owned),
                    headers: parts.headers,
                    body,
                    config: load_config().await?,
                    now: now(),
                };
                handler(context).await
            };
            outcome.await.unwrap_or_else(|error| response::error(&error))
        }
    };
    let (parts, body) = response.into_parts();
    http::Response::from_parts(parts, FullBody::new(Bytes::from(body)))
}

async fn read_body(body: spin_sdk::wasip3::http_compat::IncomingRequestBody) -> Result<Bytes, EdgeError> {
    let mut stream = body.stream();
    let mut buffer = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| EdgeError::invalid(format!("request body could not be read: {error:?}")))?;
        if buffer.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(request::too_large());
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buffer))
}

async fn load_config() -> Result<Config, EdgeError> {
    let mut values = Vec::with_capacity(Config::VARIABLES.len());
    for name in Config::VARIABLES {
        let value = match spin_sdk::variables::get(name).await {
            Ok(value) => Some(value),
            Err(spin_sdk::variables::Error::Undefined(_)) => None,
            Err(error) => {
                eprintln!("Spin variable {name}: {error:?}");
                None
            }
        };
        values.push((name, value));
    }
    Config::from_values(values)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
}
