//! Both builds of the database side by side, for differential tests of the
//! twins (tests/twins.rs).
//!
//! Four functions exist twice: in Rust in the extension (`create extension
//! ourvidz`) and in plpgsql in the pure-SQL build (`migrations/`, for hosted
//! Supabase). A twin is only a twin if both answer alike, so [`Builds::create`]
//! makes one fresh database of each build in the Postgres at `OURVIDZ_TEST_PG`
//! (the extension must be installed: `scripts/test.sh install`), and a test
//! runs the same statements on both and compares what comes back — rows as
//! text, or the error's SQLSTATE and message. Dropping [`Builds`] drops both
//! databases.

use std::path::{Path, PathBuf};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

/// What a statement gave: its rows (every column as text), or its error as
/// `SQLSTATE message`.
pub type Answer = Result<Vec<Vec<Option<String>>>, String>;

/// One database of each build.
pub struct Builds {
    pub extension: Client,
    pub migrations: Client,
    admin_url: String,
    names: [String; 2],
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

fn with_database(url: &str, db: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{db}"),
        None => panic!("OURVIDZ_TEST_PG is not a postgresql:// URL with a database: {url}"),
    }
}

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap_or_else(|e| panic!("connect {url}: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo_root().join(relative)).unwrap_or_else(|e| panic!("read {relative}: {e}"))
}

impl Builds {
    /// Fresh databases of both builds, each with the compatibility bootstrap.
    pub async fn create() -> Builds {
        let admin_url = std::env::var("OURVIDZ_TEST_PG").expect(
            "OURVIDZ_TEST_PG is not set: these tests need a running Postgres 15 with the ourvidz extension \
             installed (scripts/test.sh install regress sets it up)",
        );
        let id = Uuid::new_v4().simple().to_string();
        let names = [format!("diff_extension_{id}"), format!("diff_migrations_{id}")];
        let admin = connect(&admin_url).await;
        for name in &names {
            admin.batch_execute(&format!("create database {name}")).await.expect("create database");
        }
        let bootstrap = read("pg_extension/bootstrap/supabase_compat.sql");

        let extension = connect(&with_database(&admin_url, &names[0])).await;
        extension.batch_execute(&bootstrap).await.expect("bootstrap the extension database");
        extension.batch_execute("create extension ourvidz").await.expect("create extension ourvidz (is it installed?)");

        let migrations = connect(&with_database(&admin_url, &names[1])).await;
        migrations.batch_execute(&bootstrap).await.expect("bootstrap the migrations database");
        let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join("migrations"))
            .expect("migrations/")
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
            .collect();
        files.sort();
        for file in files {
            let sql = std::fs::read_to_string(&file).expect("a migration");
            migrations.batch_execute(&sql).await.unwrap_or_else(|e| panic!("apply {}: {e}", file.display()));
        }
        Builds { extension, migrations, admin_url, names }
    }

    /// Run `sql` on both builds; the extension's answer first.
    pub async fn both(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> (Answer, Answer) {
        (answer(&self.extension, sql, params).await, answer(&self.migrations, sql, params).await)
    }

    /// Run `sql` on both builds and require the same answer; returns it.
    #[track_caller]
    pub fn same(&self, what: &str, answers: (Answer, Answer)) -> Answer {
        let (extension, migrations) = answers;
        assert_eq!(extension, migrations, "{what}: the extension (left) and the pure-SQL build (right) differ");
        extension
    }

    /// Run statements that must succeed on both builds (fixtures).
    pub async fn setup(&self, sql: &str) {
        for (build, client) in [("extension", &self.extension), ("migrations", &self.migrations)] {
            client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{build} setup: {e}"));
        }
    }
}

/// Rows of `sql` with every column as text, or the error.
pub async fn answer(client: &Client, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Answer {
    match client.query(sql, params).await {
        Ok(rows) => Ok(rows
            .iter()
            .map(|row| (0..row.len()).map(|i| row.get::<_, Option<String>>(i)).collect())
            .collect()),
        Err(error) => match error.as_db_error() {
            Some(db) => Err(format!("{} {}", db.code().code(), db.message())),
            None => panic!("{sql}: {error}"),
        },
    }
}

impl Drop for Builds {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let statements: Vec<String> =
            self.names.iter().map(|name| format!("drop database if exists {name} with (force)")).collect();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let client = connect(&admin_url).await;
                for statement in statements {
                    client.batch_execute(&statement).await.ok()?;
                }
                Some(())
            })
        })
        .join();
    }
}
