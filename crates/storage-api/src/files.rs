//! The objects on disk: `root/<bucket>/<name>`, written so that a file is
//! never half there.
//!
//! New content is streamed into `root/.tmp/` (same filesystem, so a rename
//! publishes it atomically), hashed for the `eTag` as it arrives, capped at the
//! size limit, and fsynced. Callers then move files while holding the object's
//! row lock in their open transaction and keep a way back until the commit
//! answers: [`Placed::undo`] / [`Trashed::restore`] if it failed,
//! [`Placed::settle`] / [`Trashed::purge`] once it succeeded. An overwritten
//! file is kept as a hard link until then, so the old content is never missing.
//! Temporary files remove themselves when dropped, and leftovers of a crashed
//! process are swept at startup. Empty directories are left in place: removing
//! them would race with an upload creating a file inside.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use md5::{Digest, Md5};
use tokio::fs::{self, File};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::StorageError;
use crate::key::{self, BucketId, ObjectKey};

/// Directory for files not yet (or no longer) published; no bucket can be named like it.
const TMP_DIR: &str = ".tmp";
/// Files in the temp directory older than this belong to no live request.
const STALE_AFTER: Duration = Duration::from_secs(3600);
const COPY_CHUNK: usize = 64 * 1024;

/// The storage root and its temp directory.
pub struct Store {
    root: PathBuf,
    tmp: PathBuf,
}

impl Store {
    /// Create the root and temp directory if needed and sweep stale temp files.
    pub async fn open(root: PathBuf) -> Result<Self, StorageError> {
        let tmp = root.join(TMP_DIR);
        fs::create_dir_all(&tmp)
            .await
            .map_err(|e| StorageError::Startup(format!("cannot create {}: {e}", tmp.display())))?;
        let store = Store { root, tmp };
        store.sweep_stale().await;
        Ok(store)
    }

    async fn sweep_stale(&self) {
        let Ok(mut entries) = fs::read_dir(&self.tmp).await else { return };
        while let Ok(Some(entry)) = entries.next_entry().await {
            let stale = entry
                .metadata()
                .await
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age > STALE_AFTER));
            if stale {
                if let Err(err) = fs::remove_file(entry.path()).await {
                    tracing::warn!("storage api: cannot sweep {}: {err}", entry.path().display());
                }
            }
        }
    }

    fn tmp_path(&self, suffix: &str) -> PathBuf {
        self.tmp.join(format!("{}.{suffix}", uuid::Uuid::new_v4()))
    }

    /// Where an object's content lives.
    pub fn object_path(&self, bucket: &BucketId, key: &ObjectKey) -> Result<PathBuf, StorageError> {
        key::object_path(&self.root, bucket, key)
    }

    /// Refuse, before any byte is received, a key whose path is blocked on
    /// disk: a parent that is a file (`a` exists, upload `a/b`) or a target
    /// that is a directory (`a/b` exists, upload `a`).
    pub async fn check_placeable(&self, path: &Path, key: &ObjectKey) -> Result<(), StorageError> {
        if fs::symlink_metadata(path).await.is_ok_and(|m| m.is_dir()) {
            return Err(StorageError::InvalidKey(key.to_string()));
        }
        let mut ancestor = path.parent();
        while let Some(dir) = ancestor.filter(|dir| *dir != self.root) {
            match fs::symlink_metadata(dir).await {
                Ok(meta) if meta.is_dir() => return Ok(()),
                Ok(_) => return Err(StorageError::InvalidKey(key.to_string())),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => ancestor = dir.parent(),
                Err(err) => return Err(StorageError::internal("inspect object path", &err)),
            }
        }
        Ok(())
    }

    async fn create_temp(&self, limit: u64) -> Result<TempFile, StorageError> {
        let path = self.tmp_path("part");
        let file = File::create(&path).await.map_err(|e| StorageError::internal("create temp file", &e))?;
        Ok(TempFile { file, guard: RemoveOnDrop(path), md5: Md5::new(), size: 0, limit })
    }

    /// Stream uploaded content into a temp file of at most `limit` bytes.
    pub async fn receive(
        &self,
        content: impl Stream<Item = Result<Bytes, StorageError>>,
        limit: u64,
    ) -> Result<Written, StorageError> {
        let mut temp = self.create_temp(limit).await?;
        let mut content = std::pin::pin!(content);
        while let Some(chunk) = content.next().await {
            temp.write(&chunk?).await?;
        }
        temp.finish().await
    }

    /// Copy an object's content into a temp file of at most `limit` bytes.
    pub async fn copy_to_temp(&self, source: &Path, limit: u64) -> Result<Written, StorageError> {
        let mut input = open_object(source).await?;
        let mut temp = self.create_temp(limit).await?;
        let mut buffer = vec![0u8; COPY_CHUNK];
        loop {
            let read = input.read(&mut buffer).await.map_err(|e| StorageError::internal("read object", &e))?;
            if read == 0 {
                break;
            }
            temp.write(&buffer[..read]).await?;
        }
        temp.finish().await
    }

    /// Rename `from` onto `to`, creating parent directories, keeping any file
    /// already at `to` as a backup, and fsyncing the directory so the new name
    /// survives a crash once the caller commits.
    pub async fn place(&self, from: &Path, to: &Path, key: &ObjectKey) -> Result<Placed, StorageError> {
        let conflict = |err: std::io::Error| path_error(err, key, "publish object");
        let parent = to.parent().ok_or_else(|| StorageError::InvalidKey(key.to_string()))?;
        fs::create_dir_all(parent).await.map_err(conflict)?;
        let backup = match fs::symlink_metadata(to).await {
            Ok(meta) if meta.is_dir() => return Err(StorageError::InvalidKey(key.to_string())),
            Ok(_) => {
                let backup = self.tmp_path("bak");
                fs::hard_link(to, &backup).await.map_err(conflict)?;
                Some(backup)
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(StorageError::internal("inspect object path", &err)),
        };
        if let Err(err) = fs::rename(from, to).await {
            if let Some(backup) = &backup {
                remove_logged(backup).await;
            }
            return Err(if err.kind() == std::io::ErrorKind::NotFound { StorageError::NoSuchKey } else { conflict(err) });
        }
        if let Err(err) = sync_dir(parent).await {
            let placed = Placed { from: from.to_owned(), to: to.to_owned(), backup };
            placed.undo().await;
            return Err(StorageError::internal("fsync directory", &err));
        }
        Ok(Placed { from: from.to_owned(), to: to.to_owned(), backup })
    }

    /// Move an object's file out of its name, keeping it until the commit is known.
    /// `None` when there was no file (a row without content is still deletable).
    pub async fn trash(&self, path: &Path) -> Result<Option<Trashed>, StorageError> {
        let trashed = self.tmp_path("del");
        match fs::rename(path, &trashed).await {
            Ok(()) => Ok(Some(Trashed { original: path.to_owned(), trashed })),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(StorageError::internal("remove object", &err)),
        }
    }
}

