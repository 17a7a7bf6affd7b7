//! Where runs keep their temporary files.
//!
//! Each worker process works in its own directory under `WORK_DIR`, named by a
//! random id, and holds a lock on `<id>.lock` beside it for as long as it lives. A
//! starting worker removes the directories whose lock nobody holds any more (their
//! worker died: SIGKILL, OOM), so downloads and renders left half-written never fill
//! the disk; a directory with no lock file at all is removed once it is an hour old.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use super::JobError;

/// This process's part of `WORK_DIR`, locked while the process lives.
pub struct WorkRoot {
    pub path: PathBuf,
    _lock: File,
}

/// Age after which an unlocked directory without a lock file is taken as left over.
const ORPHAN_AGE: Duration = Duration::from_secs(60 * 60);

impl WorkRoot {
    /// Removes what dead workers left under `root`, then claims a directory of
    /// this process's own.
    pub fn claim(root: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(root)?;
        let removed = sweep(root)?;
        if removed > 0 {
            tracing::info!(removed, "removed work directories left by dead workers");
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let lock = File::create(root.join(format!("{id}.lock")))?;
        lock.try_lock().map_err(std::io::Error::other)?;
        let path = root.join(&id);
        std::fs::create_dir_all(&path)?;
        Ok(Self { path, _lock: lock })
    }
}

/// Removes the directories under `root` that no live worker holds; answers how many.
fn sweep(root: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(root)?.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let lock_path = path.with_extension("lock");
        let dead = match File::options().write(true).open(&lock_path) {
            // Whoever held the lock is gone when it can be taken.
            Ok(lock) => lock.try_lock().is_ok(),
            Err(_) => entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > ORPHAN_AGE),
        };
        if dead {
            if let Err(e) = std::fs::remove_dir_all(&path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove a dead worker's files");
                continue;
            }
            let _ = std::fs::remove_file(&lock_path);
            removed += 1;
        }
    }
    Ok(removed)
}

/// A run's directory for temporary files: created on first use (most runs need
/// none) and removed when the run ends.
pub struct WorkDir {
    path: PathBuf,
    created: OnceLock<()>,
}

impl WorkDir {
    pub(super) fn new(root: &Path, name: &str) -> Self {
        Self {
            path: root.join(name),
            created: OnceLock::new(),
        }
    }

    pub fn path(&self) -> Result<&Path, JobError> {
        if self.created.get().is_none() {
            std::fs::create_dir_all(&self.path)
                .map_err(|e| JobError::Retryable(format!("cannot create a work directory: {e}")))?;
            let _ = self.created.set(());
        }
        Ok(&self.path)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.created.get().is_some() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_worker_s_directory_goes_and_a_live_one_stays() {
        let root = std::env::temp_dir().join(format!("ai-video-work-{}", uuid::Uuid::new_v4()));
        let live = WorkRoot::claim(&root).unwrap();
        std::fs::write(live.path.join("busy.mp4"), b"x").unwrap();
        // A dead worker: its lock file exists but nobody holds it.
        let dead = root.join("deadbeef");
        std::fs::create_dir_all(dead.join("run")).unwrap();
        File::create(root.join("deadbeef.lock")).unwrap();
        let next = WorkRoot::claim(&root).unwrap();
        assert!(!dead.exists());
        assert!(!root.join("deadbeef.lock").exists());
        assert!(
            live.path.join("busy.mp4").exists(),
            "a live worker keeps its files"
        );
        assert!(next.path.exists());
        drop((live, next));
        let _ = std::fs::remove_dir_all(&root);
    }
}
