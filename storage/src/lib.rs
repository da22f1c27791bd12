//! Object storage for pdfx: one async interface over S3 and a local directory.
//!
//! The gateway streams uploads in, the runner downloads sources and writes page
//! checkpoints and results, the operator reads progress and deletes what an
//! extraction created (docs/architecture.md, "Storage layout"). They all go through [`Store`], so that
//! single-machine mode and tests (a local directory) behave like production (S3),
//! and so the memory rules hold everywhere: bodies are streams, never whole
//! objects in memory. An upload of unknown length holds at most 24 MiB
//! ([`s3::MAX_PARTS_IN_FLIGHT`] + 1 parts of [`s3::PART_SIZE`]) on S3, and one
//! read buffer on the local backend.
//!
//! ```no_run
//! # async fn demo() -> Result<(), pdfx_storage::StorageError> {
//! use pdfx_storage::{S3Config, Store, StorageUri};
//!
//! let uri = StorageUri::parse("s3://pdfx/extractions/default/doc-1/")?;
//! let (store, prefix) = Store::from_uri(&uri, &S3Config::from_env()?).await?;
//! let key = pdfx_storage::key::join(&prefix, "progress.json");
//! store.put_bytes(&key, br#"{"pagesDone":1}"#.to_vec().into(), Some("application/json")).await?;
//! let progress = store.get_bytes(&key, 64 * 1024).await?;
//! # let _ = progress; Ok(()) }
//! ```

pub mod env;
mod error;
mod fsutil;
pub mod key;
pub mod local;
pub mod s3;
mod uri;

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use tokio_util::io::StreamReader;
use url::Url;

pub use crate::error::{Result, StorageError};
pub use crate::local::LocalStore;
pub use crate::s3::{S3Config, S3Credentials, S3Store};
pub use crate::uri::StorageUri;
/// The SDK this crate is built on, for callers that need an operation it does
/// not wrap (with the same version).
pub use aws_sdk_s3;

