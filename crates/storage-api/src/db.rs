//! Postgres: the connection pool, the per-request security scope, and every
//! query the API runs against `storage.buckets` and `storage.objects`.
//!
//! A request's metadata work is one transaction that starts with the scope
//! statement, exactly as supabase/storage (`src/internal/database/postgres/scope.ts`)
//! and PostgREST do it: `set_config('role', ..)` and `set_config('request.jwt.claims', ..)`
//! local to the transaction, so the row-level security policies on
//! `storage.objects` decide what the caller may see and change (`service_role`
//! bypasses them). Only bucket settings are read before the scope, as the pool's
//! own (superuser) role, because limits and the `public` flag apply to everyone.
//! Rows are rendered to JSON by Postgres itself, in UTC, so timestamps have the
//! `2021-04-06T16:30:35.394674+00:00` shape supabase answers with.

use std::collections::HashSet;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Transaction};
use serde_json::Value;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{Client, NoTls};
use bytes::BytesMut;

use crate::auth::Caller;
use crate::error::StorageError;
use crate::key::{BucketId, ObjectKey};

/// Connections the API keeps at most; uploads hold one only for their short final transaction.
const POOL_SIZE: usize = 16;

/// The columns of supabase's `objectSchema`, as one JSON object per row of `storage.objects o`.
macro_rules! object_json {
    () => {
        "jsonb_build_object('name', o.name, 'bucket_id', o.bucket_id, 'owner', o.owner, 'owner_id', o.owner_id, \
         'version', o.version, 'id', o.id, 'updated_at', o.updated_at, 'created_at', o.created_at, \
         'last_accessed_at', o.last_accessed_at, 'metadata', o.metadata, 'user_metadata', o.user_metadata)"
    };
}

macro_rules! insert_object {
    () => {
        "insert into storage.objects as o (id, bucket_id, name, owner, owner_id, metadata, user_metadata, version) \
         values ($1::text::uuid, $2, $3, $4::text::uuid, $5, $6, $7, $8)"
    };
}

/// Supabase's `upsertObject`: an existing row keeps its id and creation time.
macro_rules! upsert_object {
    () => {
        concat!(
            insert_object!(),
            " on conflict (bucket_id, name) do update set owner = excluded.owner, owner_id = excluded.owner_id, \
             metadata = excluded.metadata, user_metadata = excluded.user_metadata, version = excluded.version, \
             updated_at = now(), last_accessed_at = now()"
        )
    };
}

/// `storage.allow_delete_query` lifts the `protect_delete` trigger for this
/// transaction only; it is set just where the API deletes rows.
const SCOPE: &str = "select set_config('role', $1, true), set_config('request.jwt.claim.role', $1, true), \
     set_config('request.jwt.claim.sub', $2, true), set_config('request.jwt.claims', $3, true), \
     set_config('timezone', 'UTC', true), set_config('storage.allow_delete_query', $4, true)";

/// Bucket ids and keys bind as the text they are.
macro_rules! bind_as_text {
    ($($name:ty),*) => {$(
        impl ToSql for $name {
            fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
                self.as_str().to_sql(ty, out)
            }

            fn accepts(ty: &Type) -> bool {
                <&str as ToSql>::accepts(ty)
            }

            to_sql_checked!();
        }
    )*};
}

bind_as_text!(BucketId, ObjectKey);

/// Build the pool. Connecting is lazy; [`check_schema`] proves the database is there.
pub fn connect(database_url: &str) -> Result<Pool, StorageError> {
    let config: tokio_postgres::Config =
        database_url.parse().map_err(|e| StorageError::Startup(format!("invalid database_url: {e}")))?;
    let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        .build()
        .map_err(|e| StorageError::Startup(format!("database pool: {e}")))
}

/// Fail at startup, with a readable reason, when the database or its storage schema is missing.
pub async fn check_schema(pool: &Pool) -> Result<(), StorageError> {
    let client = pool.get().await.map_err(|e| StorageError::Startup(format!("cannot reach the database: {e}")))?;
    client
        .query("select 1 from storage.buckets, storage.objects limit 0", &[])
        .await
        .map_err(|e| StorageError::Startup(format!("storage schema is not usable (apply the Supabase bootstrap): {e}")))?;
    Ok(())
}

