//! One vocabulary of reasons (docs/architecture.md, "Reasons"): every word
//! pdfx uses to say *why* — in `status.error.reason`, in condition reasons, in
//! Event reasons and in metric labels — is defined here once, so that a user
//! reading `kubectl describe`, a REST client reading `error_code` and a
//! dashboard counting failures see the same word for the same cause.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Machine-readable reasons for a failed attempt or extraction. The same word
/// appears in `status.error.reason`, as the reason of the `Failed` condition
/// and of the failure Event, and as the `outcome` metric label.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum FailureReason {
    /// The source is not a readable PDF (not a PDF, truncated, corrupt).
    InvalidPdf,
    /// The PDF is encrypted and no usable password was given.
    EncryptedPdf,
    /// The PDF has no pages.
    NoPages,
    /// The requested pages lie outside the document.
    PageRangeOutOfBounds,
    /// The spec cannot be carried out (e.g. an OCR language without data).
    InvalidSpec,
    /// The source object or URL does not exist.
    SourceNotFound,
    /// Storage or the source refused access.
    AccessDenied,
    /// The Job was killed for exceeding its memory limit, at the largest allowed limit.
    #[serde(rename = "OOMKilled")]
    #[schemars(rename = "OOMKilled")]
    OomKilled,
    /// The Job ran longer than its deadline.
    DeadlineExceeded,
    /// The runner's pod could not be placed on any node in time (too little
    /// memory or CPU free, a taint, a quota) within the operator's start deadline.
    Unschedulable,
    /// The runner's image could not be pulled within the start deadline.
    ImagePullFailed,
    /// The runner's pod did not start within the start deadline for another
    /// reason (e.g. a missing Secret, a stuck volume).
    StartTimeout,
    /// Transient failures used up every allowed attempt.
    RetriesExhausted,
    /// A failure the runner could not classify; retried as transient.
    Transient,
}

/// What a new attempt can do about a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryPolicy {
    /// The same input fails the same way: fail the extraction.
    Never,
    /// Try again after a backoff, within the attempt limit.
    WithBackoff,
    /// Try again at once with a larger memory limit, within the memory cap.
    WithMoreMemory,
}

impl FailureReason {
    /// The name used on the wire, in conditions, in Events and as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::InvalidPdf => "InvalidPdf",
            FailureReason::EncryptedPdf => "EncryptedPdf",
            FailureReason::NoPages => "NoPages",
            FailureReason::PageRangeOutOfBounds => "PageRangeOutOfBounds",
            FailureReason::InvalidSpec => "InvalidSpec",
            FailureReason::SourceNotFound => "SourceNotFound",
            FailureReason::AccessDenied => "AccessDenied",
            FailureReason::OomKilled => "OOMKilled",
            FailureReason::DeadlineExceeded => "DeadlineExceeded",
            FailureReason::Unschedulable => "Unschedulable",
            FailureReason::ImagePullFailed => "ImagePullFailed",
            FailureReason::StartTimeout => "StartTimeout",
            FailureReason::RetriesExhausted => "RetriesExhausted",
            FailureReason::Transient => "Transient",
        }
    }

    /// Whether and how a new attempt may succeed where this one failed. A
    /// deadline is not retried: the same document would run as long again. A
    /// pod that could not start may start later (nodes free up, a registry
    /// comes back), so it is retried like a transient failure.
    pub fn retry_policy(self) -> RetryPolicy {
        match self {
            FailureReason::OomKilled => RetryPolicy::WithMoreMemory,
            FailureReason::Transient
            | FailureReason::Unschedulable
            | FailureReason::ImagePullFailed
            | FailureReason::StartTimeout => RetryPolicy::WithBackoff,
            FailureReason::InvalidPdf
            | FailureReason::EncryptedPdf
            | FailureReason::NoPages
            | FailureReason::PageRangeOutOfBounds
            | FailureReason::InvalidSpec
            | FailureReason::SourceNotFound
            | FailureReason::AccessDenied
            | FailureReason::DeadlineExceeded
            | FailureReason::RetriesExhausted => RetryPolicy::Never,
        }
    }
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The reasons of conditions and Events: where an extraction is on its way,
/// or, for a failure, the [`FailureReason`] itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The spec is valid (the `Accepted` condition and Event).
    Accepted,
    /// Waiting for a free Job slot (Event).
    Queued,
    /// An attempt's Job was created (Event).
    Started,
    /// `Running`: the attempt's Job was just created.
    JobCreated,
    /// `Running`: the Job's pod cannot start yet (image, scheduling…).
    JobPending,
    /// `Running`: the Job is suspended, held by a queue (e.g. Kueue) until admitted.
    JobSuspended,
    /// `Running`: the Job's pod is working.
    JobRunning,
    /// `Running`: the next attempt waits for a free slot.
    WaitingForSlot,
    /// `Running` and a Warning Event: an attempt failed and another follows.
    Retrying,
    /// `Running` is False: the extraction finished.
    Finished,
    /// `Succeeded`: the result is in storage.
    Completed,
    /// The success Event.
    Succeeded,
    /// Cleanup could not delete some objects (Warning Event).
    CleanupIncomplete,
    /// A failure: the `Failed` condition, the failure Event and the
    /// `Accepted` condition of an invalid spec all carry the failure's word.
    Failed(FailureReason),
    /// A Warning Event for a reconcile that failed and is retried.
    ReconcileError(ReconcileErrorKind),
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Accepted => "Accepted",
            Reason::Queued => "Queued",
            Reason::Started => "Started",
            Reason::JobCreated => "JobCreated",
            Reason::JobPending => "JobPending",
            Reason::JobSuspended => "JobSuspended",
            Reason::JobRunning => "JobRunning",
            Reason::WaitingForSlot => "WaitingForSlot",
            Reason::Retrying => "Retrying",
            Reason::Finished => "Finished",
            Reason::Completed => "Completed",
            Reason::Succeeded => "Succeeded",
            Reason::CleanupIncomplete => "CleanupIncomplete",
            Reason::Failed(reason) => reason.as_str(),
            Reason::ReconcileError(kind) => kind.as_str(),
        }
    }
}

