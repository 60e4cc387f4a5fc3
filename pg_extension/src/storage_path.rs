//! Storage object names: the normaliser and the ownership test used by RLS.
//!
//! Object names are stored without a bucket prefix and always start with the
//! owner's user id (`{user_id}/...`). Clients and workers hand us paths in
//! looser forms (`workspace-temp/{uid}/x.png`, `/{uid}/x.png`), so
//! `normalize_storage_path` brings them to the stored form and refuses anything
//! that could escape the owner's folder once a Storage backend joins it to a
//! directory: `.`/`..` segments, empty segments, backslashes, control
//! characters. `storage_path_is_owned` is the predicate the table checks and
//! the storage.objects policies use. Twins in plpgsql live in
//! `sql/twins/storage_path.sql` for the pure-SQL build; both must agree.

use pgrx::prelude::*;

/// The buckets whose prefix the normaliser strips when no bucket is named.
const BUCKETS: [&str; 2] = ["workspace-temp", "user-library"];

/// Longest object name accepted, in bytes (Supabase Storage's key limit).
const MAX_NAME_BYTES: usize = 1024;

/// Why a path was refused; the text is the SQL error message.
#[derive(Debug, PartialEq, Eq)]
pub enum PathError {
    Empty,
    TooLong,
    Backslash,
    ControlCharacter,
    EmptySegment,
    DotSegment,
}

impl PathError {
    fn message(&self) -> &'static str {
        match self {
            PathError::Empty => "storage path is empty",
            PathError::TooLong => "storage path is longer than 1024 bytes",
            PathError::Backslash => "storage path contains a backslash",
            PathError::ControlCharacter => "storage path contains a control character",
            PathError::EmptySegment => "storage path contains an empty segment",
            PathError::DotSegment => "storage path contains a '.' or '..' segment",
        }
    }
}

/// Strip a leading bucket prefix and surrounding slashes, then validate.
pub fn normalize<'a>(path: &'a str, bucket: Option<&str>) -> Result<&'a str, PathError> {
    if path.contains('\\') {
        return Err(PathError::Backslash);
    }
    if path.chars().any(char::is_control) {
        return Err(PathError::ControlCharacter);
    }
    let mut name = path.trim_start_matches('/');
    let prefixes: &[&str] = match bucket {
        Some(bucket) => &[bucket],
        None => &BUCKETS,
    };
    for prefix in prefixes {
        if let Some(rest) = name.strip_prefix(prefix).and_then(|rest| rest.strip_prefix('/')) {
            name = rest;
            break;
        }
    }
    let name = name.trim_matches('/');
    validate_name(name)?;
    Ok(name)
}

/// Validate an already-normalised object name.
pub fn validate_name(name: &str) -> Result<(), PathError> {
    if name.is_empty() {
        return Err(PathError::Empty);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(PathError::TooLong);
    }
    if name.contains('\\') {
        return Err(PathError::Backslash);
    }
    if name.chars().any(char::is_control) {
        return Err(PathError::ControlCharacter);
    }
    for segment in name.split('/') {
        match segment {
            "" => return Err(PathError::EmptySegment),
            "." | ".." => return Err(PathError::DotSegment),
            _ => {}
        }
    }
    Ok(())
}

/// True when `name` is a valid stored object name inside `owner`'s folder:
/// at least `{owner}/{file}`, no bucket prefix, nothing a normaliser would change.
pub fn is_owned(name: &str, owner: &str) -> bool {
    validate_name(name).is_ok()
        && name.strip_prefix(owner).is_some_and(|rest| rest.len() > 1 && rest.starts_with('/'))
}

/// Bring a storage path to its stored form (no bucket prefix, no leading or
/// trailing slash) or raise `22023 invalid_parameter_value`. NULL in, NULL out.
/// (Not `strict`: that would also return NULL when only `bucket` is NULL.)
#[pg_extern(immutable, parallel_safe)]
fn normalize_storage_path(path: Option<&str>, bucket: default!(Option<&str>, "NULL")) -> Option<String> {
    match normalize(path?, bucket) {
        Ok(name) => Some(name.to_string()),
        Err(error) => {
            ereport!(ERROR, PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, error.message());
        }
    }
}