/// Whether a transaction may delete rows of `storage.objects`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Deletes {
    Allowed,
    Forbidden,
}

/// Open a transaction that runs as `caller`: every later statement in it is subject to RLS.
pub async fn begin_as<'a>(
    client: &'a mut Object,
    caller: &Caller,
    deletes: Deletes,
) -> Result<Transaction<'a>, StorageError> {
    let tx = client.transaction().await?;
    let allow_delete = if deletes == Deletes::Allowed { "true" } else { "false" };
    tx.execute(SCOPE, &[&caller.role, &caller.sub.as_deref().unwrap_or(""), &caller.claims_json, &allow_delete])
        .await?;
    Ok(tx)
}

/// The settings of a bucket that apply to every caller.
pub struct BucketInfo {
    pub public: bool,
    pub file_size_limit: Option<i64>,
    pub allowed_mime_types: Vec<String>,
}

/// Read bucket settings as the pool's role (supabase reads them as superuser too).
pub async fn find_bucket(client: &Client, bucket: &BucketId) -> Result<Option<BucketInfo>, StorageError> {
    let row = client
        .query_opt(
            "select coalesce(public, false), file_size_limit, coalesce(allowed_mime_types, '{}') \
             from storage.buckets where id = $1",
            &[&bucket.as_str()],
        )
        .await?;
    Ok(row.map(|row| BucketInfo {
        public: row.get(0),
        file_size_limit: row.get(1),
        allowed_mime_types: row.get(2),
    }))
}

/// One row of `storage.objects` to create or overwrite, owned by its caller.
pub struct ObjectWrite {
    pub bucket: BucketId,
    pub key: ObjectKey,
    pub metadata: Value,
    pub user_metadata: Option<Value>,
    id: String,
    owner: Option<String>,
    owner_id: Option<String>,
    version: String,
}

