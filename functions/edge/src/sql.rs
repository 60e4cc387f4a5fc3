//! The SQL API calls (docs/sql-api.md) as data, and what their failures mean.
//!
//! Each function here builds the one statement a request runs inside its
//! `begin; set_config(role, claims); <call>; commit` transaction. Parameters
//! are passed as text and cast in SQL (`$1::text::jsonb`, `$1::text[]::uuid[]`)
//! so they bind the same way on every spin:postgres host, and every result is
//! cast to `::text` and parsed as JSON here, so no host-specific jsonb
//! decoding is involved. [`DbError`] maps SQLSTATEs to the API's errors once:
//! `PTxxx` → HTTP xxx with the function's own (safe) message — every rule of
//! the contract answers this way (rules.sql) —, the listed constraint and
//! input classes (bad bytes such as NUL included) to 409/400/403, connection
//! trouble to 503, and everything else to a generic 500 whose detail only
//! reaches stderr.

use crate::auth::DbSession;
use crate::bodies::{ListQuery, Target};
use crate::error::{EdgeError, ErrorKind};
use serde_json::Value;
use uuid::Uuid;

/// One bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlParam {
    Text(String),
    TextArray(Vec<String>),
    Null,
}

impl SqlParam {
    fn optional_text(value: Option<String>) -> SqlParam {
        value.map_or(SqlParam::Null, SqlParam::Text)
    }
}

/// A statement and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlCall {
    pub statement: &'static str,
    pub params: Vec<SqlParam>,
}

/// The per-transaction session setup, exactly as PostgREST does it.
pub const SET_SESSION: &str =
    "select set_config('role', $1::text, true), set_config('request.jwt.claims', $2::text, true)";

/// The parameters of [`SET_SESSION`] for `session`.
pub fn session_params(session: DbSession<'_>) -> Vec<SqlParam> {
    vec![SqlParam::Text(session.role.to_owned()), SqlParam::Text(session.claims_json.to_owned())]
}

fn uuids(ids: &[Uuid]) -> SqlParam {
    SqlParam::TextArray(ids.iter().map(Uuid::to_string).collect())
}

pub fn enqueue_job(request: &Value, idempotency_key: Option<&str>) -> SqlCall {
    SqlCall {
        statement: "select public.enqueue_job($1::text::jsonb, $2::text)::text",
        params: vec![SqlParam::Text(request.to_string()), SqlParam::optional_text(idempotency_key.map(str::to_owned))],
    }
}

pub fn record_job_result(result: &Value) -> SqlCall {
    SqlCall {
        statement: "select public.record_job_result($1::text::jsonb)::text",
        params: vec![SqlParam::Text(result.to_string())],
    }
}

/// One page of the caller's workspace, filtered; no `page_size` means the
/// SQL's default.
pub fn list_workspace(query: &ListQuery) -> SqlCall {
    SqlCall {
        statement: "select public.list_workspace($1::text::int, $2::text::jsonb, $3::text, $4::text, $5::text, \
                    $6::text::timestamptz, $7::text::timestamptz, $8::text::boolean)::text",
        params: vec![
            SqlParam::optional_text(query.page_size.map(|size| size.to_string())),
            SqlParam::optional_text(query.before.as_ref().map(Value::to_string)),
            SqlParam::optional_text(query.search.clone()),
            SqlParam::optional_text(query.asset_type.clone()),
            SqlParam::optional_text(query.model.clone()),
            SqlParam::optional_text(query.created_after.clone()),
            SqlParam::optional_text(query.created_before.clone()),
            SqlParam::optional_text(query.include_dismissed.clone()),
        ],
    }
}

/// `prepare_workspace_save` for the listed assets, or for every asset of one
/// job of the caller (the SQL answers 404 when the caller has none there). A
/// collection that is not the caller's, and a title or tags the save would
/// refuse, are refused there too, before any copy.
pub fn prepare_workspace_save(
    target: &Target,
    collection_id: Option<Uuid>,
    custom_title: Option<&str>,
    tags: Option<&[String]>,
) -> SqlCall {
    let (asset_ids, job_id) = target_params(target);
    SqlCall {
        statement: "select public.prepare_workspace_save($1::text[]::uuid[], $2::text::uuid, $3::text::uuid, $4::text, \
                    $5::text[])::text",
        params: vec![
            asset_ids,
            job_id,
            SqlParam::optional_text(collection_id.map(|id| id.to_string())),
            SqlParam::optional_text(custom_title.map(str::to_owned)),
            tags.map_or(SqlParam::Null, |tags| SqlParam::TextArray(tags.to_vec())),
        ],
    }
}

