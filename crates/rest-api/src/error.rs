//! The REST API's one error type, and its mapping to HTTP, as PostgREST 12 does it.
//!
//! Every failure is a variant here, rendered once by [`IntoResponse`] into
//! PostgREST's body `{"code", "message", "details", "hint"}`. Request errors
//! carry PostgREST's own `PGRSTxxx` codes and statuses (`src/PostgREST/Error.hs`,
//! `ApiRequestError`); database errors keep their SQLSTATE and get the status
//! of PostgREST's `pgErrorStatus` table, including `PTxxx` (the status is the
//! digits) and `RAISE SQLSTATE 'PGRST'` with a JSON message and detail. Where
//! this API finds a problem before running SQL that Postgres would have
//! reported (an unknown column or table, a cast to an unknown type), it
//! answers with the same SQLSTATE and message Postgres gives.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// Why a request failed. Messages are safe to show to clients.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// PGRST100: the query string does not parse.
    #[error("{message}")]
    QueryParam { message: String, details: String },
    /// PGRST101: RPC takes GET, HEAD and POST only.
    #[error("Cannot use the {0} method on RPC")]
    InvalidRpcMethod(String),
    /// PGRST102: the body is not JSON of the right shape, or its type is not accepted.
    #[error("{0}")]
    InvalidBody(String),
    /// PGRST103: the requested range cannot be satisfied; the detail says why.
    #[error("Requested range not satisfiable")]
    InvalidRange(String),
    /// PGRST106: `Accept-Profile`/`Content-Profile` names a schema that is not exposed.
    #[error("The schema must be one of the following: {0}")]
    UnacceptableSchema(String),
    /// PGRST107: no media type of the `Accept` header can be produced.
    #[error("None of these media types are available: {}", .0.join(", "))]
    MediaType(Vec<String>),
    /// PGRST108: a filter or order names an embedding the `select` lacks.
    #[error("'{0}' is not an embedded resource in this request")]
    NotEmbedded(String),
    /// PGRST109: a limited PATCH or DELETE without an order.
    #[error("A 'limit' was applied without an explicit 'order'")]
    LimitNoOrder,
    /// PGRST110: a limited PATCH or DELETE would change more rows than the limit.
    #[error("The maximum number of rows allowed to change was surpassed")]
    OffLimitsChanges { changed: i64, limit: i64 },
    /// PGRST111: `response.headers` was set to something other than `[{"name": "value"}, ...]`.
    #[error("response.headers guc must be a JSON array composed of objects with a single key and a string value")]
    GucHeaders,
    /// PGRST112: `response.status` was set to something other than a status code.
    #[error("response.status guc must be a valid status code")]
    GucStatus,
    /// PGRST116: `application/vnd.pgrst.object+json` and not exactly one row.
    #[error("JSON object requested, multiple (or no) rows returned")]
    Singularity(i64),
    /// PGRST117: a method PostgREST does not serve on this path.
    #[error("Unsupported HTTP method: {0}")]
    UnsupportedMethod(String),
    /// PGRST118: ordering by a to-many embedding.
    #[error("A related order on '{target}' is not possible")]
    RelatedOrderNotToOne { origin: String, target: String },
    /// PGRST121: `RAISE SQLSTATE 'PGRST'` whose message or detail is not the expected JSON.
    #[error("Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error")]
    PgrstParse { details: String, hint: String },
    /// PGRST122: unknown preferences with `Prefer: handling=strict`.
    #[error("Invalid preferences given with handling=strict")]
    InvalidPreferences(Vec<String>),
    /// PGRST123: aggregates are disabled (PostgREST's default `db-aggregates-enabled = false`).
    #[error("Use of aggregate functions is not allowed")]
    AggregatesNotAllowed,
    /// PGRST124: more rows affected than `Prefer: max-affected` allows (with handling=strict).
    #[error("Query result exceeds max-affected preference constraint")]
    MaxAffected(i64),
    /// PGRST200: no foreign key joins the two resources.
    #[error("Could not find a relationship between '{parent}' and '{child}' in the schema cache")]
    NoRelBetween { parent: String, child: String, hint: Option<String> },
    /// PGRST201: several foreign keys join them; a hint must choose.
    #[error("Could not embed because more than one relationship was found for '{parent}' and '{child}'")]
    AmbiguousRelBetween { parent: String, child: String, details: Value, hint: String },
    /// PGRST202: no function of that name takes those arguments.
    #[error("{message}")]
    NoRpc { message: String, details: String, hint: Option<String> },
    /// PGRST203: several overloads take those arguments.
    #[error("Could not choose the best candidate function between: {0}")]
    AmbiguousRpc(String),
    /// PGRST204: a payload or `columns=` names a column the table lacks.
    #[error("Could not find the '{column}' column of '{relation}' in the schema cache")]
    ColumnNotFound { relation: String, column: String },
    /// A path PostgREST does not serve: 404 with an empty object.
    #[error("not found")]
    NotFound,
    /// PGRST301: the JWT did not verify.
    #[error("{0}")]
    JwtInvalid(String),
    /// An error with a SQLSTATE: raised by Postgres, or found before the query
    /// with the SQLSTATE Postgres would have raised. `authenticated` is whether
    /// the caller's role is not `anon` (42501 is then 403, else 401).
    #[error("{message}")]
    Postgres { code: String, message: String, details: Option<String>, hint: Option<String>, authenticated: bool },
    /// PGRST000/PGRST001: the database cannot be reached.
    #[error("Database connection error. Retrying the connection.")]
    Connection(String),
    /// PGRST003: no pooled connection became free in time.
    #[error("Timed out acquiring connection from connection pool.")]
    PoolTimeout,
    /// A fault of this server, logged where it happens.
    #[error("Internal server error")]
    Internal,
    /// `router()` could not start: bad configuration, unreachable database.
    #[error("REST API cannot start: {0}")]
    Startup(String),
}