/// An object's body: a stream of chunks. `Send + 'static`, so it can be handed
/// to an HTTP response body (e.g. axum's `Body::from_stream`) as is.
pub type BodyStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// What is known about a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object's key.
    pub key: String,
    /// Size of the whole object in bytes (also for a range read).
    pub size: u64,
    /// The entity tag, quoted as in HTTP (`"…"`). On S3 the MD5 of a single-part
    /// object; on the local backend derived from size and modification time.
    pub etag: Option<String>,
    /// When the object was last written.
    pub last_modified: Option<SystemTime>,
    /// The content type given at upload (S3 only; `None` on the local backend).
    pub content_type: Option<String>,
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectSummary {
    /// The full key (including the listed prefix).
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

/// An object being read: its metadata and its body.
pub struct GetObject {
    /// The object's metadata (`size` is the whole object's size).
    pub meta: ObjectMeta,
    /// The bytes of the object that `body` carries: `0..size` for a whole read,
    /// the (possibly shortened) range for a range read.
    pub range: Range<u64>,
    /// The bytes.
    pub body: BodyStream,
}

impl GetObject {
    /// The body as an `AsyncBufRead`, e.g. for `tokio::io::copy` or a line reader.
    pub fn into_reader(self) -> StreamReader<BodyStream, Bytes> {
        StreamReader::new(self.body)
    }
}

impl fmt::Debug for GetObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetObject")
            .field("meta", &self.meta)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

/// An object store: a bucket on an S3 service, or a directory.
///
/// An enum rather than a trait object: there are exactly two backends, the
/// methods can stay generic over the input stream (no boxing, no async-trait),
/// and a `match` shows every difference between them in one place. Cheap to
/// clone; share one per bucket.
///
/// Every method validates its key or prefix first (see [`key`]), identically
/// for both backends.
#[derive(Debug, Clone)]
pub enum Store {
    /// A bucket on an S3 service.
    S3(S3Store),
    /// A directory on the local file system.
    Local(LocalStore),
}

impl Store {
    /// An S3 bucket. Builds the client but does not contact the server.
    pub async fn s3(config: &S3Config, bucket: impl Into<String>) -> Result<Self> {
        Ok(Store::S3(S3Store::new(config, bucket).await?))
    }

    /// A local directory (created on the first write).
    pub fn local(root: impl Into<PathBuf>) -> Self {
        Store::Local(LocalStore::new(root))
    }

    /// The store and key prefix a [`StorageUri`] designates: the bucket of an
    /// `s3://` URI (using `s3` to reach the service), or the file system root for
    /// a `file://` URI, whose path (without the leading `/`) becomes the prefix.
    /// See the [`StorageUri`] docs for why.
    pub async fn from_uri(uri: &StorageUri, s3: &S3Config) -> Result<(Self, String)> {
        match uri {
            StorageUri::S3 { bucket, key } => {
                Ok((Store::s3(s3, bucket.clone()).await?, key.clone()))
            }
            StorageUri::File { .. } => Ok((Store::local("/"), uri.key().to_owned())),
        }
    }

    /// The URI of `key` in this store, e.g. for `status.result.location`.
    pub fn uri_for(&self, key: &str) -> Result<StorageUri> {
        key::validate_prefix(key)?;
        match self {
            Store::S3(s) => Ok(StorageUri::S3 {
                bucket: s.bucket().to_owned(),
                key: key.to_owned(),
            }),
            Store::Local(l) => StorageUri::from_path(&l.path_of(key)),
        }
    }

    /// Stores a stream of unknown length under `key`, replacing any object there,
    /// and returns its size. The object appears whole or not at all: if the
    /// stream yields an error ([`StorageError::Input`]) or the upload fails,
    /// nothing is left behind (on S3 the multipart upload is aborted, also when
    /// this future is dropped midway).
    ///
    /// On S3, a body that fits in one [`s3::PART_SIZE`] part is sent with one
    /// `PutObject`; a bigger one as a multipart upload with at most
    /// [`s3::MAX_PARTS_IN_FLIGHT`] parts in flight.
    pub async fn put_stream<S>(&self, key: &str, body: S, content_type: Option<&str>) -> Result<u64>
    where
        S: Stream<Item = io::Result<Bytes>> + Send,
    {
        key::validate_key(key)?;
        match self {
            Store::S3(s) => s.put_stream(key, body, content_type).await,
            Store::Local(l) => l.put_stream(key, body, content_type).await,
        }
    }

    /// Stores a body already in memory (small objects: JSON, text).
    pub async fn put_bytes(
        &self,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<()> {
        key::validate_key(key)?;
        match self {
            Store::S3(s) => s.put_bytes(key, body, content_type).await,
            Store::Local(l) => l
                .put_stream(key, futures::stream::iter([Ok(body)]), content_type)
                .await
                .map(drop),
        }
    }

    /// Opens an object for reading. [`StorageError::NotFound`] if it is missing.
    pub async fn get(&self, key: &str) -> Result<GetObject> {
        key::validate_key(key)?;
        match self {
            Store::S3(s) => s.get(key, None).await,
            Store::Local(l) => l.get(key, None).await,
        }
    }

    /// Reads bytes `range.start..range.end` (end exclusive) of an object. A range
    /// running past the end is shortened (see [`GetObject::range`]); an empty one,
    /// or one starting at or past the end, is [`StorageError::InvalidRange`].
    pub async fn get_range(&self, key: &str, range: Range<u64>) -> Result<GetObject> {
        key::validate_key(key)?;
        if range.start >= range.end {
            return Err(StorageError::InvalidRange {
                key: key.to_owned(),
                start: range.start,
                end: range.end,
            });
        }
        match self {
            Store::S3(s) => s.get(key, Some(range)).await,
            Store::Local(l) => l.get(key, Some(range)).await,
        }
    }

    /// Reads a small object whole (progress.json, a page checkpoint), refusing
    /// ([`StorageError::TooLarge`]) one bigger than `limit` bytes rather than
    /// letting an unexpected object exhaust memory.
    pub async fn get_bytes(&self, key: &str, limit: usize) -> Result<Bytes> {
        let object = self.get(key).await?;
        let too_large = || StorageError::TooLarge {
            key: key.to_owned(),
            limit: limit as u64,
        };
        if object.meta.size > limit as u64 {
            return Err(too_large());
        }
        let capacity = usize::try_from(object.range.end - object.range.start).unwrap_or(limit);
        let mut buf = BytesMut::with_capacity(capacity.min(limit));
        let mut body = object.body;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| self.body_error(key, e))?;
            if buf.len() + chunk.len() > limit {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }

    /// The object's metadata, without its body.
    pub async fn head(&self, key: &str) -> Result<ObjectMeta> {
        key::validate_key(key)?;
        match self {
            Store::S3(s) => s.head(key).await,
            Store::Local(l) => l.head(key).await,
        }
    }

    /// Whether an object exists (the runner's "is this page already done?").
    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self.head(key).await {
            Ok(_) => Ok(true),
            Err(StorageError::NotFound { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// All objects whose key starts with `prefix` (recursively; no delimiter),
    /// sorted by key. Paginates internally.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>> {
        key::validate_prefix(prefix)?;
        match self {
            Store::S3(s) => s.list(prefix).await,
            Store::Local(l) => l.list(prefix).await,
        }
    }

    /// Deletes an object; a missing one is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        key::validate_key(key)?;
        match self {
            Store::S3(s) => s.delete(key).await,
            Store::Local(l) => l.delete(key).await,
        }
    }

    /// Deletes every object under `prefix` and returns how many there were.
    /// Refuses the empty prefix: wiping a whole bucket or directory is never what
    /// pdfx means to do, and an empty prefix is the classic bug that would.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<usize> {
        if prefix.is_empty() {
            return Err(StorageError::InvalidKey {
                key: String::new(),
                reason: "refusing to delete everything (empty prefix)",
            });
        }
        key::validate_prefix(prefix)?;
        match self {
            Store::S3(s) => s.delete_prefix(prefix).await,
            Store::Local(l) => l.delete_prefix(prefix).await,
        }
    }

    /// Discards what writers that died mid-write left under `prefix`, and
    /// returns how many: the local backend's temporary files of dead
    /// processes. S3 has nothing to sweep here: a single PUT is atomic, and
    /// a multipart upload is aborted by its writer or, if the writer was
    /// killed, by the bucket's AbortIncompleteMultipartUpload lifecycle rule.
    pub async fn discard_interrupted_writes(&self, prefix: &str) -> Result<usize> {
        if prefix.is_empty() {
            return Err(StorageError::InvalidKey {
                key: String::new(),
                reason: "refusing to sweep everything (empty prefix)",
            });
        }
        key::validate_prefix(prefix)?;
        match self {
            Store::S3(_) => Ok(0),
            Store::Local(l) => l.discard_interrupted_writes(prefix).await,
        }
    }

    /// A URL from which anyone holding it can GET the object for `ttl` (at most
    /// 7 days), or `None` on the local backend, which has no URLs to give. Does
    /// not check that the object exists. The URL points at the configured
    /// endpoint, which must therefore be reachable by whoever receives it.
    pub async fn presigned_get(&self, key: &str, ttl: Duration) -> Result<Option<Url>> {
        key::validate_key(key)?;
        match self {
            Store::S3(s) => s.presigned_get(key, ttl).await.map(Some),
            Store::Local(_) => Ok(None),
        }
    }

    /// Streams an object into the file at `path` and returns its size. The file
    /// appears only when complete (temporary file beside it, fsync, rename), so a
    /// failed download never leaves a truncated file that looks whole. Memory use
    /// is one chunk, whatever the size.
    pub async fn download_to_file(&self, key: &str, path: &Path) -> Result<u64> {
        let object = self.get(key).await?;
        let io_err = |source| StorageError::Io {
            path: path.to_owned(),
            source,
        };
        let mut tmp = fsutil::TempFile::create_beside(path)
            .await
            .map_err(io_err)?;
        let mut body = object.body;
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| self.body_error(key, e))?;
            tmp.write_all(&chunk).await.map_err(io_err)?;
            written += chunk.len() as u64;
        }
        let expected = object.range.end - object.range.start;
        if written != expected {
            return Err(StorageError::Backend {
                op: "GetObject",
                status: None,
                code: None,
                message: format!("{key}: got {written} bytes, expected {expected}"),
                transient: true,
            });
        }
        tmp.commit(path).await.map_err(io_err)?;
        tracing::debug!(key, path = %path.display(), written, "object downloaded");
        Ok(written)
    }

    /// A short description for logs: `s3://bucket` or `file:///root`.
    pub fn describe(&self) -> String {
        match self {
            Store::S3(s) => format!("s3://{}", s.bucket()),
            Store::Local(l) => format!("file://{}", l.root().display()),
        }
    }

    /// Classifies an error that occurred while reading a body stream.
    fn body_error(&self, key: &str, source: io::Error) -> StorageError {
        match self {
            Store::S3(_) => StorageError::Backend {
                op: "GetObject",
                status: None,
                code: None,
                message: format!("{key}: reading the body failed: {source}"),
                transient: true,
            },
            Store::Local(l) => StorageError::Io {
                path: l.path_of(key),
                source,
            },
        }
    }
}
