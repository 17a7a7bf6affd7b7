//! The local-directory backend: each object is a file at `<dir>/<key>`.
//!
//! The API serves the directory at `/media/`, so without a base URL an object's URL
//! is `/media/<key>`. Content types are not stored; the server that serves the
//! files infers them from the extension.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::atomic::PendingFile;
use super::{MediaStore, StorageError, join_url, validate_key};

/// Media under a local directory.
#[derive(Debug, Clone)]
pub struct LocalStore {
    dir: PathBuf,
    base_url: Option<String>,
}

impl LocalStore {
    /// The store under `dir`, which is created when missing.
    pub async fn open(dir: &Path, base_url: Option<String>) -> Result<Self, StorageError> {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| StorageError::io(format!("creating {}", dir.display()), e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            base_url,
        })
    }

    /// The directory holding the objects.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, StorageError> {
        validate_key(key)?;
        Ok(self.dir.join(key))
    }
}

#[async_trait::async_trait]
impl MediaStore for LocalStore {
    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        _content_type: &str,
    ) -> Result<(), StorageError> {
        let dest = self.path_of(key)?;
        let pending = PendingFile::beside(&dest).await?;
        tokio::fs::copy(path, pending.path()).await.map_err(|e| {
            let context = format!("storing {} as {}", path.display(), dest.display());
            StorageError::io(context, e)
        })?;
        pending.commit().await
    }

    async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        _content_type: &str,
    ) -> Result<(), StorageError> {
        let dest = self.path_of(key)?;
        let pending = PendingFile::beside(&dest).await?;
        tokio::fs::write(pending.path(), bytes)
            .await
            .map_err(|e| StorageError::io(format!("writing {}", dest.display()), e))?;
        pending.commit().await
    }

    async fn get_to_file(&self, key: &str, dest: &Path) -> Result<(), StorageError> {
        let source = self.path_of(key)?;
        if !self.exists(key).await? {
            return Err(StorageError::NotFound(key.to_string()));
        }
        let pending = PendingFile::beside(dest).await?;
        tokio::fs::copy(&source, pending.path())
            .await
            .map_err(|e| StorageError::io(format!("copying {}", source.display()), e))?;
        pending.commit().await
    }

    async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        let path = self.path_of(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StorageError::io(format!("reading {}", path.display()), e)),
        }
    }

    async fn url(&self, key: &str) -> Result<String, StorageError> {
        validate_key(key)?;
        Ok(join_url(self.base_url.as_deref().unwrap_or("/media"), key))
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.path_of(key).ok()
    }

    /// Writes and removes a small file, proving the directory exists and is writable.
    async fn check(&self) -> Result<(), StorageError> {
        let pending = PendingFile::beside(&self.dir.join("check")).await?;
        tokio::fs::write(pending.path(), b"ok")
            .await
            .map_err(|e| StorageError::io(format!("writing to {}", self.dir.display()), e))
    }
}