impl From<FailureReason> for Reason {
    fn from(reason: FailureReason) -> Self {
        Reason::Failed(reason)
    }
}

impl From<ReconcileErrorKind> for Reason {
    fn from(kind: ReconcileErrorKind) -> Self {
        Reason::ReconcileError(kind)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of error interrupted a reconcile (the operator retries it): the
/// reason of the Warning Event it records and the `kind` metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReconcileErrorKind {
    /// The Kubernetes API refused or failed a request.
    KubeApi,
    /// Object storage failed a request.
    Storage,
    /// The Job could not be built from the resource.
    InvalidJob,
    /// An object could not be (de)serialised.
    Serialization,
    /// The status changed between reading and writing it (expected; no Event).
    StaleStatus,
    /// Cleanup waits for the runner's pod to stop (expected; no Event).
    WaitingForRunner,
    /// The finalizer helper failed outside apply and cleanup.
    Finalizer,
}

impl ReconcileErrorKind {
    /// Whether this is a normal wait rather than a fault: it is retried
    /// quickly and recorded as no Warning Event.
    pub fn is_expected(self) -> bool {
        matches!(
            self,
            ReconcileErrorKind::StaleStatus | ReconcileErrorKind::WaitingForRunner
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReconcileErrorKind::KubeApi => "KubeApiError",
            ReconcileErrorKind::Storage => "StorageError",
            ReconcileErrorKind::InvalidJob => "InvalidJob",
            ReconcileErrorKind::Serialization => "SerializationError",
            ReconcileErrorKind::StaleStatus => "StaleStatus",
            ReconcileErrorKind::WaitingForRunner => "WaitingForRunner",
            ReconcileErrorKind::Finalizer => "FinalizerError",
        }
    }
}

impl std::fmt::Display for ReconcileErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ALL_FAILURES: [FailureReason; 14] = [
        FailureReason::InvalidPdf,
        FailureReason::EncryptedPdf,
        FailureReason::NoPages,
        FailureReason::PageRangeOutOfBounds,
        FailureReason::InvalidSpec,
        FailureReason::SourceNotFound,
        FailureReason::AccessDenied,
        FailureReason::OomKilled,
        FailureReason::DeadlineExceeded,
        FailureReason::Unschedulable,
        FailureReason::ImagePullFailed,
        FailureReason::StartTimeout,
        FailureReason::RetriesExhausted,
        FailureReason::Transient,
    ];

    #[test]
    fn a_failure_is_one_word_on_the_wire_in_conditions_and_events() {
        for reason in ALL_FAILURES {
            let wire = serde_json::to_value(reason).unwrap();
            assert_eq!(wire, serde_json::json!(reason.as_str()));
            assert_eq!(Reason::from(reason).as_str(), reason.as_str());
            assert_eq!(reason.to_string(), reason.as_str());
        }
    }

    #[test]
    fn only_transient_failures_pods_that_never_started_and_memory_kills_are_retried() {
        let retried: Vec<_> = ALL_FAILURES
            .into_iter()
            .filter(|r| r.retry_policy() != RetryPolicy::Never)
            .collect();
        assert_eq!(
            retried,
            [
                FailureReason::OomKilled,
                FailureReason::Unschedulable,
                FailureReason::ImagePullFailed,
                FailureReason::StartTimeout,
                FailureReason::Transient
            ]
        );
        assert_eq!(
            FailureReason::DeadlineExceeded.retry_policy(),
            RetryPolicy::Never
        );
    }

    #[test]
    fn reasons_are_camel_case_words() {
        let words = [
            Reason::Accepted,
            Reason::Queued,
            Reason::Started,
            Reason::JobCreated,
            Reason::JobPending,
            Reason::JobSuspended,
            Reason::JobRunning,
            Reason::WaitingForSlot,
            Reason::Retrying,
            Reason::Finished,
            Reason::Completed,
            Reason::Succeeded,
            Reason::CleanupIncomplete,
        ]
        .map(Reason::as_str)
        .into_iter()
        .chain(ALL_FAILURES.map(FailureReason::as_str))
        .chain(
            [
                ReconcileErrorKind::KubeApi,
                ReconcileErrorKind::Storage,
                ReconcileErrorKind::InvalidJob,
                ReconcileErrorKind::Serialization,
                ReconcileErrorKind::StaleStatus,
                ReconcileErrorKind::WaitingForRunner,
                ReconcileErrorKind::Finalizer,
            ]
            .map(ReconcileErrorKind::as_str),
        );
        for word in words {
            // Kubernetes condition reasons must match this (metav1.Condition validation).
            let valid = word.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && word.chars().all(|c| c.is_ascii_alphanumeric());
            assert!(valid, "{word}");
        }
    }
}
