//! Bucket ids and object names as the Storage API accepts them, and the one
//! place they become filesystem paths.
//!
//! Supabase accepts keys made of S3-safe characters (`isValidKey` in
//! supabase/storage `src/storage/limits.ts`); because our keys are also paths on
//! a local disk, we additionally refuse `.`/`..` segments, empty segments
//! (`a//b`, a leading or trailing `/`) and segments longer than a filename may
//! be. A path is only ever built from an [`ObjectKey`] and a [`BucketId`] that
//! passed these checks, so no client input can point outside the storage root.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use crate::error::StorageError;

/// Longest object name accepted, in bytes (S3's limit).
const MAX_KEY_BYTES: usize = 1024;
/// Longest single path segment: a filename on Linux filesystems.
const MAX_SEGMENT_BYTES: usize = 255;
/// Longest bucket id (`isValidBucketName` in supabase/storage).
const MAX_BUCKET_BYTES: usize = 100;
/// Supabase names objects whose only purpose is to make a folder visible like this.
const EMPTY_FOLDER_PLACEHOLDER: &str = ".emptyFolderPlaceholder";

/// Characters supabase/storage allows in object keys besides ASCII letters and digits.
fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_/!.*'() &$=@;:+,?-".contains(c)
}

/// A bucket id that is safe to use as a directory name under the storage root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketId(String);

impl BucketId {
    /// Accepts supabase's bucket-name characters (no `/`), up to 100 bytes, and
    /// refuses a leading `.` so that `.`, `..` and the API's own `.tmp`
    /// directory can never be named as buckets.
    pub fn parse(id: &str) -> Result<Self, StorageError> {
        let valid = !id.is_empty()
            && id.len() <= MAX_BUCKET_BYTES
            && !id.starts_with('.')
            && id.chars().all(|c| c != '/' && is_key_char(c));
        if valid {
            Ok(BucketId(id.to_owned()))
        } else {
            Err(StorageError::InvalidBucketName)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BucketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An object name (the key inside a bucket) that is safe to use as a relative path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Refuses, with supabase's "Invalid key" error: the empty name, characters
    /// outside supabase's key alphabet (this covers backslashes, control
    /// characters and `%`), empty, `.` and `..` segments, and over-long names.
    pub fn parse(name: &str) -> Result<Self, StorageError> {
        let invalid = || StorageError::InvalidKey(name.to_owned());
        if name.is_empty() || name.len() > MAX_KEY_BYTES || !name.chars().all(is_key_char) {
            return Err(invalid());
        }
        for segment in name.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." || segment.len() > MAX_SEGMENT_BYTES {
                return Err(invalid());
            }
        }
        Ok(ObjectKey(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Supabase lets folder placeholders through without a mime check and caps them at 0 bytes.
    pub fn is_empty_folder_placeholder(&self) -> bool {
        self.0.ends_with(EMPTY_FOLDER_PLACEHOLDER)
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `root/<bucket>/<name>`. Every component is checked again to be a plain
/// name, so even a future change to the parsers could not make this escape `root`.
pub fn object_path(root: &Path, bucket: &BucketId, key: &ObjectKey) -> Result<PathBuf, StorageError> {
    let relative = Path::new(bucket.as_str()).join(key.as_str());
    if relative.components().all(|c| matches!(c, Component::Normal(_))) {
        Ok(root.join(relative))
    } else {
        Err(StorageError::InvalidKey(key.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_keys_are_accepted() {
        for key in ["a", "user/job/0.png", "x/thumbnails/1.jpg", "name with space (1).mp4", "a.b/c..d/.hidden"] {
            assert!(ObjectKey::parse(key).is_ok(), "{key}");
        }
    }

    #[test]
    fn traversal_and_malformed_keys_are_invalid() {
        for key in [
            "", "..", ".", "../x", "a/../b", "a/./b", "a/..", "/a", "a/", "a//b", "a\\b", "..\\x", "a\u{0}b",
            "a\nb", "a%2e%2e", "é", "a/\u{7f}",
        ] {
            assert!(matches!(ObjectKey::parse(key), Err(StorageError::InvalidKey(_))), "{key:?}");
        }
    }

    #[test]
    fn over_long_keys_and_segments_are_invalid() {
        assert!(ObjectKey::parse(&"a".repeat(256)).is_err());
        assert!(ObjectKey::parse(&"a".repeat(255)).is_ok());
        assert!(ObjectKey::parse(&vec!["abcdefgh"; 120].join("/")).is_err());
    }

    #[test]
    fn bucket_ids_cannot_be_dot_names_or_contain_slashes() {
        for id in ["", ".", "..", ".tmp", "a/b", "a\\b", &"b".repeat(101)] {
            assert!(BucketId::parse(id).is_err(), "{id:?}");
        }
        for id in ["workspace-temp", "user-library", "a.b"] {
            assert!(BucketId::parse(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn object_paths_stay_under_root() {
        let root = Path::new("/srv/storage");
        let path = object_path(root, &BucketId::parse("b").unwrap(), &ObjectKey::parse("u/x.png").unwrap()).unwrap();
        assert_eq!(path, Path::new("/srv/storage/b/u/x.png"));
    }

    #[test]
    fn placeholders_are_recognised() {
        assert!(ObjectKey::parse("u/folder/.emptyFolderPlaceholder").unwrap().is_empty_folder_placeholder());
        assert!(!ObjectKey::parse("u/folder/a.png").unwrap().is_empty_folder_placeholder());
    }
}
