//! The HTTP surface, relative to `/rest/v1`: `/<table>` (GET, HEAD, POST,
//! PATCH, DELETE, OPTIONS), `/rpc/<function>` (GET, HEAD, POST, OPTIONS) and
//! `/` (the OpenAPI description). Each handler parses the request (PostgREST's
//! `ApiRequest.hs`), plans it against the schema cache, runs one statement in
//! the caller's transaction and shapes the answer as `Response.hs` does:
//! status, `Content-Range`, `Location`, `Preference-Applied`, and the
//! `response.headers`/`response.status` a function may set.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use serde_json::{Map, Value};
use tokio_postgres::Row;

use crate::auth::{self, Caller};
use crate::db::{self, Access, Scope};
use crate::error::{RestError, JSON_CONTENT_TYPE};
use crate::params::QueryParams;
use crate::plan::{self, Handler, ReadNode, Relation, Request};
use crate::prefer::{self, Count, Handling, Kind, MediaType, Preferences, Representation, Resolution};
use crate::range::{self, Range};
use crate::schema::{SchemaCache, Table};
use crate::{openapi, sql, App};

pub fn build(app: Arc<App>) -> Router {
    Router::new()
        .route("/", any(root))
        .route("/rpc/{name}", any(rpc))
        .route("/{table}", any(table))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(crate::cors::cors))
        .with_state(app)
}

/// Paths PostgREST does not serve are a 404 with `{}`.
async fn not_found() -> RestError {
    RestError::NotFound
}

/// What every handler reads from a request before planning.
struct Context {
    caller: Caller,
    /// The schema was named by `Accept-Profile`/`Content-Profile`: answers say `Content-Profile`.
    by_profile: bool,
    cache: Arc<SchemaCache>,
    method: Method,
    path: String,
    headers: HeaderMap,
    params: QueryParams,
    prefs: Preferences,
    accept: Vec<MediaType>,
}

impl Context {
    fn new(app: &App, method: Method, uri: &Uri, headers: HeaderMap, rpc_read: bool) -> Result<Context, RestError> {
        let caller = auth::caller(&headers, &app.verifier, auth::now_seconds())?;
        let cache = app.cache();
        // PostgREST's getSchema: reads name the schema in Accept-Profile, writes in Content-Profile.
        let profile_header = if matches!(method, Method::GET | Method::HEAD) { "accept-profile" } else { "content-profile" };
        let profile = headers.get(profile_header).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        if profile.as_ref().is_some_and(|p| *p != cache.schema) {
            return Err(RestError::UnacceptableSchema(cache.schema.clone()));
        }
        let params = QueryParams::parse(uri.query().unwrap_or(""), rpc_read)?;
        let prefs = Preferences::from_headers(&headers);
        if prefs.handling == Some(Handling::Strict) && !prefs.invalid.is_empty() {
            return Err(RestError::InvalidPreferences(prefs.invalid.clone()));
        }
        let accept = prefer::accepted(&headers);
        Ok(Context {
            caller,
            by_profile: profile.is_some(),
            cache,
            method,
            path: uri.path().to_owned(),
            headers,
            params,
            prefs,
            accept,
        })
    }

    /// The transaction settings PostgREST gives SQL for this request.
    fn scope(&self) -> Scope {
        let mut headers = Map::new();
        for (name, value) in &self.headers {
            if name != header::COOKIE {
                headers.insert(name.as_str().to_owned(), Value::from(String::from_utf8_lossy(value.as_bytes()).into_owned()));
            }
        }
        let mut cookies = Map::new();
        for value in self.headers.get_all(header::COOKIE) {
            for pair in String::from_utf8_lossy(value.as_bytes()).split(';') {
                if let Some((name, value)) = pair.trim().split_once('=') {
                    cookies.insert(name.to_owned(), Value::from(value.to_owned()));
                }
            }
        }
        Scope {
            search_path: format!("{}, \"extensions\"", sql::ident(&self.cache.schema)),
            role: self.caller.role.clone(),
            claims: self.caller.claims.clone(),
            method: self.method.as_str().to_owned(),
            path: self.path.clone(),
            headers: Value::Object(headers).to_string(),
            cookies: Value::Object(cookies).to_string(),
        }
    }