impl ObjectWrite {
    /// A fresh id and version (supabase gives every write a new version), owned by `caller`.
    pub fn new(bucket: BucketId, key: ObjectKey, caller: &Caller, metadata: Value, user_metadata: Option<Value>) -> Self {
        ObjectWrite {
            bucket,
            key,
            metadata,
            user_metadata,
            id: uuid::Uuid::new_v4().to_string(),
            owner: caller.sub.clone(),
            owner_id: caller.sub.clone(),
            version: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// The version this write gives the row: how a commit whose answer was
    /// lost is recognised afterwards.
    pub fn version(&self) -> &str {
        &self.version
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 8] {
        [
            &self.id,
            &self.bucket,
            &self.key,
            &self.owner,
            &self.owner_id,
            &self.metadata,
            &self.user_metadata,
            &self.version,
        ]
    }
}

/// Create the row (a duplicate name is a unique violation), or with `upsert`
/// create or overwrite it; answers the row's id. A plain insert does not read
/// the row back, so callers allowed to insert but not to select can upload.
pub async fn write_object(tx: &tokio_postgres::Transaction<'_>, object: &ObjectWrite, upsert: bool) -> Result<String, StorageError> {
    if upsert {
        let row = tx.query_one(concat!(upsert_object!(), " returning o.id::text"), &object.params()).await?;
        Ok(row.get(0))
    } else {
        tx.execute(insert_object!(), &object.params()).await?;
        Ok(object.id.clone())
    }
}

/// [`write_object`] answering the whole row, as supabase's copy does.
pub async fn write_object_returning_row(
    tx: &tokio_postgres::Transaction<'_>,
    object: &ObjectWrite,
    upsert: bool,
) -> Result<Value, StorageError> {
    let sql = if upsert {
        concat!(upsert_object!(), " returning ", object_json!())
    } else {
        concat!(insert_object!(), " returning ", object_json!())
    };
    Ok(tx.query_one(sql, &object.params()).await?.get(0))
}

/// `(metadata, user_metadata)` of an object the caller can see.
pub async fn find_object(
    tx: &tokio_postgres::Transaction<'_>,
    bucket: &BucketId,
    key: &ObjectKey,
) -> Result<Option<(Option<Value>, Option<Value>)>, StorageError> {
    let row = tx
        .query_opt(
            "select metadata, user_metadata from storage.objects where bucket_id = $1 and name = $2",
            &[&bucket.as_str(), &key.as_str()],
        )
        .await?;
    Ok(row.map(|row| (row.get(0), row.get(1))))
}

/// Delete one object the caller may delete; answers the id of the row that went.
pub async fn delete_object(
    tx: &tokio_postgres::Transaction<'_>,
    bucket: &BucketId,
    key: &ObjectKey,
) -> Result<Option<String>, StorageError> {
    let row = tx
        .query_opt(
            "delete from storage.objects where bucket_id = $1 and name = $2 returning id::text",
            &[&bucket.as_str(), &key.as_str()],
        )
        .await?;
    Ok(row.map(|row| row.get(0)))
}

/// Delete the named objects the caller may delete; answers `(name, row as JSON)` of each.
pub async fn delete_objects(
    tx: &tokio_postgres::Transaction<'_>,
    bucket: &BucketId,
    names: &[String],
) -> Result<Vec<(String, Value)>, StorageError> {
    let rows = tx
        .query(
            concat!(
                "delete from storage.objects o where o.bucket_id = $1 and o.name = any($2) returning o.name, ",
                object_json!()
            ),
            &[&bucket.as_str(), &names],
        )
        .await?;
    Ok(rows.into_iter().map(|row| (row.get(0), row.get(1))).collect())
}

/// Rename an object (possibly into another bucket), making the caller its owner
/// as supabase's move does; answers its id and metadata. `None` when the
/// caller cannot see or update it.
pub async fn move_object(
    tx: &tokio_postgres::Transaction<'_>,
    from: (&BucketId, &ObjectKey),
    to: (&BucketId, &ObjectKey),
    caller: &Caller,
) -> Result<Option<(String, Option<Value>)>, StorageError> {
    let row = tx
        .query_opt(
            "update storage.objects set bucket_id = $3, name = $4, owner = $5::text::uuid, owner_id = $6, \
             updated_at = now(), last_accessed_at = now() \
             where bucket_id = $1 and name = $2 returning id::text, metadata",
            &[&from.0.as_str(), &from.1.as_str(), &to.0.as_str(), &to.1.as_str(), &caller.sub, &caller.sub],
        )
        .await?;
    Ok(row.map(|row| (row.get(0), row.get(1))))
}

/// Which of `names` the caller can see, in one query (batch signing checks all paths at once).
pub async fn visible_names(
    tx: &tokio_postgres::Transaction<'_>,
    bucket: &BucketId,
    names: &[String],
) -> Result<HashSet<String>, StorageError> {
    let rows = tx
        .query("select name from storage.objects where bucket_id = $1 and name = any($2)", &[&bucket.as_str(), &names])
        .await?;
    Ok(rows.into_iter().map(|row| row.get(0)).collect())
}

/// Columns a listing may be sorted by (supabase's `sortBy.column` enum).
#[derive(Clone, Copy)]
pub enum SortColumn {
    Name,
    UpdatedAt,
    CreatedAt,
    LastAccessedAt,
}

/// One page of a folder listing, as supabase's `storage.search()`: the
/// immediate children of `prefix` (a folder, ending in `/` or empty) whose
/// names start with `search` (case-insensitively), folders as rows without id.
/// Sorted by name, folders and files interleave case-insensitively; sorted by
/// a timestamp, folders come first.
pub async fn search_objects(
    tx: &tokio_postgres::Transaction<'_>,
    bucket: &BucketId,
    prefix: &str,
    search: &str,
    page: (i64, i64),
    sort: (SortColumn, bool),
) -> Result<Vec<Value>, StorageError> {
    let direction = if sort.1 { "asc" } else { "desc" };
    let order = match sort.0 {
        SortColumn::Name => format!("lower(name) collate \"C\" {direction}"),
        SortColumn::UpdatedAt => format!("is_folder desc, folder_name {direction}, updated_at {direction}"),
        SortColumn::CreatedAt => format!("is_folder desc, folder_name {direction}, created_at {direction}"),
        SortColumn::LastAccessedAt => format!("is_folder desc, folder_name {direction}, last_accessed_at {direction}"),
    };
    let sql = format!(
        "with visible as ( \
           select substr(o.name, length($2::text) + 1) as rest, o.id, o.updated_at, o.created_at, o.last_accessed_at, o.metadata \
           from storage.objects o \
           where o.bucket_id = $1 and lower(left(o.name, length($2::text || $3::text))) = lower($2::text || $3::text) \
         ), entries as ( \
           select split_part(rest, '/', 1) as name, split_part(rest, '/', 1) as folder_name, true as is_folder, \
                  null::uuid as id, null::timestamptz as updated_at, null::timestamptz as created_at, \
                  null::timestamptz as last_accessed_at, null::jsonb as metadata \
           from visible where strpos(rest, '/') > 0 group by split_part(rest, '/', 1) \
           union all \
           select rest, null, false, id, updated_at, created_at, last_accessed_at, metadata \
           from visible where strpos(rest, '/') = 0 \
         ) \
         select jsonb_build_object('name', name, 'id', id, 'updated_at', updated_at, 'created_at', created_at, \
                'last_accessed_at', last_accessed_at, 'metadata', metadata) \
         from entries order by {order} limit $4 offset $5"
    );
    let rows = tx.query(&sql, &[&bucket.as_str(), &prefix, &search, &page.0, &page.1]).await?;
    Ok(rows.into_iter().map(|row| row.get(0)).collect())
}

/// The bucket columns supabase's bucket routes answer with.
const BUCKET_JSON: &str = "jsonb_build_object('id', id, 'name', name, 'owner', owner, 'public', public, \
     'created_at', created_at, 'updated_at', updated_at, 'file_size_limit', file_size_limit, \
     'allowed_mime_types', allowed_mime_types)";

/// Columns buckets may be listed by.
#[derive(Clone, Copy)]
pub enum BucketSort {
    Id,
    Name,
    CreatedAt,
    UpdatedAt,
}

/// The buckets the caller can see (RLS on `storage.buckets`), with supabase's
/// list options: name substring `search`, sort, `limit`/`offset`.
pub async fn list_buckets(
    tx: &tokio_postgres::Transaction<'_>,
    search: Option<&str>,
    sort: (BucketSort, bool),
    page: (Option<i64>, i64),
) -> Result<Vec<Value>, StorageError> {
    let column = match sort.0 {
        BucketSort::Id => "id",
        BucketSort::Name => "name",
        BucketSort::CreatedAt => "created_at",
        BucketSort::UpdatedAt => "updated_at",
    };
    let direction = if sort.1 { "asc" } else { "desc" };
    let sql = format!(
        "select {BUCKET_JSON} || jsonb_build_object('type', 'STANDARD') from storage.buckets \
         where $1::text is null or strpos(lower(name), lower($1)) > 0 \
         order by {column} {direction} limit $2 offset $3"
    );
    let rows = tx.query(&sql, &[&search, &page.0, &page.1]).await?;
    Ok(rows.into_iter().map(|row| row.get(0)).collect())
}

/// One bucket, if the caller can see it.
pub async fn get_bucket(tx: &tokio_postgres::Transaction<'_>, id: &str) -> Result<Option<Value>, StorageError> {
    let sql = format!("select {BUCKET_JSON} from storage.buckets where id = $1");
    Ok(tx.query_opt(&sql, &[&id]).await?.map(|row| row.get(0)))
}

/// What a COMMIT that failed did. A refused commit (a deferred check) rolled
/// back; a lost connection leaves it unknown until the database is asked again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    Committed,
    RolledBack,
    /// The database did not answer within [`OUTCOME_PATIENCE`].
    Unknown,
}

/// How long a commit whose answer was lost is asked about.
const OUTCOME_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// A probe: whether the rows an upload or copy wrote (`$1` bucket, `$2` name, `$3` version) are there.
pub const WROTE_VERSION: &str =
    "select exists (select 1 from storage.objects where bucket_id = $1 and name = $2 and version = $3)";
/// A probe: whether a moved row (`$1` id) is at its destination (`$2` bucket, `$3` name).
pub const MOVED_ROW: &str =
    "select exists (select 1 from storage.objects where id = $1::text::uuid and bucket_id = $2 and name = $3)";
/// A probe: whether the deleted rows (`$1` ids) are gone.
pub const DELETED_ROWS: &str =
    "select not exists (select 1 from storage.objects where id = any ($1::text[]::uuid[]))";

/// Settle a COMMIT that failed with `err`. When the connection was lost the
/// transaction may have committed all the same, so `probe` — true exactly
/// when the transaction's writes are visible — is asked on fresh
/// connections, as the pool's role, until the database answers or
/// [`OUTCOME_PATIENCE`] runs out. Moving files back on a commit that in fact
/// happened would leave rows without their files.
pub async fn commit_outcome(
    pool: &Pool,
    err: &tokio_postgres::Error,
    probe: &str,
    params: &[&(dyn ToSql + Sync)],
) -> CommitOutcome {
    if !crate::error::is_unavailable(err) {
        return CommitOutcome::RolledBack;
    }
    let deadline = tokio::time::Instant::now() + OUTCOME_PATIENCE;
    let mut pause = std::time::Duration::from_millis(100);
    loop {
        if let Ok(client) = pool.get().await {
            if let Ok(row) = client.query_one(probe, params).await {
                let visible: bool = row.get(0);
                return if visible { CommitOutcome::Committed } else { CommitOutcome::RolledBack };
            }
        }
        if tokio::time::Instant::now() + pause > deadline {
            tracing::error!("storage api: the outcome of a commit is unknown (the database did not answer): {err}");
            return CommitOutcome::Unknown;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error of a session the server terminated: what a crash or restart
    /// leaves a commit with.
    async fn lost_session_error(url: &str) -> tokio_postgres::Error {
        let victim = ourvidz_test_support::connect(url).await;
        let pid: i32 = victim.query_one("select pg_backend_pid()", &[]).await.unwrap().get(0);
        let admin = ourvidz_test_support::connect(url).await;
        admin.execute("select pg_terminate_backend($1)", &[&pid]).await.unwrap();
        let mut error = None;
        for _ in 0..50 {
            match victim.query_one("select 1", &[]).await {
                Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
                Err(err) => {
                    error = Some(err);
                    break;
                }
            }
        }
        error.expect("the terminated session fails")
    }

    #[tokio::test]
    async fn a_commit_whose_answer_was_lost_is_read_back() {
        let url = ourvidz_test_support::admin_url("");
        let pool = connect(&url).unwrap();
        let lost = lost_session_error(&url).await;
        assert!(crate::error::is_unavailable(&lost), "{lost}");
        assert_eq!(commit_outcome(&pool, &lost, "select true", &[]).await, CommitOutcome::Committed);
        assert_eq!(commit_outcome(&pool, &lost, "select false", &[]).await, CommitOutcome::RolledBack);
        assert_eq!(commit_outcome(&pool, &lost, "select $1::bool", &[&true]).await, CommitOutcome::Committed);
    }

    #[tokio::test]
    async fn a_refused_commit_rolled_back_without_asking() {
        let url = ourvidz_test_support::admin_url("");
        let pool = connect(&url).unwrap();
        let client = ourvidz_test_support::connect(&url).await;
        let refused = client.query_one("select 1 / 0", &[]).await.unwrap_err();
        assert_eq!(commit_outcome(&pool, &refused, "select true", &[]).await, CommitOutcome::RolledBack);
    }

    #[tokio::test]
    async fn an_unanswered_question_is_unknown() {
        let url = ourvidz_test_support::admin_url("");
        let lost = lost_session_error(&url).await;
        // nothing listens on port 1: the database never answers
        let nowhere = connect("postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=1").unwrap();
        tokio::time::pause();
        assert_eq!(commit_outcome(&nowhere, &lost, "select true", &[]).await, CommitOutcome::Unknown);
    }
}