pub fn save_workspace_assets(
    items: &Value,
    collection_id: Option<Uuid>,
    custom_title: Option<&str>,
    tags: Option<&[String]>,
) -> SqlCall {
    SqlCall {
        statement: "select public.save_workspace_assets($1::text::jsonb, $2::text::uuid, $3::text, $4::text[])::text",
        params: vec![
            SqlParam::Text(items.to_string()),
            SqlParam::optional_text(collection_id.map(|id| id.to_string())),
            SqlParam::optional_text(custom_title.map(str::to_owned)),
            tags.map_or(SqlParam::Null, |tags| SqlParam::TextArray(tags.to_vec())),
        ],
    }
}

/// `discard_workspace_assets` for the listed assets, or every asset of one job.
pub fn discard_workspace_assets(target: &Target) -> SqlCall {
    let (asset_ids, job_id) = target_params(target);
    SqlCall {
        statement: "select public.discard_workspace_assets($1::text[]::uuid[], $2::text::uuid)::text",
        params: vec![asset_ids, job_id],
    }
}

/// The `asset_ids`, `job_id` pair of parameters naming a [`Target`].
fn target_params(target: &Target) -> (SqlParam, SqlParam) {
    match target {
        Target::Assets(ids) => (uuids(ids), SqlParam::Null),
        Target::Job(job_id) => (SqlParam::Null, SqlParam::Text(job_id.to_string())),
    }
}

/// `dismiss_workspace_items` for the listed assets, or a whole job.
pub fn dismiss_workspace_items(target: &Target) -> SqlCall {
    let (asset_ids, job_id) = target_params(target);
    SqlCall {
        statement: "select public.dismiss_workspace_items($1::text[]::uuid[], $2::text::uuid)::text",
        params: vec![asset_ids, job_id],
    }
}

/// `restore_workspace_items` for the listed assets, or a whole job.
pub fn restore_workspace_items(target: &Target) -> SqlCall {
    let (asset_ids, job_id) = target_params(target);
    SqlCall {
        statement: "select public.restore_workspace_items($1::text[]::uuid[], $2::text::uuid)::text",
        params: vec![asset_ids, job_id],
    }
}

pub fn clear_workspace() -> SqlCall {
    SqlCall { statement: "select public.clear_workspace()::text", params: vec![] }
}

pub fn delete_workspace_items(asset_id: Option<Uuid>, job_id: Option<Uuid>) -> SqlCall {
    SqlCall {
        statement: "select public.delete_workspace_items($1::text::uuid, $2::text::uuid)::text",
        params: vec![
            SqlParam::optional_text(asset_id.map(|id| id.to_string())),
            SqlParam::optional_text(job_id.map(|id| id.to_string())),
        ],
    }
}

/// Claim due outbox entries: `max_items` of them, or the SQL's own default
/// batch when the drain names none.
pub fn claim_storage_deletions(max_items: Option<u32>) -> SqlCall {
    match max_items {
        Some(max_items) => SqlCall {
            statement: "select public.claim_storage_deletions($1::text::int)::text",
            params: vec![SqlParam::Text(max_items.to_string())],
        },
        None => SqlCall { statement: "select public.claim_storage_deletions()::text", params: vec![] },
    }
}

pub fn complete_storage_deletions(ids: &[i64]) -> SqlCall {
    SqlCall {
        statement: "select public.complete_storage_deletions($1::text[]::bigint[])::text",
        params: vec![SqlParam::TextArray(ids.iter().map(i64::to_string).collect())],
    }
}

pub fn fail_storage_deletions(ids: &[i64], error: &str) -> SqlCall {
    SqlCall {
        statement: "select public.fail_storage_deletions($1::text[]::bigint[], $2::text)::text",
        params: vec![SqlParam::TextArray(ids.iter().map(i64::to_string).collect()), SqlParam::Text(error.to_owned())],
    }
}

/// `record_job_result` answers an illegal or stale callback with
/// `{"error": {"status", "message"}}` instead of raising, so that the uploads
/// it queues for deletion are committed; this turns that answer into the API
/// error (409 for an illegal transition, 404 for a job that no longer exists).
pub fn rejected_callback(answer: &Value) -> Option<EdgeError> {
    let rejection = answer.get("error")?;
    let kind = rejection
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|status| u16::try_from(status).ok())
        .and_then(ErrorKind::from_status)
        .filter(|kind| *kind != ErrorKind::Internal)
        .unwrap_or(ErrorKind::Conflict);
    let message = rejection.get("message").and_then(Value::as_str).unwrap_or("the callback was rejected");
    Some(EdgeError::new(kind, message))
}

/// Parse the single `::text` column of a call's result row.
pub fn parse_result(text: Option<&str>) -> Result<Value, DbError> {
    match text {
        None => Ok(Value::Null),
        Some(text) => serde_json::from_str(text).map_err(|error| DbError::Decode(format!("result is not JSON: {error}"))),
    }
}