impl RestError {
    /// A query-string parse error: PostgREST's message `"failed to parse <what> (<input>)" (line 1, column N)`.
    pub fn parse(what: &str, input: &str, column: usize, details: String) -> Self {
        RestError::QueryParam {
            message: format!("\"failed to parse {what} ({input})\" (line 1, column {column})"),
            details,
        }
    }

    /// What Postgres answers for an unknown column of `relation` (SQLSTATE 42703).
    pub fn undefined_column(relation: &str, column: &str) -> Self {
        RestError::sql("42703", format!("column {relation}.{column} does not exist"))
    }

    /// An error with `code` and `message`, as if Postgres had raised it.
    pub fn sql(code: &str, message: String) -> Self {
        RestError::Postgres { code: code.into(), message, details: None, hint: None, authenticated: true }
    }

    /// Log `cause` (which may hold details not fit for clients) and return the generic server error.
    pub fn internal(context: &str, cause: &dyn std::fmt::Display) -> Self {
        tracing::error!("rest api: {context}: {cause}");
        RestError::Internal
    }

    /// A Postgres error raised while serving a caller, with PostgREST's status for it.
    pub fn from_db(err: tokio_postgres::Error, authenticated: bool) -> Self {
        let Some(db) = err.as_db_error() else {
            tracing::error!("rest api: database connection: {err}");
            return RestError::Connection(err.to_string());
        };
        if db.code().code() == "PGRST" {
            return raised_pgrst(db.message(), db.detail());
        }
        RestError::Postgres {
            code: db.code().code().to_owned(),
            message: db.message().to_owned(),
            details: db.detail().map(str::to_owned),
            hint: db.hint().map(str::to_owned),
            authenticated,
        }
    }

    /// A pool failure: a timeout, or the database refusing a new connection.
    pub fn from_pool(err: deadpool_postgres::PoolError) -> Self {
        match err {
            deadpool_postgres::PoolError::Timeout(_) => RestError::PoolTimeout,
            // PostgREST's ConnectionUsageError: failing to connect is PGRST000
            // (503) whatever the server said (e.g. 57P03, still starting up).
            deadpool_postgres::PoolError::Backend(err) => {
                tracing::error!("rest api: cannot connect to the database: {err}");
                RestError::Connection(err.to_string())
            }
            other => {
                tracing::error!("rest api: database pool: {other}");
                RestError::Connection(other.to_string())
            }
        }
    }