    /// PostgREST's `getRanges`: the root range (limit/offset with, for GET, the
    /// `Range` header) and every embedding's.
    fn ranges(&self) -> Result<(Range, HashMap<String, Range>), RestError> {
        let header_range = if self.method == Method::GET {
            range::from_header(self.headers.get(header::RANGE).and_then(|v| v.to_str().ok()))
        } else {
            Range::all()
        };
        let limit_range = self.params.ranges.get("limit").copied().unwrap_or_else(Range::all);
        let top = if limit_range.is_limit_zero() { limit_range } else { header_range.intersect(&limit_range) };
        if top.is_empty() && !limit_range.is_limit_zero() {
            return Err(RestError::InvalidRange(if header_range.is_empty() {
                "The lower boundary must be lower than or equal to the upper boundary in the Range header.".into()
            } else {
                "Limit should be greater than or equal to zero.".into()
            }));
        }
        let mutating = self.method == Method::PATCH || self.method == Method::DELETE;
        if mutating && !self.params.ranges.is_empty() && self.params.order.is_empty() {
            return Err(RestError::LimitNoOrder);
        }
        let mut ranges = self.params.ranges.clone();
        ranges.insert("limit".into(), top);
        Ok((top, ranges))
    }

    /// `Content-Type`, and `Content-Profile` when the request named the schema (`contentTypeHeaders`).
    fn content_headers(&self, media: &MediaType) -> Vec<(String, String)> {
        let mut headers = vec![("Content-Type".to_owned(), media.content_type())];
        if self.by_profile {
            headers.push(("Content-Profile".to_owned(), self.cache.schema.clone()));
        }
        headers
    }

    fn request<'a>(&'a self, ranges: &'a HashMap<String, Range>, reading: bool, max_rows: Option<i64>) -> Request<'a> {
        Request { params: &self.params, ranges, reading, max_rows }
    }
}

/// A JSON payload: the raw text handed to SQL, and the keys its objects share.
struct Payload {
    raw: String,
    keys: Vec<String>,
}

