//! Atomic file writes: a temporary file beside the destination, fsync, rename.
//!
//! Readers of the local backend (and the runner reading a downloaded PDF) must
//! never see half a file: `result.json`'s existence means "done", and a
//! retried page checkpoint must not read a truncated `pages/N.json`. A rename
//! within one directory is atomic on POSIX file systems, so the destination
//! name holds either the old complete content or the new complete content.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::fs::{self, File, OpenOptions};
use tokio::io::AsyncWriteExt;

use crate::key::TMP_MARKER;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A temporary file that becomes `dest` on [`TempFile::commit`], and is removed
/// if dropped before that (an error, or the caller's future being cancelled).
pub(crate) struct TempFile {
    path: PathBuf,
    file: File,
    committed: bool,
}

impl TempFile {
    /// Creates the temporary file in `dest`'s directory (creating the directory
    /// and its parents when missing), so that the final rename stays within one
    /// file system.
    pub(crate) async fn create_beside(dest: &Path) -> io::Result<Self> {
        let dir = dest
            .parent()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no parent directory"))?;
        fs::create_dir_all(dir).await?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!(
            "{TMP_MARKER}{}-{}-{nanos:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await?;
        Ok(TempFile {
            path,
            file,
            committed: false,
        })
    }

    /// Appends bytes.
    pub(crate) async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes).await
    }

    /// Flushes and fsyncs the data, renames the file onto `dest`, and fsyncs the
    /// directory so that the rename itself survives a crash.
    pub(crate) async fn commit(mut self, dest: &Path) -> io::Result<()> {
        self.file.flush().await?;
        self.file.sync_all().await?;
        fs::rename(&self.path, dest).await?;
        self.committed = true;
        if let Some(dir) = dest.parent() {
            // Best effort: some file systems refuse fsync on a directory.
            if let Ok(dir) = File::open(dir).await
                && let Err(err) = dir.sync_all().await
            {
                tracing::debug!(dir = %dest.display(), %err, "fsync of directory failed");
            }
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            // Synchronous on purpose: Drop cannot await, and an unlink is cheap.
            if let Err(err) = std::fs::remove_file(&self.path)
                && err.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(path = %self.path.display(), %err, "could not remove temporary file");
            }
        }
    }
}
