//! Storage object names as the functions accept them.
//!
//! The edge twin of the SQL `normalize_storage_path(path, bucket)`: strip an
//! optional leading `{bucket}/` and surrounding slashes, refuse `.`/`..` and
//! empty segments, backslashes and control characters. It is stricter than the
//! SQL function on purpose — segments are limited to `[A-Za-z0-9._-]`, which
//! every name this project generates fits (`{user_id}/{job_id}/{index}.png`,
//! `thumbnails/...`) — so a name never needs URL escaping and no encoding
//! trick (`%2e%2e`) can smuggle a traversal past this check.

use uuid::Uuid;

/// Temporary workspace objects: `{user_id}/{job_id}/{asset_index}.{ext}`.
pub const WORKSPACE_BUCKET: &str = "workspace-temp";
/// Saved library objects: `{user_id}/{library_id}.{ext}`.
pub const LIBRARY_BUCKET: &str = "user-library";

/// Supabase limits object names to 1024 bytes.
pub const MAX_PATH_BYTES: usize = 1024;

/// Why a path was refused; rendered into a 400 by the caller, which knows the
/// field name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    Empty,
    TooLong,
    Traversal,
    EmptySegment,
    ForbiddenCharacter,
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PathError::Empty => "is empty",
            PathError::TooLong => "is longer than 1024 bytes",
            PathError::Traversal => "contains a `.` or `..` segment",
            PathError::EmptySegment => "contains an empty segment",
            PathError::ForbiddenCharacter => "may only contain letters, digits, `.`, `_`, `-` and `/`",
        })
    }
}

/// Normalise an object name, stripping a leading `{bucket}/` when `bucket` is
/// given.
pub fn normalize(path: &str, bucket: Option<&str>) -> Result<String, PathError> {
    if path.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong);
    }
    let trimmed = path.trim_start_matches('/');
    let without_bucket = match bucket {
        Some(bucket) => trimmed.strip_prefix(bucket).and_then(|rest| rest.strip_prefix('/')).unwrap_or(trimmed),
        None => trimmed,
    };
    let name = without_bucket.trim_matches('/');
    if name.is_empty() {
        return Err(PathError::Empty);
    }
    for segment in name.split('/') {
        match segment {
            "" => return Err(PathError::EmptySegment),
            "." | ".." => return Err(PathError::Traversal),
            _ if !segment.bytes().all(is_name_byte) => return Err(PathError::ForbiddenCharacter),
            _ => {}
        }
    }
    Ok(name.to_owned())
}

/// The user id an object name starts with, if its first segment is a UUID.
pub fn owner(name: &str) -> Option<Uuid> {
    name.split('/').next().and_then(|first| Uuid::parse_str(first).ok())
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001";

    #[test]
    fn bucket_prefix_and_outer_slashes_are_stripped() {
        let expected = format!("{USER}/job/0.png");
        for input in [
            format!("{USER}/job/0.png"),
            format!("/{USER}/job/0.png/"),
            format!("workspace-temp/{USER}/job/0.png"),
            format!("/workspace-temp/{USER}/job/0.png"),
        ] {
            assert_eq!(normalize(&input, Some(WORKSPACE_BUCKET)).unwrap(), expected, "{input}");
        }
    }

    #[test]
    fn another_buckets_prefix_is_kept_as_a_segment() {
        let name = normalize(&format!("user-library/{USER}/a.png"), Some(WORKSPACE_BUCKET)).unwrap();
        assert_eq!(owner(&name), None);
    }

    #[test]
    fn traversal_segments_are_refused() {
        for input in ["../etc/passwd", "a/../b", "a/./b", "a/..", "..", "workspace-temp/../x"] {
            assert_eq!(normalize(input, Some(WORKSPACE_BUCKET)), Err(PathError::Traversal), "{input}");
        }
    }

    #[test]
    fn empty_segments_and_empty_names_are_refused() {
        assert_eq!(normalize("a//b", None), Err(PathError::EmptySegment));
        for input in ["", "/", "//", "workspace-temp/", "/workspace-temp//"] {
            assert_eq!(normalize(input, Some(WORKSPACE_BUCKET)), Err(PathError::Empty), "{input}");
        }
    }

    #[test]
    fn backslashes_control_characters_and_encodings_are_refused() {
        for input in ["a\\..\\b", "a/b\u{0}.png", "a/b\n.png", "a/%2e%2e/b", "a/b c.png", "a/é.png"] {
            assert_eq!(normalize(input, None), Err(PathError::ForbiddenCharacter), "{input:?}");
        }
    }

    #[test]
    fn overlong_names_are_refused() {
        let long = "a/".repeat(600);
        assert_eq!(normalize(&long, None), Err(PathError::TooLong));
    }

    #[test]
    fn owner_is_the_leading_uuid() {
        assert_eq!(owner(&format!("{USER}/j/0.png")).unwrap().to_string(), USER);
        assert_eq!(owner("thumbnails/0.jpg"), None);
    }
}