/// PostgREST's `getPayload`: JSON (an object, or an array of objects with the
/// same keys), or a form; `columns=` names the keys instead and passes the body as it is.
fn payload(body: &Bytes, headers: &HeaderMap, columns: Option<&Vec<String>>, rpc: bool) -> Result<Payload, RestError> {
    match prefer::content_type(headers) {
        MediaType::Json => {
            let raw = String::from_utf8(body.to_vec()).map_err(|_| RestError::InvalidBody("Empty or invalid json".into()))?;
            if let Some(columns) = columns {
                return Ok(Payload { raw, keys: columns.clone() });
            }
            if raw.trim().is_empty() && rpc {
                return Ok(Payload { raw: "{}".into(), keys: vec![] });
            }
            let value: Value = serde_json::from_str(&raw).map_err(|_| RestError::InvalidBody("Empty or invalid json".into()))?;
            let keys = match &value {
                Value::Object(object) => object.keys().cloned().collect(),
                Value::Array(items) => match items.first() {
                    None => vec![],
                    Some(Value::Object(first)) => {
                        let keys: BTreeSet<&String> = first.keys().collect();
                        let uniform = items.iter().all(|item| matches!(item, Value::Object(o) if o.keys().collect::<BTreeSet<_>>() == keys));
                        if !uniform {
                            return Err(RestError::InvalidBody("All object keys must match".into()));
                        }
                        keys.into_iter().cloned().collect()
                    }
                    Some(_) => return Err(RestError::InvalidBody("All object keys must match".into())),
                },
                _ => return Ok(Payload { raw: "[]".into(), keys: vec![] }),
            };
            Ok(Payload { raw, keys })
        }
        MediaType::UrlEncoded => {
            let object: Map<String, Value> =
                form_urlencoded::parse(body).into_owned().map(|(k, v)| (k, Value::from(v))).collect();
            let keys = object.keys().cloned().collect();
            Ok(Payload { raw: Value::Object(object).to_string(), keys })
        }
        other => Err(RestError::InvalidBody(format!("Content-Type not acceptable: {}", other.mime()))),
    }
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, RestError> {
    body.map_err(|e| RestError::InvalidBody(format!("The request body could not be read: {}", e.body_text())))
}

/// The columns every answer statement has, by position.
struct ReadRow {
    total: Option<i64>,
    page_total: i64,
    body: String,
    guc_headers: Option<String>,
    guc_status: Option<String>,
}

fn read_row(row: &Row) -> Result<ReadRow, RestError> {
    let get = |e: tokio_postgres::Error| RestError::internal("answer row", &e);
    Ok(ReadRow {
        total: row.try_get(0).map_err(get)?,
        page_total: row.try_get(1).map_err(get)?,
        body: row.try_get(2).map_err(get)?,
        guc_headers: row.try_get(3).map_err(get)?,
        guc_status: row.try_get(4).map_err(get)?,
    })
}

struct WriteRow {
    page_total: i64,
    location: Vec<String>,
    body: String,
    guc_headers: Option<String>,
    guc_status: Option<String>,
    inserted: Option<i32>,
}

fn write_row(row: &Row) -> Result<WriteRow, RestError> {
    let get = |e: tokio_postgres::Error| RestError::internal("answer row", &e);
    Ok(WriteRow {
        page_total: row.try_get(1).map_err(get)?,
        location: row.try_get(2).map_err(get)?,
        body: row.try_get(3).map_err(get)?,
        guc_headers: row.try_get(4).map_err(get)?,
        guc_status: row.try_get(5).map_err(get)?,
        inserted: row.try_get(6).map_err(get)?,
    })
}

/// The answer before a function's `response.status`/`response.headers` apply.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

impl Reply {
    fn finish(mut self, guc_headers: Option<&str>, guc_status: Option<&str>) -> Result<Response, RestError> {
        if let Some(status) = guc_status {
            self.status = status.trim().parse::<u16>().ok().filter(|s| (100..600).contains(s)).ok_or(RestError::GucStatus)?;
        }
        if let Some(extra) = guc_headers {
            let parsed: Vec<Map<String, Value>> = serde_json::from_str(extra).map_err(|_| RestError::GucHeaders)?;
            for object in parsed {
                if object.len() != 1 {
                    return Err(RestError::GucHeaders);
                }
                for (name, value) in object {
                    let value = value.as_str().ok_or(RestError::GucHeaders)?.to_owned();
                    self.headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case(&name));
                    self.headers.push((name, value));
                }
            }
        }
        let status = StatusCode::from_u16(self.status).map_err(|_| RestError::GucStatus)?;
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_str(value)) {
                headers.append(name, value);
            }
        }
        Ok((status, headers, self.body.unwrap_or_default()).into_response())
    }
}

