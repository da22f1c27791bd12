//! The local-directory backend: single-machine mode and tests.
//!
//! A key maps to the path `root/key` (keys are validated first, so no key can
//! leave the root: see [`crate::key`]). Writes are atomic (temporary file in the
//! same directory, fsync, rename), so a reader sees a whole object or none, as
//! with S3. Differences from S3 that callers may notice:
//! - a key cannot be both an object and a "directory" (`a` and `a/b`);
//! - the content type is not stored ([`crate::ObjectMeta::content_type`] is `None`);
//! - the ETag is derived from size and modification time, not from the content;
//! - symbolic links are not followed when listing.

use std::io::{self, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::fs::{self, File};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::error::{Result, StorageError};
use crate::fsutil::TempFile;
use crate::key::{self, TMP_MARKER};
use crate::{GetObject, ObjectMeta, ObjectSummary};

/// Read buffer size for object bodies: big enough to keep syscalls few, small
/// enough that many concurrent downloads stay cheap.
const READ_CHUNK: usize = 64 * 1024;

/// A directory used as an object store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: Arc<PathBuf>,
}

impl LocalStore {
    /// A store rooted at `root`. The directory is created on the first write;
    /// reading from a missing root finds nothing.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStore {
            root: Arc::new(root.into()),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path an (already validated) key maps to.
    pub fn path_of(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    pub(crate) async fn put_stream<S>(
        &self,
        key: &str,
        body: S,
        _content_type: Option<&str>,
    ) -> Result<u64>
    where
        S: Stream<Item = io::Result<Bytes>> + Send,
    {
        let path = self.path_of(key);
        let io_err = |source| StorageError::Io {
            path: path.clone(),
            source,
        };
        let mut tmp = TempFile::create_beside(&path).await.map_err(io_err)?;
        let mut body = pin!(body);
        let mut total = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|source| StorageError::Input {
                key: key.to_owned(),
                source,
            })?;
            tmp.write_all(&chunk).await.map_err(io_err)?;
            total += chunk.len() as u64;
        }
        tmp.commit(&path).await.map_err(io_err)?;
        tracing::debug!(path = %path.display(), total, "object stored");
        Ok(total)
    }

    async fn open(&self, key: &str) -> Result<(File, ObjectMeta)> {
        let path = self.path_of(key);
        let file = File::open(&path)
            .await
            .map_err(|e| StorageError::from_io(key, &path, e))?;
        let metadata = file
            .metadata()
            .await
            .map_err(|e| StorageError::from_io(key, &path, e))?;
        if !metadata.is_file() {
            return Err(StorageError::NotFound {
                key: key.to_owned(),
            });
        }
        Ok((file, meta_of(key, &metadata)))
    }

    pub(crate) async fn get(&self, key: &str, range: Option<Range<u64>>) -> Result<GetObject> {
        let (mut file, meta) = self.open(key).await?;
        let Some(range) = range else {
            return Ok(GetObject {
                range: 0..meta.size,
                body: Box::pin(ReaderStream::with_capacity(file, READ_CHUNK)),
                meta,
            });
        };
        // Same rules as S3: a range starting at or past the end is refused, one
        // running past the end is cut short.
        if range.start >= meta.size {
            return Err(StorageError::InvalidRange {
                key: key.to_owned(),
                start: range.start,
                end: range.end,
            });
        }
        let range = range.start..range.end.min(meta.size);
        file.seek(SeekFrom::Start(range.start))
            .await
            .map_err(|e| StorageError::from_io(key, self.path_of(key), e))?;
        Ok(GetObject {
            body: Box::pin(ReaderStream::with_capacity(
                file.take(range.end - range.start),
                READ_CHUNK,
            )),
            range,
            meta,
        })
    }

    pub(crate) async fn head(&self, key: &str) -> Result<ObjectMeta> {
        let path = self.path_of(key);
        let metadata = fs::metadata(&path)
            .await
            .map_err(|e| StorageError::from_io(key, &path, e))?;
        if !metadata.is_file() {
            return Err(StorageError::NotFound {
                key: key.to_owned(),
            });
        }
        Ok(meta_of(key, &metadata))
    }

    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>> {
        // Walk only the directory the prefix's complete segments name:
        // `extractions/ns/x/pages/0000` starts at `extractions/ns/x/pages`.
        let start_key = prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
        let mut out = Vec::new();
        let mut stack = vec![(self.path_of(start_key), start_key.to_owned())];
        while let Some((dir, dir_key)) = stack.pop() {
            let mut entries = match fs::read_dir(&dir).await {
                Ok(entries) => entries,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(StorageError::from_io(prefix, &dir, e)),
            };
            let io_err = |source| StorageError::Io {
                path: dir.clone(),
                source,
            };
            while let Some(entry) = entries.next_entry().await.map_err(io_err)? {
                let file_name = entry.file_name();
                let Some(name) = file_name.to_str() else {
                    tracing::debug!(dir = %dir.display(), ?file_name, "skipping a file whose name is not UTF-8");
                    continue;
                };
                if name.starts_with(TMP_MARKER) {
                    continue;
                }
                let entry_key = key::join(&dir_key, name);
                let file_type = match entry.file_type().await {
                    Ok(t) => t,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err(e)),
                };
                if file_type.is_dir() {
                    let as_dir = format!("{entry_key}/");
                    if as_dir.starts_with(prefix) || prefix.starts_with(&as_dir) {
                        stack.push((entry.path(), entry_key));
                    }
                } else if file_type.is_file()
                    && entry_key.starts_with(prefix)
                    && key::validate_key(&entry_key).is_ok()
                {
                    let size = match entry.metadata().await {
                        Ok(m) => m.len(),
                        // Deleted since the directory was read.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(io_err(e)),
                    };
                    out.push(ObjectSummary {
                        key: entry_key,
                        size,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    pub(crate) async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path_of(key);
        if let Some(dir) = path.parent() {
            remove_orphaned_temp_files(dir).await;
        }
        match fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            // Like S3: deleting what is not there succeeds.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound
                        | io::ErrorKind::IsADirectory
                        | io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(StorageError::from_io(key, &path, e)),
        }
    }

    pub(crate) async fn delete_prefix(&self, prefix: &str) -> Result<usize> {
        let objects = self.list(prefix).await?;
        let mut dirs = std::collections::BTreeSet::new();
        for object in &objects {
            self.delete(&object.key).await?;
            if let Some((dir, _)) = object.key.rsplit_once('/') {
                dirs.insert(dir.to_owned());
            }
        }
        // Remove the directories the prefix emptied, deepest first, but only those
        // inside the prefix: `extractions/ns/x/` removes `…/x/pages` and `…/x`,
        // never `extractions/ns`.
        let mut candidates = std::collections::BTreeSet::new();
        for dir in dirs {
            let mut dir = dir.as_str();
            loop {
                if format!("{dir}/").starts_with(prefix) {
                    candidates.insert(dir.to_owned());
                }
                match dir.rsplit_once('/') {
                    Some((parent, _)) => dir = parent,
                    None => break,
                }
            }
        }
        let mut candidates: Vec<String> = candidates.into_iter().collect();
        candidates.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
        for dir in candidates {
            // Fails (harmlessly) when not empty, e.g. a concurrent writer's file.
            let _ = fs::remove_dir(self.path_of(&dir)).await;
        }
        tracing::debug!(root = %self.root.display(), prefix, deleted = objects.len(), "prefix deleted");
        Ok(objects.len())
    }
}

fn meta_of(key: &str, metadata: &std::fs::Metadata) -> ObjectMeta {
    let modified = metadata.modified().ok();
    let nanos = modified
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    ObjectMeta {
        key: key.to_owned(),
        size: metadata.len(),
        // Changes whenever the file is replaced (size or mtime), which is what
        // HTTP caching and "did it change" checks need.
        etag: Some(format!("\"{:x}-{nanos:x}\"", metadata.len())),
        last_modified: modified,
        content_type: None,
    }
}

impl LocalStore {
    /// Removes, under `prefix` and its sub-folders, the temporary files of
    /// writers that died mid-write; returns how many.
    pub(crate) async fn discard_interrupted_writes(&self, prefix: &str) -> Result<usize> {
        let mut removed = 0;
        let mut folders = vec![self.path_of(prefix.trim_end_matches('/'))];
        while let Some(dir) = folders.pop() {
            removed += remove_orphaned_temp_files(&dir).await;
            let Ok(mut entries) = fs::read_dir(&dir).await else {
                continue;
            };
            while let Ok(Some(entry)) = entries.next_entry().await {
                if entry.file_type().await.is_ok_and(|t| t.is_dir()) {
                    folders.push(entry.path());
                }
            }
        }
        Ok(removed)
    }
}

/// Removes the temporary files of writers that died mid-write (a SIGKILLed
/// runner leaves `.pdfx-tmp-<pid>-…` behind, invisible to listings): those
/// whose process no longer exists. Best effort: a cleanup that deletes an
/// extraction's objects should not leave that debris in the folder.
async fn remove_orphaned_temp_files(dir: &Path) -> usize {
    let mut removed = 0;
    let Ok(mut entries) = fs::read_dir(dir).await else {
        return removed;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(TMP_MARKER)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
            && fs::remove_file(entry.path()).await.is_ok()
        {
            removed += 1;
        }
    }
    removed
}
