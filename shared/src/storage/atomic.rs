//! Whole-file replacement: content is written to a temporary file in the
//! destination's directory and renamed over the destination once complete, so a
//! reader sees the old file or the new one and a repeated write simply replaces.

use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::StorageError;

/// A temporary file beside its destination. [`PendingFile::commit`] renames it into
/// place; dropping it uncommitted removes it.
pub(super) struct PendingFile {
    tmp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl PendingFile {
    /// Reserves a temporary name beside `dest`, creating `dest`'s parent directories.
    pub(super) async fn beside(dest: &Path) -> Result<Self, StorageError> {
        let (Some(dir), Some(name)) = (dest.parent(), dest.file_name()) else {
            return Err(StorageError::io(
                format!("writing {}", dest.display()),
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file path"),
            ));
        };
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| StorageError::io(format!("creating {}", dir.display()), e))?;
        // `~` is not allowed in keys, so a temporary name never collides with an object.
        let tmp = dir.join(format!(
            ".~{}.{}",
            name.to_string_lossy(),
            Uuid::new_v4().simple()
        ));
        Ok(Self {
            tmp,
            dest: dest.to_path_buf(),
            committed: false,
        })
    }

    /// Where to write the content.
    pub(super) fn path(&self) -> &Path {
        &self.tmp
    }

    /// Moves the written file over the destination.
    pub(super) async fn commit(mut self) -> Result<(), StorageError> {
        tokio::fs::rename(&self.tmp, &self.dest)
            .await
            .map_err(|e| StorageError::io(format!("replacing {}", self.dest.display()), e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
