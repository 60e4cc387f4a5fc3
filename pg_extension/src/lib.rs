//! The `ourvidz` Postgres extension: the database of the generation workspace.
//!
//! The design lives in `sql/`, one file per concern, pulled in below in
//! dependency order; Rust supplies the functions where it earns its place
//! (the storage path normaliser used by every policy and check, the
//! collection-count trigger, the batched cleanup). Each Rust function has a
//! plpgsql twin in `sql/twins/` for hosted Supabase, where no shared library
//! can be loaded; the pg_regress suite runs against both builds.
//!
//! The extension expects Supabase's `auth` and `storage` schemas and roles.
//! On a plain Postgres, apply `bootstrap/supabase_compat.sql` first.

use pgrx::prelude::*;

mod cleanup;
mod collection_count;
mod storage_path;

::pgrx::pg_module_magic!(name, version);

// pgrx's test framework runs `CREATE EXTENSION` on a fresh database with no
// hook before it, so only the test build carries the compatibility bootstrap.
#[cfg(feature = "pg_test")]
extension_sql_file!("../bootstrap/supabase_compat.sql", name = "test_bootstrap", bootstrap);

extension_sql_file!("../sql/schema.sql", name = "schema", requires = [storage_path::storage_path_is_owned]);
extension_sql_file!("../sql/outbox.sql", name = "outbox", requires = ["schema"]);
extension_sql_file!(
    "../sql/collections.sql",
    name = "collections",
    requires = ["schema", collection_count::update_collection_asset_count]
);
extension_sql_file!("../sql/policies.sql", name = "policies", requires = ["outbox", "collections"]);
extension_sql_file!("../sql/storage.sql", name = "storage", requires = ["schema", storage_path::storage_path_is_owned]);
extension_sql_file!("../sql/queue.sql", name = "queue", requires = ["policies", storage_path::normalize_storage_path]);
extension_sql_file!("../sql/workspace.sql", name = "workspace", requires = ["queue"]);
extension_sql_file!(
    "../sql/maintenance.sql",
    name = "maintenance",
    requires = ["workspace", "storage", cleanup::cleanup_expired_workspace_assets]
);
extension_sql_file!("../sql/realtime.sql", name = "realtime", requires = ["maintenance"]);
extension_sql_file!("../sql/extension_only.sql", name = "extension_only", finalize);

/// Required by `cargo pgrx test`; must be visible at the crate root.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