/// A failure talking to Postgres, as the Spin adapter observed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbError {
    /// The connection could not be opened (or was lost).
    Connect(String),
    /// The server answered with an error; `sqlstate` when it sent one.
    Query { sqlstate: Option<String>, message: String },
    /// The answer did not have the expected shape.
    Decode(String),
}

impl From<DbError> for EdgeError {
    fn from(error: DbError) -> EdgeError {
        match error {
            DbError::Connect(detail) => EdgeError::unavailable("the database", detail),
            DbError::Decode(detail) => EdgeError::internal(format!("database answer: {detail}")),
            DbError::Query { sqlstate, message } => from_sqlstate(sqlstate.as_deref(), message),
        }
    }
}

fn from_sqlstate(sqlstate: Option<&str>, message: String) -> EdgeError {
    let Some(code) = sqlstate else {
        return EdgeError::internal(format!("query failed without SQLSTATE: {message}"));
    };
    if let Some(kind) = code.strip_prefix("PT").and_then(|status| status.parse::<u16>().ok()).and_then(ErrorKind::from_status) {
        if kind != ErrorKind::Internal && !message.trim().is_empty() {
            return EdgeError::new(kind, message);
        }
    }
    match code {
        "23505" => {
            eprintln!("unique violation: {message}");
            EdgeError::new(ErrorKind::Conflict, "the request conflicts with existing data")
        }
        "22P02" | "22023" | "23514" | "22P05" | "22021" | "22007" | "22008" | "22003" => {
            eprintln!("invalid input ({code}): {message}");
            EdgeError::invalid("the request contains an invalid value")
        }
        "42501" => {
            eprintln!("insufficient privilege: {message}");
            EdgeError::forbidden("permission denied")
        }
        // The session is gone or cannot be had right now: connection
        // exceptions, shutdown or crash of the server, a server still starting,
        // an idle session cut off, too many connections.
        _ if code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "57P05" | "53300") => {
            EdgeError::unavailable("the database", format!("{code}: {message}"))
        }
        _ => EdgeError::internal(format!("SQLSTATE {code}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query(code: &str, message: &str) -> EdgeError {
        DbError::Query { sqlstate: Some(code.into()), message: message.into() }.into()
    }

    #[test]
    fn a_rejected_callback_answer_becomes_its_status() {
        let conflict = rejected_callback(&json!({"error": {"status": 409, "message": "job is already completed"}, "job": {}}));
        let conflict = conflict.expect("a rejection");
        assert_eq!((conflict.status(), conflict.message.as_str()), (409, "job is already completed"));
        let gone = rejected_callback(&json!({"error": {"status": 404, "message": "job not found"}})).expect("a rejection");
        assert_eq!(gone.status(), 404);
        let odd = rejected_callback(&json!({"error": {"status": "teapot"}})).expect("a rejection");
        assert_eq!(odd.status(), 409);
        assert!(rejected_callback(&json!({"job": {}, "assets": []})).is_none());
    }

    #[test]
    fn pt_sqlstates_answer_their_http_status_with_the_sql_message() {
        for (code, status, api_code) in [
            ("PT400", 400, "invalid_request"),
            ("PT403", 403, "forbidden"),
            ("PT404", 404, "not_found"),
            ("PT409", 409, "conflict"),
            ("PT429", 429, "rate_limited"),
        ] {
            let error = query(code, "a sentence from the SQL function");
            assert_eq!((error.status(), error.code()), (status, api_code), "{code}");
            assert_eq!(error.message, "a sentence from the SQL function");
        }
    }

    #[test]
    fn bytes_text_cannot_hold_are_bad_input_never_a_500() {
        // 22021: a NUL or invalid UTF-8 byte in a text parameter; 22P05: a
        // `\u0000` escape in a JSON argument.
        for (code, message) in [
            ("22021", "invalid byte sequence for encoding \"UTF8\": 0x00"),
            ("22P05", "unsupported Unicode escape sequence"),
        ] {
            let error = query(code, message);
            assert_eq!((error.status(), error.code()), (400, "invalid_request"), "{code}");
            assert!(!error.message.contains("UTF8") && !error.message.contains("escape"), "{code}");
        }
    }

    #[test]
    fn a_token_whose_user_does_not_exist_is_401() {
        let error = query("PT401", "the token's user does not exist");
        assert_eq!((error.status(), error.code()), (401, "unauthorized"));
        assert_eq!(error.message, "the token's user does not exist");
    }

    #[test]
    fn pt_sqlstates_outside_the_contract_are_internal() {
        assert_eq!(query("PT418", "teapot").status(), 500);
        assert_eq!(query("PTabc", "x").status(), 500);
        assert_eq!(query("PT500", "x").message, "the server could not complete the request");
    }

    #[test]
    fn constraint_and_input_sqlstates_map_to_client_errors_without_details() {
        let error = query("23505", "duplicate key value violates unique constraint \"jobs_pkey\"");
        assert_eq!(error.status(), 409);
        assert!(!error.message.contains("jobs_pkey"));
        for code in ["22P02", "22023", "23514", "22007", "22008", "22003"] {
            let error = query(code, "invalid input syntax for type uuid");
            assert_eq!(error.status(), 400, "{code}");
            assert!(!error.message.contains("uuid"));
        }
        assert_eq!(query("42501", "permission denied for table jobs").status(), 403);
    }

    #[test]
    fn connection_failures_are_503() {
        assert_eq!(EdgeError::from(DbError::Connect("connection refused".into())).status(), 503);
        for code in ["08006", "08001", "57P01", "57P02", "57P03", "57P05", "53300"] {
            let error = query(code, "terminating connection");
            assert_eq!((error.status(), error.code()), (503, "unavailable"), "{code}");
            assert!(!error.message.contains("terminating"), "{code}");
        }
    }

    #[test]
    fn anything_else_is_a_generic_500() {
        for code in ["XX000", "42883", "42P01", "40001"] {
            let error = query(code, "function public.enqueue_job(jsonb, text) does not exist");
            assert_eq!(error.status(), 500, "{code}");
            assert!(!error.message.contains("enqueue_job"));
        }
        let error: EdgeError = DbError::Query { sqlstate: None, message: "boom".into() }.into();
        assert_eq!(error.status(), 500);
        let error: EdgeError = DbError::Decode("bad".into()).into();
        assert_eq!(error.status(), 500);
    }

    #[test]
    fn calls_bind_text_parameters_with_casts_in_sql() {
        let call = enqueue_job(&json!({"mode": "image"}), None);
        assert_eq!(call.params, vec![SqlParam::Text(r#"{"mode":"image"}"#.into()), SqlParam::Null]);
        assert!(call.statement.contains("$1::text::jsonb"));
        let call = discard_workspace_assets(&Target::Assets(vec![Uuid::nil()]));
        assert_eq!(call.params, vec![SqlParam::TextArray(vec![Uuid::nil().to_string()]), SqlParam::Null]);
        assert!(call.statement.ends_with("::text"));
        assert_eq!(list_workspace(&ListQuery::default()).params, vec![SqlParam::Null; 8]);
        let call = complete_storage_deletions(&[3, 4]);
        assert_eq!(call.params, vec![SqlParam::TextArray(vec!["3".into(), "4".into()])]);
    }

    #[test]
    fn every_call_returns_one_text_column() {
        let ids = Target::Assets(vec![Uuid::nil()]);
        let calls = [
            enqueue_job(&json!({}), Some("k")),
            record_job_result(&json!({})),
            list_workspace(&ListQuery { page_size: Some(20), search: Some("fox".into()), ..ListQuery::default() }),
            prepare_workspace_save(&ids, Some(Uuid::nil()), Some("t"), Some(&["x".to_owned()])),
            save_workspace_assets(&json!([]), None, None, None),
            discard_workspace_assets(&ids),
            dismiss_workspace_items(&ids),
            restore_workspace_items(&Target::Job(Uuid::nil())),
            clear_workspace(),
            delete_workspace_items(Some(Uuid::nil()), None),
            claim_storage_deletions(Some(10)),
            claim_storage_deletions(None),
            complete_storage_deletions(&[1]),
            fail_storage_deletions(&[1], "e"),
        ];
        for call in calls {
            assert!(call.statement.starts_with("select public."), "{}", call.statement);
            assert!(call.statement.ends_with(")::text"), "{}", call.statement);
            let placeholders = (1..=call.params.len()).all(|i| call.statement.contains(&format!("${i}::text")));
            assert!(placeholders, "{}", call.statement);
        }
    }

    #[test]
    fn a_job_target_binds_job_id_and_leaves_asset_ids_null() {
        let job = Uuid::nil();
        let call = prepare_workspace_save(&Target::Job(job), None, None, None);
        assert_eq!(
            call.params,
            vec![SqlParam::Null, SqlParam::Text(job.to_string()), SqlParam::Null, SqlParam::Null, SqlParam::Null]
        );
        let call = discard_workspace_assets(&Target::Job(job));
        assert_eq!(call.params, vec![SqlParam::Null, SqlParam::Text(job.to_string())]);
    }

    #[test]
    fn results_parse_as_json_and_null_as_null() {
        assert_eq!(parse_result(Some(r#"{"deleted":["a"]}"#)).unwrap(), json!({"deleted": ["a"]}));
        assert_eq!(parse_result(Some("3")).unwrap(), json!(3));
        assert_eq!(parse_result(None).unwrap(), Value::Null);
        assert!(matches!(parse_result(Some("{")), Err(DbError::Decode(_))));
    }
}
