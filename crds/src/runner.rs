//! The contract between the runner and the operator: exit codes (matched by the
//! Job's `podFailurePolicy`) and the one-line termination message the operator
//! reads from the pod status (DESIGN.md §5).

use serde::{Deserialize, Serialize};

use crate::FailureReason;
use crate::result::Summary;

/// The extraction succeeded.
pub const EXIT_SUCCESS: i32 = 0;
/// A failure that may not happen again: retry.
pub const EXIT_TRANSIENT: i32 = 1;
/// The input can never be extracted (not a PDF, encrypted, no pages, bad range): fail at once.
pub const EXIT_INVALID_INPUT: i32 = 2;
/// The source is missing or access was denied: fail at once.
pub const EXIT_SOURCE_UNAVAILABLE: i32 = 3;

/// Kubernetes keeps at most this many bytes of a termination message.
pub const TERMINATION_MESSAGE_LIMIT: usize = 4096;

/// The exit code that carries a failure reason to the Job's `podFailurePolicy`.
pub fn exit_code_for(reason: FailureReason) -> i32 {
    match reason {
        FailureReason::InvalidPdf
        | FailureReason::EncryptedPdf
        | FailureReason::NoPages
        | FailureReason::PageRangeOutOfBounds
        | FailureReason::InvalidSpec => EXIT_INVALID_INPUT,
        FailureReason::SourceNotFound | FailureReason::AccessDenied => EXIT_SOURCE_UNAVAILABLE,
        FailureReason::OomKilled
        | FailureReason::DeadlineExceeded
        | FailureReason::RetriesExhausted
        | FailureReason::Transient => EXIT_TRANSIENT,
    }
}

/// What the runner writes to the termination-message path: one line of JSON.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum TerminationMessage {
    #[serde(rename_all = "camelCase")]
    Succeeded {
        /// URI of `result.json`.
        location: String,
        summary: Summary,
    },
    #[serde(rename_all = "camelCase")]
    Failed {
        reason: FailureReason,
        message: String,
    },
}

impl TerminationMessage {
    /// One line of JSON within Kubernetes' size limit; an overlong failure
    /// message is shortened rather than lost.
    pub fn to_line(&self) -> String {
        let line = serde_json::to_string(self).unwrap_or_default();
        if line.len() <= TERMINATION_MESSAGE_LIMIT {
            return line;
        }
        match self {
            TerminationMessage::Failed { reason, message } => {
                // Escaping can multiply a character's size, so halve until it fits.
                let mut budget = TERMINATION_MESSAGE_LIMIT / 2;
                loop {
                    let mut cut = budget.min(message.len());
                    while !message.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    let short = TerminationMessage::Failed {
                        reason: *reason,
                        message: format!("{}…", &message[..cut]),
                    };
                    let line = serde_json::to_string(&short).unwrap_or_default();
                    if line.len() <= TERMINATION_MESSAGE_LIMIT || budget == 0 {
                        return line;
                    }
                    budget /= 2;
                }
            }
            TerminationMessage::Succeeded { .. } => line,
        }
    }

    /// Reads a termination message; `None` when the pod left none or garbage
    /// (the operator then falls back to the exit code).
    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_str(text.trim()).ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_design() {
        assert_eq!(exit_code_for(FailureReason::InvalidPdf), 2);
        assert_eq!(exit_code_for(FailureReason::EncryptedPdf), 2);
        assert_eq!(exit_code_for(FailureReason::PageRangeOutOfBounds), 2);
        assert_eq!(exit_code_for(FailureReason::SourceNotFound), 3);
        assert_eq!(exit_code_for(FailureReason::AccessDenied), 3);
        assert_eq!(exit_code_for(FailureReason::Transient), 1);
    }

    #[test]
    fn termination_messages_round_trip_on_one_line() {
        let failed = TerminationMessage::Failed {
            reason: FailureReason::EncryptedPdf,
            message: "needs a password".into(),
        };
        let line = failed.to_line();
        assert_eq!(
            line,
            r#"{"outcome":"failed","reason":"EncryptedPdf","message":"needs a password"}"#
        );
        assert_eq!(
            TerminationMessage::parse(&format!("{line}\n")),
            Some(failed)
        );
        let ok = TerminationMessage::Succeeded {
            location: "s3://b/k/result.json".into(),
            summary: Summary {
                pages: 3,
                ..Summary::default()
            },
        };
        assert_eq!(TerminationMessage::parse(&ok.to_line()), Some(ok));
        assert_eq!(TerminationMessage::parse("Error: boom"), None);
    }

    #[test]
    fn overlong_messages_are_shortened_to_fit() {
        let failed = TerminationMessage::Failed {
            reason: FailureReason::InvalidPdf,
            message: "가".repeat(10_000),
        };
        let line = failed.to_line();
        assert!(line.len() <= TERMINATION_MESSAGE_LIMIT, "{}", line.len());
        assert!(matches!(
            TerminationMessage::parse(&line),
            Some(TerminationMessage::Failed {
                reason: FailureReason::InvalidPdf,
                ..
            })
        ));
    }
}
