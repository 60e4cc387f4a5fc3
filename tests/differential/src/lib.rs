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

use std::path::PathBuf;

use ourvidz_test_support::{connect, drop_databases, fresh_database, repo_root};

use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

/// What a statement gave: its rows (every column as text), or its error as
/// `SQLSTATE message`.
pub type Answer = Result<Vec<Vec<Option<String>>>, String>;

/// One database of each build.
pub struct Builds {
    pub extension: Client,
    pub migrations: Client,
    admin_url: String,
    urls: [String; 2],
}

impl Builds {
    /// Fresh databases of both builds, each with the compatibility bootstrap.
    pub async fn create() -> Builds {
        let admin_url = ourvidz_test_support::admin_url(" with the ourvidz extension installed (scripts/test.sh install regress sets it up)");
        let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join("migrations"))
            .expect("migrations/")
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
            .collect();
        files.sort();
        let migrations_sql: String =
            files.iter().map(|file| std::fs::read_to_string(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display())) + "\n").collect();
        let urls = [
            fresh_database(&admin_url, "diff_extension", "create extension ourvidz").await,
            fresh_database(&admin_url, "diff_migrations", &migrations_sql).await,
        ];
        let extension = connect(&urls[0]).await;
        let migrations = connect(&urls[1]).await;
        Builds { extension, migrations, admin_url, urls }
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
        drop_databases(&self.admin_url, &[&self.urls[0], &self.urls[1]]);
    }
}