fn answer(result: Result<Response, RestError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

fn singular(handler: Handler) -> bool {
    matches!(handler, Handler::Single(_))
}

/// The count wanted: `Some(limit)` to count (at most `limit` rows), and whether to EXPLAIN.
fn counting(prefs: &Preferences, max_rows: Option<i64>) -> (Option<Option<i64>>, bool) {
    match prefs.count {
        Some(Count::Exact) => (Some(None), false),
        Some(Count::Estimated) => (Some(max_rows.map(|m| m + 1)), true),
        Some(Count::Planned) => (None, true),
        None => (None, false),
    }
}

/// PostgREST's total for `count=planned|estimated`.
fn total(prefs: &Preferences, max_rows: Option<i64>, counted: Option<i64>, planned: Option<i64>) -> Option<i64> {
    match prefs.count {
        Some(Count::Planned) => planned,
        Some(Count::Estimated) => match (counted, max_rows) {
            (Some(total), Some(max)) if total <= max => Some(total),
            (counted, _) => counted.max(planned),
        },
        _ => counted,
    }
}

async fn table(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(table_request(&app, method, &uri, headers, &name, body).await)
}

async fn table_request(
    app: &App,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    name: &str,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, RestError> {
    if !matches!(method, Method::GET | Method::HEAD | Method::POST | Method::PATCH | Method::DELETE | Method::OPTIONS) {
        return Err(RestError::UnsupportedMethod(method.to_string()));
    }
    let ctx = Context::new(app, method.clone(), uri, headers, false)?;
    let cache = ctx.cache.clone();
    let table = cache
        .tables
        .get(name)
        .ok_or_else(|| RestError::sql("42P01", format!("relation \"{}.{name}\" does not exist", cache.schema)))?;
    match method {
        Method::OPTIONS => {
            let mut allow = vec!["OPTIONS,GET,HEAD"];
            if table.insertable {
                allow.push("POST");
            }
            if table.updatable {
                allow.push("PATCH");
            }
            if table.deletable {
                allow.push("DELETE");
            }
            let reply = Reply {
                status: 200,
                headers: vec![("Access-Control-Allow-Origin".into(), "*".into()), ("Allow".into(), allow.join(","))],
                body: None,
            };
            reply.finish(None, None)
        }
        Method::GET | Method::HEAD => read(app, &ctx, table, method == Method::HEAD).await,
        Method::POST => insert(app, &ctx, table, &body_bytes(body)?).await,
        Method::PATCH => update(app, &ctx, table, &body_bytes(body)?).await,
        _ => delete(app, &ctx, table).await,
    }
}

fn content_location(table: &str, params: &QueryParams) -> String {
    if params.canonical.is_empty() {
        format!("/{table}")
    } else {
        format!("/{table}?{}", params.canonical)
    }
}

async fn read(app: &App, ctx: &Context, table: &Table, head: bool) -> Result<Response, RestError> {
    let (handler, media) = plan::negotiate(&ctx.accept)?;
    let body_handler = if head { Handler::NoBody } else { handler };
    let (top, ranges) = ctx.ranges()?;
    let node = plan::read_plan(&ctx.cache, &Relation::table(table), &ctx.request(&ranges, true, app.max_rows))?;
    let (count, explain) = counting(&ctx.prefs, app.max_rows);
    let statement = sql::read_statement(&ctx.cache.schema, &node, body_handler, count);
    let explain = explain.then(|| sql::planned_count(&ctx.cache.schema, &node, sql::Source::Table(&node.relation), None));
    let answer = db::run(app.pool.clone(), ctx.scope(), Access::ReadOnly, statement, explain, move |row| {
        let page_total: i64 = row.try_get(1).map_err(|e| RestError::internal("answer row", &e))?;
        if singular(handler) && page_total != 1 {
            return Err(RestError::Singularity(page_total));
        }
        Ok(())
    })
    .await?;
    let row = read_row(&answer.row)?;
    let total = total(&ctx.prefs, app.max_rows, row.total, answer.planned);
    let (status, content_range) = range::read_status(&top, row.page_total, total);
    let mut headers = vec![
        ("Content-Range".to_owned(), content_range),
        ("Content-Location".to_owned(), content_location(&table.name, &ctx.params)),
    ];
    headers.extend(ctx.content_headers(&media));
    headers.extend(ctx.prefs.applied(&[Kind::Count, Kind::Handling]).map(|v| ("Preference-Applied".to_owned(), v)));
    let body = if status == 416 {
        let total = total.unwrap_or(0);
        let err = RestError::InvalidRange(format!("An offset of {} was requested, but there are only {total} rows.", top.lower));
        headers.retain(|(n, _)| n != "Content-Type");
        headers.push(("Content-Type".into(), JSON_CONTENT_TYPE.into()));
        Some(err.body().to_string())
    } else if head {
        None
    } else {
        Some(row.body)
    };
    Reply { status, headers, body }.finish(row.guc_headers.as_deref(), row.guc_status.as_deref())
}

/// The pieces every mutation shares: the read over its rows and how it answers.
struct Mutation {
    node: ReadNode,
    handler: Handler,
    media: MediaType,
    returning: Vec<String>,
}

fn mutation(app: &App, ctx: &Context, table: &Table) -> Result<Mutation, RestError> {
    let (handler, media) = plan::negotiate(&ctx.accept)?;
    let (_, ranges) = ctx.ranges()?;
    let node = plan::read_plan(&ctx.cache, &Relation::table(table), &ctx.request(&ranges, false, app.max_rows))?;
    let returning = match ctx.prefs.representation {
        Some(Representation::Full) | Some(Representation::HeadersOnly) => plan::returning_columns(&node, &table.primary_key),
        _ => vec![],
    };
    let handler = if plan::returns_rows(&ctx.prefs) { handler } else { Handler::NoBody };
    Ok(Mutation { node, handler, media, returning })
}

fn mutation_check(handler: Handler, prefs: &Preferences, limit: Option<i64>) -> impl FnOnce(&Row) -> Result<(), RestError> + Send + 'static {
    let max_affected = (prefs.handling == Some(Handling::Strict)).then_some(prefs.max_affected).flatten();
    move |row: &Row| {
        let page_total: i64 = row.try_get(1).map_err(|e| RestError::internal("answer row", &e))?;
        if singular(handler) && page_total != 1 {
            return Err(RestError::Singularity(page_total));
        }
        if let Some(max) = max_affected {
            if page_total > max {
                return Err(RestError::MaxAffected(page_total));
            }
        }
        if let Some(limit) = limit {
            if page_total > limit {
                return Err(RestError::OffLimitsChanges { changed: page_total, limit });
            }
        }
        Ok(())
    }
}

fn with_body(
    ctx: &Context,
    mut headers: Vec<(String, String)>,
    media: &MediaType,
    handler: Handler,
    body: String,
) -> (Vec<(String, String)>, Option<String>) {
    if handler == Handler::NoBody {
        return (headers, None);
    }
    headers.extend(ctx.content_headers(media));
    (headers, Some(body))
}

async fn insert(app: &App, ctx: &Context, table: &Table, body: &Bytes) -> Result<Response, RestError> {
    let payload = payload(body, &ctx.headers, ctx.params.columns.as_ref(), false)?;
    let columns = plan::payload_columns(table, &payload.keys)?;
    let Mutation { node, handler, media, returning } = mutation(app, ctx, table)?;
    let conflict_columns = plan::conflict_columns(table, ctx.params.on_conflict.as_ref())?;
    let resolution = plan::on_conflict(&ctx.prefs, &conflict_columns);
    let headers_only = ctx.prefs.representation == Some(Representation::HeadersOnly);
    let schema = &ctx.cache.schema;
    let statement = sql::insert(&sql::Insert {
        schema,
        table: &table.name,
        columns: &columns,
        body: &payload.raw,
        conflict: resolution.map(|r| (r, conflict_columns.as_slice())),
        returning: &returning,
        defaults: ctx.prefs.missing == Some(prefer::Missing::Default),
    });
    let merge = resolution == Some(Resolution::MergeDuplicates);
    let statement = sql::write_statement(
        schema,
        statement,
        &node,
        handler,
        headers_only.then_some(table.primary_key.as_slice()),
        merge,
    );
    let check = mutation_check(handler, &ctx.prefs, None);
    let answer = db::run(app.pool.clone(), ctx.scope(), Access::ReadWrite, statement, None, check).await?;
    let row = write_row(&answer.row)?;
    let status = match row.inserted {
        Some(inserted) if merge && inserted <= 0 => 200,
        _ if merge && row.inserted.is_none() => 200,
        _ => 201,
    };
    let mut headers = Vec::new();
    if !row.location.is_empty() {
        let query = row.location.iter().map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            form_urlencoded::Serializer::new(String::new()).append_pair(k, v).finish()
        });
        headers.push(("Location".to_owned(), format!("/{}?{}", table.name, query.collect::<Vec<_>>().join("&"))));
    }
    headers.push(("Content-Range".to_owned(), range::content_range(1, 0, ctx.prefs.counts().then_some(row.page_total))));
    let mut kinds = vec![Kind::Missing, Kind::Representation, Kind::Count, Kind::Handling];
    if !table.primary_key.is_empty() || ctx.params.on_conflict.is_some() {
        kinds.push(Kind::Resolution);
    }
    headers.extend(ctx.prefs.applied(&kinds).map(|v| ("Preference-Applied".to_owned(), v)));
    let (headers, body) = with_body(ctx, headers, &media, handler, row.body);
    Reply { status, headers, body }.finish(row.guc_headers.as_deref(), row.guc_status.as_deref())
}