/// Open an object's content; a missing file is a missing object.
pub async fn open_object(path: &Path) -> Result<File, StorageError> {
    File::open(path).await.map_err(|err| match err.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory | std::io::ErrorKind::IsADirectory => {
            StorageError::NoSuchKey
        }
        _ => StorageError::internal("open object", &err),
    })
}

/// Filesystem shapes that make a key unusable are the client's key's fault, the rest is ours.
fn path_error(err: std::io::Error, key: &ObjectKey, context: &str) -> StorageError {
    use std::io::ErrorKind::*;
    match err.kind() {
        NotADirectory | IsADirectory | DirectoryNotEmpty | AlreadyExists => StorageError::InvalidKey(key.to_string()),
        _ => StorageError::internal(context, &err),
    }
}

async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir).await?.sync_all().await
}

async fn remove_logged(path: &Path) {
    if let Err(err) = fs::remove_file(path).await {
        if err.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("storage api: cannot remove {}: {err}", path.display());
        }
    }
}

/// Removes its path when dropped: a temp file goes away on every early
/// return, and when a client disconnect drops the request mid-upload.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        // Once a file is published this path no longer exists and there is nothing to do.
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A temp file being written.
struct TempFile {
    file: File,
    guard: RemoveOnDrop,
    md5: Md5,
    size: u64,
    limit: u64,
}

impl TempFile {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), StorageError> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(StorageError::EntityTooLarge);
        }
        self.md5.update(chunk);
        self.file.write_all(chunk).await.map_err(|e| StorageError::internal("write temp file", &e))
    }

    async fn finish(mut self) -> Result<Written, StorageError> {
        self.file.flush().await.map_err(|e| StorageError::internal("flush temp file", &e))?;
        self.file.sync_all().await.map_err(|e| StorageError::internal("fsync temp file", &e))?;
        let modified = self
            .file
            .metadata()
            .await
            .and_then(|m| m.modified())
            .map_err(|e| StorageError::internal("stat temp file", &e))?;
        let etag = format!("\"{}\"", hex(&self.md5.finalize()));
        Ok(Written { guard: self.guard, size: self.size, etag, modified })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Complete, durable content in a temp file, ready to be placed.
pub struct Written {
    guard: RemoveOnDrop,
    pub size: u64,
    /// `"<md5 hex>"`, as supabase's file backend computes it.
    pub etag: String,
    pub modified: SystemTime,
}

impl Written {
    pub fn path(&self) -> &Path {
        &self.guard.0
    }
}

/// A file renamed into place whose transaction has not answered yet.
#[must_use = "a placed file must be settled or undone"]
pub struct Placed {
    from: PathBuf,
    to: PathBuf,
    backup: Option<PathBuf>,
}

impl Placed {
    /// The commit failed: put the file back where it came from and the previous content back in place.
    pub async fn undo(self) {
        if let Err(err) = fs::rename(&self.to, &self.from).await {
            tracing::error!("storage api: cannot undo {} -> {}: {err}", self.from.display(), self.to.display());
        }
        if let Some(backup) = &self.backup {
            if let Err(err) = fs::rename(backup, &self.to).await {
                tracing::error!("storage api: cannot restore {}: {err}", self.to.display());
            }
        }
    }

    /// The commit succeeded: the previous content is no longer needed.
    pub async fn settle(self) {
        if let Some(backup) = &self.backup {
            remove_logged(backup).await;
        }
    }
}

/// A deleted object's file, kept aside until the deleting transaction answers.
#[must_use = "a trashed file must be purged or restored"]
pub struct Trashed {
    original: PathBuf,
    trashed: PathBuf,
}

impl Trashed {
    pub async fn restore(self) {
        if let Err(err) = fs::rename(&self.trashed, &self.original).await {
            tracing::error!("storage api: cannot restore {}: {err}", self.original.display());
        }
    }

    pub async fn purge(self) {
        remove_logged(&self.trashed).await;
    }
}