    /// PostgREST's HTTP status for this error.
    pub fn status(&self) -> StatusCode {
        use RestError::*;
        match self {
            QueryParam { .. } | InvalidBody(_) | NotEmbedded(_) | LimitNoOrder | OffLimitsChanges { .. } => {
                StatusCode::BAD_REQUEST
            }
            RelatedOrderNotToOne { .. } | InvalidPreferences(_) | AggregatesNotAllowed | MaxAffected(_) => {
                StatusCode::BAD_REQUEST
            }
            NoRelBetween { .. } | ColumnNotFound { .. } => StatusCode::BAD_REQUEST,
            InvalidRpcMethod(_) | UnsupportedMethod(_) => StatusCode::METHOD_NOT_ALLOWED,
            InvalidRange(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            MediaType(_) | Singularity(_) | UnacceptableSchema(_) => StatusCode::NOT_ACCEPTABLE,
            AmbiguousRelBetween { .. } | AmbiguousRpc(_) => StatusCode::MULTIPLE_CHOICES,
            NoRpc { .. } | NotFound => StatusCode::NOT_FOUND,
            JwtInvalid(_) => StatusCode::UNAUTHORIZED,
            GucHeaders | GucStatus | PgrstParse { .. } | Internal | Startup(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Connection(_) => StatusCode::SERVICE_UNAVAILABLE,
            PoolTimeout => StatusCode::GATEWAY_TIMEOUT,
            Postgres { code, message, authenticated, .. } => sqlstate_status(code, message, *authenticated),
        }
    }

    fn code(&self) -> &str {
        use RestError::*;
        match self {
            QueryParam { .. } => "PGRST100",
            InvalidRpcMethod(_) => "PGRST101",
            InvalidBody(_) => "PGRST102",
            InvalidRange(_) => "PGRST103",
            UnacceptableSchema(_) => "PGRST106",
            MediaType(_) => "PGRST107",
            NotEmbedded(_) => "PGRST108",
            LimitNoOrder => "PGRST109",
            OffLimitsChanges { .. } => "PGRST110",
            GucHeaders => "PGRST111",
            GucStatus => "PGRST112",
            Singularity(_) => "PGRST116",
            UnsupportedMethod(_) => "PGRST117",
            RelatedOrderNotToOne { .. } => "PGRST118",
            PgrstParse { .. } => "PGRST121",
            InvalidPreferences(_) => "PGRST122",
            AggregatesNotAllowed => "PGRST123",
            MaxAffected(_) => "PGRST124",
            NoRelBetween { .. } => "PGRST200",
            AmbiguousRelBetween { .. } => "PGRST201",
            NoRpc { .. } => "PGRST202",
            AmbiguousRpc(_) => "PGRST203",
            ColumnNotFound { .. } => "PGRST204",
            JwtInvalid(_) => "PGRST301",
            Connection(_) => "PGRST000",
            PoolTimeout => "PGRST003",
            Postgres { code, .. } => code,
            NotFound | Internal | Startup(_) => "PGRSTX00",
        }
    }

    fn details(&self) -> Value {
        use RestError::*;
        match self {
            QueryParam { details, .. } => json!(details),
            InvalidRange(details) => json!(details),
            OffLimitsChanges { changed, limit } => {
                json!(format!("Results contain {changed} rows changed but the maximum number allowed is {limit}"))
            }
            Singularity(n) => json!(format!("The result contains {n} rows")),
            RelatedOrderNotToOne { origin, target } => {
                json!(format!("'{origin}' and '{target}' do not form a many-to-one or one-to-one relationship"))
            }
            PgrstParse { details, .. } => json!(details),
            InvalidPreferences(prefs) => json!(format!("Invalid preferences: {}", prefs.join(", "))),
            MaxAffected(n) => json!(format!("The query affects {n} rows")),
            NoRelBetween { parent, child, hint } => json!(format!(
                "Searched for a foreign key relationship between '{parent}' and '{child}'{} in the schema 'public', but no matches were found.",
                hint.as_deref().map(|h| format!(" using the hint '{h}'")).unwrap_or_default()
            )),
            AmbiguousRelBetween { details, .. } => details.clone(),
            NoRpc { details, .. } => json!(details),
            Postgres { details, .. } => json!(details),
            _ => Value::Null,
        }
    }

    fn hint(&self) -> Value {
        use RestError::*;
        match self {
            NotEmbedded(resource) => {
                json!(format!("Verify that '{resource}' is included in the 'select' query parameter."))
            }
            LimitNoOrder => json!("Apply an 'order' using unique column(s)"),
            PgrstParse { hint, .. } => json!(hint),
            AmbiguousRelBetween { hint, .. } => json!(hint),
            NoRpc { hint, .. } => json!(hint),
            AmbiguousRpc(_) => {
                json!("Try renaming the parameters or the function itself in the database so function overloading can be resolved")
            }
            Postgres { hint, .. } => json!(hint),
            _ => Value::Null,
        }
    }

    /// The JSON body PostgREST answers with.
    pub fn body(&self) -> Value {
        match self {
            RestError::NotFound => json!({}),
            RestError::Connection(detail) => json!({
                "code": self.code(), "message": self.to_string(), "details": detail, "hint": null,
            }),
            _ => json!({
                "code": self.code(), "message": self.to_string(), "details": self.details(), "hint": self.hint(),
            }),
        }
    }
}

/// PostgREST's `pgErrorStatus`: the HTTP status of a SQLSTATE.
fn sqlstate_status(code: &str, message: &str, authenticated: bool) -> StatusCode {
    let status = |n: u16| StatusCode::from_u16(n).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(digits) = code.strip_prefix("PT") {
        return digits.parse::<u16>().ok().and_then(|n| StatusCode::from_u16(n).ok()).unwrap_or(status(500));
    }
    let class = code.get(..2).unwrap_or("");
    match (code, class) {
        (_, "08") => status(503),
        (_, "09") => status(500),
        (_, "0L") | (_, "0P") => status(403),
        ("23503", _) | ("23505", _) => status(409),
        ("25006", _) => status(405),
        ("21000", _) => status(if message.ends_with("requires a WHERE clause") { 400 } else { 500 }),
        (_, "25") => status(500),
        (_, "28") => status(403),
        (_, "2D") | (_, "38") | (_, "39") | (_, "3B") | (_, "40") => status(500),
        ("53400", _) => status(500),
        (_, "53") => status(503),
        (_, "54") | (_, "55") => status(500),
        ("57P01", _) => status(503),
        (_, "57") | (_, "58") | (_, "F0") | (_, "HV") => status(500),
        ("P0001", _) => status(400),
        (_, "P0") | (_, "XX") => status(500),
        ("42883", _) => status(if message.starts_with("function xmlagg(") { 406 } else { 404 }),
        ("42P01", _) => status(404),
        ("42P17", _) => status(500),
        ("42501", _) => status(if authenticated { 403 } else { 401 }),
        _ => status(400),
    }
}

/// `RAISE SQLSTATE 'PGRST' USING message = '{"code", "message", ...}', detail = '{"status", "headers", ...}'`:
/// the function decides the whole error answer.
fn raised_pgrst(message: &str, detail: Option<&str>) -> RestError {
    const MESSAGE_HINT: &str =
        "MESSAGE must be a JSON object with obligatory keys: 'code', 'message' and optional keys: 'details', 'hint'.";
    const DETAIL_HINT: &str =
        "DETAIL must be a JSON object with obligatory keys: 'status', 'headers' and optional key: 'status_text'.";
    let parsed: Option<Value> = serde_json::from_str(message).ok();
    let Some(body) = parsed.filter(|v| v["code"].is_string() && v["message"].is_string()) else {
        return RestError::PgrstParse {
            details: format!("Invalid JSON value for MESSAGE: '{message}'"),
            hint: MESSAGE_HINT.into(),
        };
    };
    let Some(detail) = detail else {
        return RestError::PgrstParse { details: "DETAIL is missing in the RAISE statement".into(), hint: DETAIL_HINT.into() };
    };
    let parsed: Option<Value> = serde_json::from_str(detail).ok();
    let Some(detail_json) = parsed.filter(|v| v["status"].is_u64() && v["headers"].is_object()) else {
        return RestError::PgrstParse { details: format!("Invalid JSON value for DETAIL: '{detail}'"), hint: DETAIL_HINT.into() };
    };
    RestError::Postgres {
        code: "PGRST".into(),
        message: serde_json::to_string(&json!({
            "body": {
                "code": body["code"], "message": body["message"],
                "details": body.get("details").cloned().unwrap_or(Value::Null),
                "hint": body.get("hint").cloned().unwrap_or(Value::Null),
            },
            "detail": detail_json,
        }))
        .unwrap_or_default(),
        details: None,
        hint: None,
        authenticated: true,
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        // A function's own `RAISE SQLSTATE 'PGRST'` answer: its status, headers and body.
        if let RestError::Postgres { code, message, .. } = &self {
            if code == "PGRST" {
                if let Ok(raised) = serde_json::from_str::<Value>(message) {
                    let status = raised["detail"]["status"]
                        .as_u64()
                        .and_then(|s| u16::try_from(s).ok())
                        .and_then(|s| StatusCode::from_u16(s).ok())
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    let mut headers = HeaderMap::new();
                    if let Some(extra) = raised["detail"]["headers"].as_object() {
                        for (name, value) in extra {
                            if let (Ok(name), Some(Ok(value))) =
                                (HeaderName::try_from(name.as_str()), value.as_str().map(HeaderValue::from_str))
                            {
                                headers.insert(name, value);
                            }
                        }
                    }
                    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
                    return (status, headers, raised["body"].to_string()).into_response();
                }
            }
        }
        let status = self.status();
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
        if let RestError::JwtInvalid(message) = &self {
            let value = format!("Bearer error=\"invalid_token\", error_description={}", Value::from(message.as_str()));
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
        } else if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        // PostgREST's addRetryHint: every 503 says when to retry.
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        (status, headers, self.body().to_string()).into_response()
    }
}

/// The `Retry-After` of a 503, in seconds (PostgREST sends its reconnection delay).
const RETRY_AFTER_SECONDS: u32 = 1;

/// PostgREST's JSON content type (`toContentType MTApplicationJSON`).
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(code: &str, message: &str, authenticated: bool) -> RestError {
        RestError::Postgres { code: code.into(), message: message.into(), details: None, hint: None, authenticated }
    }

    #[test]
    fn custom_pt_states_answer_their_digits() {
        assert_eq!(pg("PT404", "job not found", true).status(), StatusCode::NOT_FOUND);
        assert_eq!(pg("PT429", "too many", true).status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(pg("PTabc", "bad", true).status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn sqlstates_follow_postgrests_table() {
        assert_eq!(pg("23505", "dup", true).status(), StatusCode::CONFLICT);
        assert_eq!(pg("23503", "fk", true).status(), StatusCode::CONFLICT);
        assert_eq!(pg("23514", "check", true).status(), StatusCode::BAD_REQUEST);
        assert_eq!(pg("22P02", "bad uuid", true).status(), StatusCode::BAD_REQUEST);
        assert_eq!(pg("42P01", "no table", true).status(), StatusCode::NOT_FOUND);
        assert_eq!(pg("42883", "no function", true).status(), StatusCode::NOT_FOUND);
        assert_eq!(pg("25006", "read only", true).status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(pg("P0001", "raise", true).status(), StatusCode::BAD_REQUEST);
        assert_eq!(pg("XX000", "internal", true).status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(pg("57P01", "shutdown", true).status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn insufficient_privilege_is_401_for_anon_and_403_for_others() {
        assert_eq!(pg("42501", "permission denied", false).status(), StatusCode::UNAUTHORIZED);
        assert_eq!(pg("42501", "permission denied", true).status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn bodies_have_postgrests_four_keys() {
        let body = RestError::Singularity(2).body();
        assert_eq!(
            body,
            json!({"code": "PGRST116", "message": "JSON object requested, multiple (or no) rows returned",
                   "details": "The result contains 2 rows", "hint": null})
        );
        let body = RestError::undefined_column("user_library", "nope").body();
        assert_eq!(body["code"], "42703");
        assert_eq!(body["message"], "column user_library.nope does not exist");
    }

    #[tokio::test]
    async fn a_raised_pgrst_error_decides_status_headers_and_body() {
        let err = raised_pgrst(
            r#"{"code":"123","message":"Payment Required","details":"Quota exceeded"}"#,
            Some(r#"{"status":402,"headers":{"X-Powered-By":"Nerd Rage"}}"#),
        );
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
        assert_eq!(response.headers()["x-powered-by"], "Nerd Rage");
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body, json!({"code": "123", "message": "Payment Required", "details": "Quota exceeded", "hint": null}));
    }

    #[tokio::test]
    async fn a_database_that_refuses_connections_is_pgrst000_503_with_retry_after() {
        // Nothing listens on port 1: the pool cannot connect.
        let config: tokio_postgres::Config = "host=127.0.0.1 port=1 user=postgres".parse().unwrap();
        let pool = crate::db::pool(config, 1).unwrap();
        let err = RestError::from_pool(pool.get().await.expect_err("port 1 refuses"));
        assert_eq!(err.body()["code"], "PGRST000");
        let response = err.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn a_malformed_pgrst_raise_is_pgrst121() {
        let err = raised_pgrst("not json", Some("{}"));
        assert_eq!(err.body()["code"], "PGRST121");
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
