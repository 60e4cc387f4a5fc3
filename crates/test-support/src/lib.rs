//! What every test harness of the project shares (dev-dependency only): the
//! test cluster named by `OURVIDZ_TEST_PG` (a Postgres 15 superuser URL;
//! `scripts/test.sh` starts one), fresh databases in it with the Supabase
//! compatibility bootstrap applied, a connection, and the clock tokens are
//! minted against. Each harness keeps only what is its own: fixtures, the
//! service it starts, the requests it sends.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, as JWT claims count them.
pub fn now() -> i64 {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970");
    i64::try_from(elapsed.as_secs()).expect("seconds fit an i64")
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The superuser URL of the test cluster; panics with what the tests need
/// (`needs` completes "these tests need a Postgres 15 superuser URL ...").
pub fn admin_url(needs: &str) -> String {
    std::env::var("OURVIDZ_TEST_PG").unwrap_or_else(|_| {
        panic!(
            "OURVIDZ_TEST_PG is not set: these tests need a Postgres 15 superuser URL{needs}, \
             e.g. the cluster `scripts/test.sh native` starts"
        )
    })
}

/// `url` (a `postgres://` or `postgresql://` URL) with its database name
/// replaced by `dbname`; a query string is kept.
pub fn with_dbname(url: &str, dbname: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or_else(|| panic!("not a postgres URL: {url}"));
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{dbname}?{query}"),
        None => format!("{base}/{dbname}"),
    }
}

/// A connection to `url` whose driver runs on the current tokio runtime.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    tokio::spawn(connection);
    client
}

/// The Supabase compatibility bootstrap (roles, `auth`, `storage`).
pub fn bootstrap_sql() -> String {
    let path = repo_root().join("pg_extension/bootstrap/supabase_compat.sql");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Create database `{prefix}_{random}` in the cluster at `admin_url`, apply
/// the bootstrap and then `setup`, and return the new database's URL.
pub async fn fresh_database(admin_url: &str, prefix: &str, setup: &str) -> String {
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    connect(admin_url)
        .await
        .batch_execute(&format!("create database {name}"))
        .await
        .unwrap_or_else(|e| panic!("create database {name}: {e}"));
    let url = with_dbname(admin_url, &name);
    let db = connect(&url).await;
    db.batch_execute(&bootstrap_sql()).await.unwrap_or_else(|e| panic!("apply the Supabase bootstrap to {name}: {e}"));
    db.batch_execute(setup).await.unwrap_or_else(|e| panic!("set up {name}: {e}"));
    url
}

/// The database name of `url` (the last path segment, without a query).
pub fn database_name(url: &str) -> String {
    let base = url.split_once('?').map_or(url, |(base, _)| base);
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or_else(|| panic!("not a postgres URL: {url}"));
    base[after_scheme..].split_once('/').map(|(_, name)| name.to_owned()).unwrap_or_else(|| panic!("no database in {url}"))
}

/// Drop the databases `urls` name, from a thread of its own with its own
/// runtime: callable from `Drop`, inside or outside a tokio runtime. Errors
/// are ignored (a test that failed may have left the cluster gone).
pub fn drop_databases(admin_url: &str, urls: &[&str]) {
    let admin_url = admin_url.to_owned();
    let statements: Vec<String> =
        urls.iter().map(|url| format!("drop database if exists {} with (force)", database_name(url))).collect();
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await.ok()?;
            tokio::spawn(connection);
            for statement in statements {
                client.batch_execute(&statement).await.ok()?;
            }
            Some(())
        })
    })
    .join();
}

#[cfg(test)]
mod tests {
    use super::{database_name, with_dbname};

    #[test]
    fn database_name_is_the_last_segment() {
        assert_eq!(database_name("postgresql://u:p@h:1/e2e_x"), "e2e_x");
        assert_eq!(database_name("postgres://u@h/x?sslmode=disable"), "x");
    }

    #[test]
    fn dbname_is_replaced_and_query_kept() {
        assert_eq!(with_dbname("postgresql://u:p@h:1/postgres", "x"), "postgresql://u:p@h:1/x");
        assert_eq!(with_dbname("postgres://u@h/postgres?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
        assert_eq!(with_dbname("postgresql://u@h:5", "x"), "postgresql://u@h:5/x");
    }
}