/// Whether `path` is a valid stored object name in the folder of `owner`.
/// Used by table checks and storage.objects policies; never raises.
#[pg_extern(immutable, parallel_safe)]
fn storage_path_is_owned(path: Option<&str>, owner: Option<pgrx::Uuid>) -> bool {
    match (path, owner) {
        (Some(path), Some(owner)) => is_owned(path, &owner.to_string()),
        _ => false,
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use super::*;

    const UID: &str = "6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001";

    #[pg_test]
    fn strips_bucket_prefix_and_slashes() {
        assert_eq!(normalize("workspace-temp/u/j/0.png", None), Ok("u/j/0.png"));
        assert_eq!(normalize("/user-library/u/x.png/", None), Ok("u/x.png"));
        assert_eq!(normalize("//u/x.png", Some("user-library")), Ok("u/x.png"));
        assert_eq!(normalize("workspace-temp/u/x.png", Some("user-library")), Ok("workspace-temp/u/x.png"));
        assert_eq!(normalize("workspace-tempx/u", None), Ok("workspace-tempx/u"));
    }

    #[pg_test]
    fn refuses_traversal_and_odd_segments() {
        assert_eq!(normalize("u/../v/x.png", None), Err(PathError::DotSegment));
        assert_eq!(normalize("u/./x.png", None), Err(PathError::DotSegment));
        assert_eq!(normalize("workspace-temp/..", None), Err(PathError::DotSegment));
        assert_eq!(normalize("u//x.png", None), Err(PathError::EmptySegment));
        assert_eq!(normalize("u\\x.png", None), Err(PathError::Backslash));
        assert_eq!(normalize("u/x\n.png", None), Err(PathError::ControlCharacter));
        assert_eq!(normalize("u/x\u{7f}", None), Err(PathError::ControlCharacter));
        assert_eq!(normalize("///", None), Err(PathError::Empty));
        assert_eq!(normalize("workspace-temp/", None), Err(PathError::Empty));
        assert_eq!(normalize(&"a".repeat(1025), None), Err(PathError::TooLong));
    }

    #[pg_test]
    fn ownership_needs_the_owner_folder_and_a_file() {
        assert!(is_owned(&format!("{UID}/job/0.png"), UID));
        assert!(is_owned(&format!("{UID}/x.png"), UID));
        assert!(!is_owned(UID, UID));
        assert!(!is_owned(&format!("{UID}/"), UID));
        assert!(!is_owned(&format!("{UID}x/y.png"), UID));
        assert!(!is_owned(&format!("/{UID}/x.png"), UID));
        assert!(!is_owned(&format!("workspace-temp/{UID}/x.png"), UID));
        assert!(!is_owned(&format!("{UID}/../other/x.png"), UID));
    }

    #[pg_test]
    fn sql_normaliser_raises_invalid_parameter_value() {
        let result = Spi::get_one::<String>("select normalize_storage_path('workspace-temp/a/b.png')");
        assert_eq!(result, Ok(Some("a/b.png".to_string())));
        let owned = Spi::get_one::<bool>(&format!(
            "select storage_path_is_owned('{UID}/j/0.png', '{UID}'::uuid)"
        ));
        assert_eq!(owned, Ok(Some(true)));
        let null_owner = Spi::get_one::<bool>("select storage_path_is_owned('a/b', null)");
        assert_eq!(null_owner, Ok(Some(false)));
    }

    #[pg_test(error = "storage path contains a '.' or '..' segment")]
    fn sql_normaliser_rejects_traversal() {
        let _ = Spi::get_one::<String>("select normalize_storage_path('a/../b')");
    }
}