async fn update(app: &App, ctx: &Context, table: &Table, body: &Bytes) -> Result<Response, RestError> {
    let payload = payload(body, &ctx.headers, ctx.params.columns.as_ref(), false)?;
    let columns = plan::payload_columns(table, &payload.keys)?;
    let Mutation { node, handler, media, returning } = mutation(app, ctx, table)?;
    let (top, _) = ctx.ranges()?;
    let (logic, order) = plan::mutation_filters(&ctx.cache, table, &ctx.params)?;
    let schema = &ctx.cache.schema;
    let statement = sql::update(&sql::Update {
        schema,
        table: &table.name,
        columns: &columns,
        body: &payload.raw,
        logic: &logic,
        order: &order,
        range: top,
        returning: &returning,
        defaults: ctx.prefs.missing == Some(prefer::Missing::Default),
    });
    let statement = sql::write_statement(schema, statement, &node, handler, None, false);
    let check = mutation_check(handler, &ctx.prefs, top.limit());
    let answer = db::run(app.pool.clone(), ctx.scope(), Access::ReadWrite, statement, None, check).await?;
    let row = write_row(&answer.row)?;
    let mut headers =
        vec![("Content-Range".to_owned(), range::content_range(0, row.page_total - 1, ctx.prefs.counts().then_some(row.page_total)))];
    headers.extend(
        ctx.prefs
            .applied(&[Kind::Representation, Kind::Count, Kind::Missing, Kind::Handling, Kind::MaxAffected])
            .map(|v| ("Preference-Applied".to_owned(), v)),
    );
    let status = if handler == Handler::NoBody { 204 } else { 200 };
    let (headers, body) = with_body(ctx, headers, &media, handler, row.body);
    Reply { status, headers, body }.finish(row.guc_headers.as_deref(), row.guc_status.as_deref())
}

