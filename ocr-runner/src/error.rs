//! The runner's errors, each with the failure reason it reports to the operator
//! and so the exit code its Job's `podFailurePolicy` matches (docs/architecture.md, "The runner contract").

use pdfx_crd::FailureReason;
use pdfx_crd::runner::exit_code_for;

use crate::ocr::OcrError;
use crate::pdf::PdfError;

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Pdf(#[from] PdfError),
    #[error(transparent)]
    Ocr(#[from] OcrError),
    #[error("storage: {0}")]
    Storage(#[from] pdfx_storage::StorageError),
    #[error("source {uri}: {message}")]
    SourceNotFound { uri: String, message: String },
    #[error("source {uri}: access denied: {message}")]
    SourceDenied { uri: String, message: String },
    #[error("source {uri}: {message}")]
    SourceTransient { uri: String, message: String },
    #[error("{0}")]
    InvalidOptions(String),
    #[error(transparent)]
    PageRange(#[from] pdfx_crd::PageRangeError),
    #[error(
        "checkpoint of page {page} is unreadable ({message}); it was removed so that a retry redoes the page"
    )]
    BadCheckpoint { page: u32, message: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("internal error: {0}")]
    Internal(String),
    /// The pdfium child died of a SIGKILL the runner did not send: the
    /// kernel's OOM killer, which on cgroup v1 nodes kills the largest
    /// process of the container, not the container.
    #[error("{0}")]
    WorkerKilled(String),
}

impl RunnerError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        RunnerError::Io {
            context: context.into(),
            source,
        }
    }

    /// The reason reported in the termination message and `status.error`.
    pub fn reason(&self) -> FailureReason {
        match self {
            RunnerError::Pdf(e) => e.reason(),
            RunnerError::Ocr(e) => e.reason(),
            RunnerError::Storage(e) if e.is_not_found() => FailureReason::SourceNotFound,
            RunnerError::Storage(e) if e.is_access_denied() => FailureReason::AccessDenied,
            RunnerError::Storage(e) if e.is_transient() => FailureReason::Transient,
            // A bad key, an object over a size limit or a bad configuration will
            // fail the same way on every attempt.
            RunnerError::Storage(_) => FailureReason::InvalidSpec,
            RunnerError::SourceNotFound { .. } => FailureReason::SourceNotFound,
            RunnerError::SourceDenied { .. } => FailureReason::AccessDenied,
            RunnerError::SourceTransient { .. } => FailureReason::Transient,
            RunnerError::InvalidOptions(_) => FailureReason::InvalidSpec,
            RunnerError::PageRange(pdfx_crd::PageRangeError::OutOfBounds { .. }) => {
                FailureReason::PageRangeOutOfBounds
            }
            RunnerError::PageRange(pdfx_crd::PageRangeError::NoPages) => FailureReason::NoPages,
            RunnerError::PageRange(_) => FailureReason::InvalidSpec,
            RunnerError::BadCheckpoint { .. }
            | RunnerError::Io { .. }
            | RunnerError::Internal(_) => FailureReason::Transient,
            RunnerError::WorkerKilled(_) => FailureReason::OomKilled,
        }
    }

    /// The process exit code: 0 is never returned for an error.
    pub fn exit_code(&self) -> i32 {
        exit_code_for(self.reason())
    }

    /// The message on one line, as the termination message and stderr carry it.
    pub fn one_line(&self) -> String {
        self.to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}
