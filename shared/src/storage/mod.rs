//! Where generated media lives: scene images and clips, previews and final videos.
//!
//! Two backends sit behind one trait, [`MediaStore`]: a local directory (the embedded
//! default) and an S3-compatible service such as MinIO. Object keys are deterministic
//! (see [`keys`]) and every write replaces the whole object, so a job that runs twice
//! overwrites its earlier output instead of duplicating it. Keys are relative paths
//! of `[A-Za-z0-9._-]` segments on both backends; anything else is refused before it
//! reaches a filesystem or a bucket.

mod atomic;
mod config;
pub mod keys;
mod local;
mod s3;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use config::{S3Config, StorageBackend, StorageConfig};
pub use local::LocalStore;
pub use s3::S3Store;

/// A store of media objects addressed by key.
///
/// Writes are whole-object and atomic: a reader sees the old content or the new,
/// never part of either.
#[async_trait::async_trait]
pub trait MediaStore: Send + Sync {
    /// Stores the file at `path` under `key`, streaming it rather than loading it.
    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<(), StorageError>;

    /// Stores `bytes` under `key`.
    async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StorageError>;

    /// Streams the object at `key` into the file `dest`, creating its parent
    /// directories. A missing object is [`StorageError::NotFound`].
    async fn get_to_file(&self, key: &str, dest: &Path) -> Result<(), StorageError>;

    /// Whether an object is stored under `key`.
    async fn exists(&self, key: &str) -> Result<bool, StorageError>;

    /// A URL a client can fetch the object from: `STORAGE_BASE_URL/<key>` when a
    /// base URL is configured, otherwise backend-specific (a path under `/media/`
    /// for the local directory, a presigned URL for S3).
    async fn url(&self, key: &str) -> Result<String, StorageError>;

    /// The file holding the object, for backends that keep objects as local files,
    /// so callers can read them without a copy. `None` on remote backends and for
    /// invalid keys.
    fn local_path(&self, key: &str) -> Option<PathBuf>;

    /// A cheap call that proves the store is reachable and usable, for readiness.
    async fn check(&self) -> Result<(), StorageError>;
}

/// The store both services share.
pub type Storage = Arc<dyn MediaStore>;

/// Opens the configured backend: creates the local directory, or connects to S3 and
/// creates the bucket when it is missing.
pub async fn open(config: &StorageConfig) -> Result<Storage, StorageError> {
    let base_url = config.base_url.clone();
    Ok(match &config.backend {
        StorageBackend::Local { dir } => Arc::new(LocalStore::open(dir, base_url).await?),
        StorageBackend::S3(s3) => Arc::new(S3Store::open(s3, base_url).await?),
    })
}

/// A storage operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The key is not a relative path of `[A-Za-z0-9._-]` segments.
    #[error("invalid storage key {0:?}")]
    InvalidKey(String),
    /// Nothing is stored under the key.
    #[error("no object stored under {0:?}")]
    NotFound(String),
    /// A local file operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// An S3 request failed; `target` names the bucket or object it was about, and
    /// `message` carries the service's explanation.
    #[error("S3 {operation} of {target} failed: {message}")]
    S3 {
        operation: &'static str,
        target: String,
        message: String,
    },
}

impl StorageError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// Checks that `key` is a relative path of non-empty `[A-Za-z0-9._-]` segments,
/// none of them `.` or `..`, so it cannot name anything outside the store.
pub fn validate_key(key: &str) -> Result<(), StorageError> {
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    if key.split('/').all(segment_ok) {
        Ok(())
    } else {
        Err(StorageError::InvalidKey(key.to_string()))
    }
}

/// `<base>/<key>`, whether or not `base` ends with a slash.
fn join_url(base: &str, key: &str) -> String {
    format!("{}/{key}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_relative_paths_of_safe_segments() {
        for ok in [
            "a",
            "stories/x/final.mp4",
            "a-b_c.d/e",
            "..a/b..",
            ".hidden",
        ] {
            assert!(validate_key(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "/a", "a/", "a//b", "..", "a/../b", "./a", "a/.", "a b", "a\\b", "é", "a?b",
        ] {
            assert!(
                matches!(validate_key(bad), Err(StorageError::InvalidKey(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn urls_join_with_one_slash() {
        assert_eq!(join_url("https://cdn/x", "a/b"), "https://cdn/x/a/b");
        assert_eq!(join_url("https://cdn/x/", "a/b"), "https://cdn/x/a/b");
    }
}