async fn delete(app: &App, ctx: &Context, table: &Table) -> Result<Response, RestError> {
    let Mutation { node, handler, media, returning } = mutation(app, ctx, table)?;
    let (top, _) = ctx.ranges()?;
    let (logic, order) = plan::mutation_filters(&ctx.cache, table, &ctx.params)?;
    let schema = &ctx.cache.schema;
    let statement = sql::delete(schema, &table.name, &logic, &order, top, &returning);
    let statement = sql::write_statement(schema, statement, &node, handler, None, false);
    let check = mutation_check(handler, &ctx.prefs, top.limit());
    let answer = db::run(app.pool.clone(), ctx.scope(), Access::ReadWrite, statement, None, check).await?;
    let row = write_row(&answer.row)?;
    let mut headers = vec![("Content-Range".to_owned(), range::content_range(1, 0, ctx.prefs.counts().then_some(row.page_total)))];
    headers.extend(
        ctx.prefs
            .applied(&[Kind::Representation, Kind::Count, Kind::Handling, Kind::MaxAffected])
            .map(|v| ("Preference-Applied".to_owned(), v)),
    );
    let status = if handler == Handler::NoBody { 204 } else { 200 };
    let (headers, body) = with_body(ctx, headers, &media, handler, row.body);
    Reply { status, headers, body }.finish(row.guc_headers.as_deref(), row.guc_status.as_deref())
}

async fn rpc(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    answer(rpc_request(&app, method, &uri, headers, &name, body).await)
}

