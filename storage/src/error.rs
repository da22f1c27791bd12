//! The one error type of this crate.
//!
//! Callers branch on *kinds*, not on backend details: the runner maps
//! [`StorageError::NotFound`] / [`StorageError::AccessDenied`] on its source to
//! exit code 3 ("fail at once") and everything [`StorageError::is_transient`]
//! to exit code 1 ("retry"); the gateway maps transient errors to 503. So both
//! backends report the same variant for the same situation, and S3's many ways
//! of saying "missing" (a `NoSuchKey` code, a bare 404 on HEAD) collapse into
//! one variant.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong talking to object storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The object does not exist (S3 `NoSuchKey`, a 404 on HEAD, or a missing file).
    #[error("object not found: {key}")]
    NotFound {
        /// The key that was asked for.
        key: String,
    },

    /// The bucket does not exist (S3 `NoSuchBucket`). Kept apart from
    /// [`StorageError::NotFound`] because it means misconfiguration, not a missing
    /// document; [`StorageError::is_not_found`] is true for both.
    #[error("bucket not found: {bucket}")]
    BucketNotFound {
        /// The bucket that was asked for.
        bucket: String,
    },

    /// The credentials may not do this (S3 403, or a permission error on a file).
    #[error("access denied: {key}")]
    AccessDenied {
        /// The key (or prefix) that was asked for.
        key: String,
    },

    /// A key or prefix that this crate refuses (empty, absolute, `..`, empty segment, …).
    /// Checked identically on both backends so that code tested against the local
    /// directory behaves the same against S3.
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The refused key.
        key: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// A storage URI that does not parse (see [`crate::StorageUri`]).
    #[error("invalid storage URI {uri:?}: {reason}")]
    InvalidUri {
        /// The refused URI.
        uri: String,
        /// Why it was refused.
        reason: String,
    },

    /// A byte range that is empty or starts at or past the end of the object.
    #[error("invalid range {start}..{end} for {key}")]
    InvalidRange {
        /// The object.
        key: String,
        /// First byte asked for.
        start: u64,
        /// One past the last byte asked for.
        end: u64,
    },

    /// The object is bigger than the caller's limit (see [`crate::Store::get_bytes`]),
    /// or an upload would need more than S3's 10,000 parts.
    #[error("object {key} is larger than {limit} bytes")]
    TooLarge {
        /// The object.
        key: String,
        /// The limit in bytes.
        limit: u64,
    },

    /// The caller's input stream of an upload failed. Nothing was stored.
    #[error("upload of {key} aborted: the input stream failed: {source}")]
    Input {
        /// The key that was being written.
        key: String,
        /// The error the input stream yielded.
        #[source]
        source: io::Error,
    },

    /// A local file-system operation failed (local backend, or the destination of
    /// [`crate::Store::download_to_file`]).
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The path being worked on.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The S3 configuration is unusable (a bad environment variable, half a key pair, …).
    #[error("invalid S3 configuration: {0}")]
    Config(String),

    /// Any other failure reported by (or on the way to) the S3 service.
    #[error("S3 {op} failed{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Backend {
        /// The S3 operation, e.g. `PutObject`.
        op: &'static str,
        /// The HTTP status, when a response arrived.
        status: Option<u16>,
        /// The S3 error code (e.g. `SlowDown`), when the service sent one.
        code: Option<String>,
        /// A human-readable description, with the whole error chain.
        message: String,
        /// Whether retrying the same call later may succeed (timeouts, connection
        /// failures, 5xx, throttling).
        transient: bool,
    },
}

impl StorageError {
    /// Whether the same call may succeed if retried later: network trouble,
    /// timeouts, server errors and throttling. The runner exits with its
    /// "transient" code for these and the gateway answers 503.
    pub fn is_transient(&self) -> bool {
        match self {
            StorageError::Backend { transient, .. } => *transient,
            StorageError::Io { source, .. } | StorageError::Input { source, .. } => {
                io_error_is_transient(source)
            }
            StorageError::NotFound { .. }
            | StorageError::BucketNotFound { .. }
            | StorageError::AccessDenied { .. }
            | StorageError::InvalidKey { .. }
            | StorageError::InvalidUri { .. }
            | StorageError::InvalidRange { .. }
            | StorageError::TooLarge { .. }
            | StorageError::Config(_) => false,
        }
    }

    /// Whether the object (or its bucket) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            StorageError::NotFound { .. } | StorageError::BucketNotFound { .. }
        )
    }

    /// Whether access was refused.
    pub fn is_access_denied(&self) -> bool {
        matches!(self, StorageError::AccessDenied { .. })
    }

    /// A short, stable label for the kind of error: for metrics labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            StorageError::NotFound { .. } => "not_found",
            StorageError::BucketNotFound { .. } => "bucket_not_found",
            StorageError::AccessDenied { .. } => "access_denied",
            StorageError::InvalidKey { .. } => "invalid_key",
            StorageError::InvalidUri { .. } => "invalid_uri",
            StorageError::InvalidRange { .. } => "invalid_range",
            StorageError::TooLarge { .. } => "too_large",
            StorageError::Input { .. } => "input",
            StorageError::Io { .. } => "io",
            StorageError::Config(_) => "config",
            StorageError::Backend { .. } => "backend",
        }
    }

    /// Maps a local I/O error on `path` (which stands for `key`) to the typed
    /// variants, so the local backend reports missing and forbidden files the
    /// same way S3 does.
    pub(crate) fn from_io(key: &str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::NotFound => StorageError::NotFound {
                key: key.to_owned(),
            },
            io::ErrorKind::PermissionDenied => StorageError::AccessDenied {
                key: key.to_owned(),
            },
            _ => StorageError::Io {
                path: path.into(),
                source,
            },
        }
    }
}

fn io_error_is_transient(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::TimedOut
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

/// Shorthand for results of this crate.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
