//! Storage object names as the functions meet them: the names the SQL API
//! answers with, already normalised and checked there
//! (`normalize_storage_path`, `storage_path_is_owned` — the one home of those
//! rules). The functions put them only into JSON bodies of Storage requests,
//! never into URLs, so nothing here re-checks their shape; what remains is
//! which bucket holds what, and whose folder a name is in.

use uuid::Uuid;

/// Temporary workspace objects: `{user_id}/{job_id}/{asset_index}.{ext}`.
pub const WORKSPACE_BUCKET: &str = "workspace-temp";
/// Saved library objects: `{user_id}/{library_id}.{ext}`.
pub const LIBRARY_BUCKET: &str = "user-library";

/// The user id an object name starts with, if its first segment is a UUID.
pub fn owner(name: &str) -> Option<Uuid> {
    name.split('/').next().and_then(|first| Uuid::parse_str(first).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001";

    #[test]
    fn the_owner_is_the_first_segment_when_it_is_a_uuid() {
        assert_eq!(owner(&format!("{USER}/job/0.png")), Uuid::parse_str(USER).ok());
        assert_eq!(owner(&format!("user-library/{USER}/a.png")), None);
        assert_eq!(owner(""), None);
    }
}