async fn rpc_request(
    app: &App,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    name: &str,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, RestError> {
    let read = match method {
        Method::GET | Method::HEAD | Method::OPTIONS => true,
        Method::POST => false,
        other => return Err(RestError::InvalidRpcMethod(other.to_string())),
    };
    let ctx = Context::new(app, method.clone(), uri, headers, read)?;
    let cache = ctx.cache.clone();
    let (args, keys, json_body) = if read {
        let mut object = Map::new();
        for (key, value) in &ctx.params.rpc_args {
            object.insert(key.clone(), Value::from(value.clone()));
        }
        let keys: BTreeSet<String> = object.keys().cloned().collect();
        (Value::Object(object).to_string(), keys, false)
    } else {
        let body = body_bytes(body)?;
        let payload = payload(&body, &ctx.headers, ctx.params.columns.as_ref(), true)?;
        let json = prefer::content_type(&ctx.headers) == MediaType::Json;
        (payload.raw, payload.keys.into_iter().collect(), json)
    };
    let routine = plan::find_routine(&cache, name, &keys, ctx.prefs.single_object, json_body)?;
    if method == Method::OPTIONS {
        let allow = if routine.volatility == crate::schema::Volatility::Volatile { "OPTIONS,POST" } else { "OPTIONS,GET,HEAD,POST" };
        let headers = vec![("Access-Control-Allow-Origin".into(), "*".into()), ("Allow".into(), allow.into())];
        return Reply { status: 200, headers, body: None }.finish(None, None);
    }
    let (handler, media) = plan::negotiate(&ctx.accept)?;
    let head = method == Method::HEAD;
    let (top, ranges) = ctx.ranges()?;
    let node = plan::read_plan(&cache, &Relation::routine(routine, &cache), &ctx.request(&ranges, true, app.max_rows))?;
    let call_params = plan::call_params(routine, &keys, ctx.prefs.single_object);
    let call = sql::call(&cache.schema, routine, &call_params, &args);
    let (count, explain) = counting(&ctx.prefs, app.max_rows);
    let body_handler = if head { Handler::NoBody } else { handler };
    let explain = explain.then(|| sql::planned_count(&cache.schema, &node, sql::Source::Cte, Some(&call)));
    let statement = sql::call_statement(&cache.schema, call, routine, &node, body_handler, count.is_some());
    let access = if plan::call_writes(routine, method == Method::POST) { Access::ReadWrite } else { Access::ReadOnly };
    let check = mutation_check(handler, &ctx.prefs, None);
    let answer = db::run(app.pool.clone(), ctx.scope(), access, statement, explain, check).await?;
    let row = read_row(&answer.row)?;
    let total = total(&ctx.prefs, app.max_rows, row.total, answer.planned);
    let (status, content_range) = range::read_status(&top, row.page_total, total);
    let mut headers = vec![("Content-Range".to_owned(), content_range)];
    headers.extend(
        ctx.prefs
            .applied(&[Kind::Params, Kind::Count, Kind::Handling, Kind::MaxAffected])
            .map(|v| ("Preference-Applied".to_owned(), v)),
    );
    if routine.returns_void() {
        return Reply { status: 204, headers, body: None }.finish(row.guc_headers.as_deref(), row.guc_status.as_deref());
    }
    headers.extend(ctx.content_headers(&media));
    let body = if status == 416 {
        let total = total.unwrap_or(0);
        Some(RestError::InvalidRange(format!("An offset of {} was requested, but there are only {total} rows.", top.lower)).body().to_string())
    } else if head {
        None
    } else {
        Some(row.body)
    };
    Reply { status, headers, body }.finish(row.guc_headers.as_deref(), row.guc_status.as_deref())
}

async fn root(State(app): State<Arc<App>>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    answer(root_request(&app, method, &uri, headers).await)
}

async fn root_request(app: &App, method: Method, uri: &Uri, headers: HeaderMap) -> Result<Response, RestError> {
    match method {
        Method::GET | Method::HEAD => {}
        Method::OPTIONS => {
            let headers = vec![("Access-Control-Allow-Origin".into(), "*".into()), ("Allow".into(), "OPTIONS,GET,HEAD".into())];
            return Reply { status: 200, headers, body: None }.finish(None, None);
        }
        other => return Err(RestError::UnsupportedMethod(other.to_string())),
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_owned();
    let ctx = Context::new(app, method.clone(), uri, headers, false)?;
    if !ctx.accept.iter().any(|m| matches!(m, MediaType::OpenApi | MediaType::Json | MediaType::Any)) {
        return Err(RestError::MediaType(ctx.accept.iter().map(MediaType::mime).collect()));
    }
    let statement = openapi::accessible(&ctx.cache.schema);
    let answer = db::run(app.pool.clone(), ctx.scope(), Access::ReadOnly, statement, None, |_| Ok(())).await?;
    let get = |i: usize| -> Result<Vec<String>, RestError> {
        let text: String = answer.row.try_get(i).map_err(|e| RestError::internal("openapi row", &e))?;
        serde_json::from_str(&text).map_err(|e| RestError::internal("openapi names", &e))
    };
    let (tables, functions) = (get(0)?, get(1)?);
    let document = openapi::document(&ctx.cache, &tables, &functions, &host);
    let headers = vec![("Content-Type".to_owned(), MediaType::OpenApi.content_type())];
    let body = (method != Method::HEAD).then(|| document.to_string());
    Reply { status: 200, headers, body }.finish(None, None)
}
