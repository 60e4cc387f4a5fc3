//! The `ourvidz` Postgres extension: the database of the generation workspace.
//!
//! The design lives in `sql/`, one file per concern, pulled in below in the
//! dependency order of `sql/sources.list` (the list the pure-SQL build reads
//! too); Rust supplies the functions where it earns its place
//! (the storage path normaliser used by every policy and check, the
//! collection-count trigger, the batched cleanup). Each Rust function has a
//! plpgsql twin in `sql/twins/` for hosted Supabase, where no shared library
//! can be loaded; the pg_regress suite runs against both builds, and
//! `tests/differential` gives each pair the same generated inputs.
//!
//! The extension expects Supabase's `auth` and `storage` schemas and roles.
//! On a plain Postgres, apply `bootstrap/supabase_compat.sql` first.

mod cleanup;
mod collection_count;
mod storage_path;

::pgrx::pg_module_magic!(name, version);

// pgrx's test framework runs `CREATE EXTENSION` on a fresh database with no
// hook before it, so only the test build carries the compatibility bootstrap.
#[cfg(feature = "pg_test")]
::pgrx::extension_sql_file!("../bootstrap/supabase_compat.sql", name = "test_bootstrap", bootstrap);

// The SQL files, in the order of sql/sources.list (see build.rs).
include!(concat!(env!("OUT_DIR"), "/sql_sources.rs"));

/// Required by `cargo pgrx test`; must be visible at the crate root.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
