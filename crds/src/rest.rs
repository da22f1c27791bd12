//! The REST view of an extraction: what `GET /extract/status/{task_id}` answers
//! (docs/architecture.md, "The REST API"). The gateway and the CLI both call [`task_status`], so a
//! status means the same thing wherever it is shown.

use serde::{Deserialize, Serialize};

use crate::conditions::{self, ConditionStatus};
use crate::result::{PageMethod, ResultDocument};
use crate::{FailureReason, PdfExtraction, Phase, ResultSummary};

/// `error_code` of an extraction whose resource is being deleted before it finished.
pub const CANCELLED: &str = "Cancelled";
/// `error_code` when a failed resource does not say why (e.g. written by hand).
pub const UNKNOWN_FAILURE: &str = "Unknown";
/// Annotation in which the gateway keeps an upload's original file name; the
/// REST status shows it as `file_name`.
pub const ANNOTATION_FILENAME: &str = "pdfx.dev/original-filename";

/// The four states a REST client sees.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TaskState {
    Pending,
    Processing,
    Completed,
    Failed,
}

impl TaskState {
    pub fn is_finished(self) -> bool {
        matches!(self, TaskState::Completed | TaskState::Failed)
    }

    /// Seconds a polling client should wait before asking again (`Retry-After`);
    /// `None` once the task is finished.
    pub fn retry_after_seconds(self) -> Option<u32> {
        match self {
            TaskState::Pending => Some(5),
            TaskState::Processing => Some(2),
            TaskState::Completed | TaskState::Failed => None,
        }
    }
}

/// Body of `GET /extract/status/{task_id}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskStatus {
    pub task_id: String,
    /// The uploaded file's name, when the task came through the gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    pub status: TaskState,
    /// A sentence for people about where the task is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Percent of pages done, 0 to 100 (`processing` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages_done: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages_total: Option<u32>,
    /// The result summary and, when the caller loaded it, the text of each page (`completed` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<TaskResult>,
    /// One line saying why the task failed (`failed` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Machine-readable failure reason, e.g. `InvalidPdf` or `Cancelled` (`failed` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Attempts made so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// RFC 3339 creation time of the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// RFC 3339 time at which the task finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

/// The `result` of a completed task.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskResult {
    pub pages: u32,
    pub ocr_pages: u32,
    pub text_layer_pages: u32,
    pub characters: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_confidence: Option<f64>,
    /// Per-page text, when the caller loaded `result.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_texts: Option<Vec<PageText>>,
}

/// The text of one page, as the REST API shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PageText {
    pub page: u32,
    pub method: PageMethod,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
}

impl TaskResult {
    fn from_summary(summary: &ResultSummary, document: Option<&ResultDocument>) -> Self {
        Self {
            pages: summary.pages,
            ocr_pages: summary.ocr_pages,
            text_layer_pages: summary.text_layer_pages,
            characters: summary.characters,
            mean_confidence: summary.mean_confidence,
            page_texts: document.map(|doc| {
                doc.pages
                    .iter()
                    .map(|p| PageText {
                        page: p.page,
                        method: p.method,
                        text: p.text.clone(),
                        confidence: p.confidence,
                    })
                    .collect()
            }),
        }
    }
}

/// The REST status of an extraction. `document` is its `result.json` when the
/// caller has loaded it (to include per-page text); the mapping itself never
/// does I/O.
///
/// The phase decides; when a resource carries no phase (written by a tool that
/// only sets conditions) the `Failed`, `Succeeded` and `Running` conditions
/// decide, in that order. A resource that is being deleted before it finished
/// is reported as failed with code `Cancelled`.
pub fn task_status(
    task_id: &str,
    resource: &PdfExtraction,
    document: Option<&ResultDocument>,
) -> TaskStatus {
    let status = resource.status.clone().unwrap_or_default();
    let conds = &status.conditions;
    let phase = status.phase.or_else(|| {
        if conditions::is_true(conds, conditions::FAILED) {
            Some(Phase::Failed)
        } else if conditions::is_true(conds, conditions::SUCCEEDED) {
            Some(Phase::Succeeded)
        } else if conditions::is_true(conds, conditions::RUNNING) {
            Some(Phase::Running)
        } else {
            None
        }
    });

    let mut out = TaskStatus {
        task_id: task_id.to_owned(),
        file_name: resource
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_FILENAME))
            .cloned(),
        status: TaskState::Pending,
        message: None,
        progress: None,
        pages_done: None,
        pages_total: None,
        result: None,
        error_message: None,
        error_code: None,
        attempts: status.current_attempt,
        created_at: resource
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_string()),
        finished_at: status.completion_time.as_ref().map(|t| t.0.to_string()),
    };

    let deleting = resource.metadata.deletion_timestamp.is_some();
    if deleting && !phase.is_some_and(Phase::is_terminal) {
        out.status = TaskState::Failed;
        out.error_code = Some(CANCELLED.to_owned());
        out.error_message = Some("the extraction was cancelled".to_owned());
        return out;
    }

    match phase {
        None | Some(Phase::Pending) => {
            out.message = Some(
                condition_message(conds, conditions::ACCEPTED)
                    .unwrap_or_else(|| "waiting to be scheduled".to_owned()),
            );
        }
        Some(Phase::Queued) => {
            out.message = Some("queued: waiting for a free extraction slot".to_owned());
        }
        Some(Phase::Running) => {
            out.status = TaskState::Processing;
            let progress = status.progress.clone().unwrap_or_default();
            out.progress = Some(progress.percent.min(100));
            out.pages_done = Some(progress.pages_done);
            out.pages_total = Some(progress.pages_total);
            out.message = condition_message(conds, conditions::RUNNING);
        }
        Some(Phase::Succeeded) => match &status.result {
            Some(summary) => {
                out.status = TaskState::Completed;
                out.pages_done = Some(summary.pages);
                out.pages_total = Some(summary.pages);
                out.progress = Some(100);
                out.result = Some(TaskResult::from_summary(summary, document));
            }
            // Succeeded without a result summary cannot be served as a result;
            // saying "completed" with nothing in it would mislead the client.
            None => {
                out.status = TaskState::Processing;
                out.progress = Some(100);
                out.message = Some("finishing: the result summary is not recorded yet".to_owned());
            }
        },
        Some(Phase::Failed) => {
            out.status = TaskState::Failed;
            let (code, message) = match &status.error {
                Some(error) => (error.reason.as_str().to_owned(), error.message.clone()),
                None => match conditions::find(conds, conditions::FAILED)
                    .filter(|c| c.status == ConditionStatus::True.as_str())
                {
                    Some(c) => (c.reason.clone(), c.message.clone()),
                    None => (
                        UNKNOWN_FAILURE.to_owned(),
                        "the extraction failed".to_owned(),
                    ),
                },
            };
            out.error_code = Some(code);
            out.error_message = Some(first_line(&message));
        }
    }
    out
}

/// The failure reason of a REST error code, when it is one of the resource's reasons.
pub fn failure_reason(code: &str) -> Option<FailureReason> {
    serde_json::from_value(serde_json::Value::String(code.to_owned())).ok()
}

fn condition_message(
    conds: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    type_: &str,
) -> Option<String> {
    conditions::find(conds, type_)
        .map(|c| c.message.clone())
        .filter(|m| !m.is_empty())
}

fn first_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("the extraction failed")
        .to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::conditions::{ConditionUpdate, set_condition};
    use crate::result::PageResult;
    use crate::{
        ExtractionError, PdfExtractionSpec, PdfExtractionStatus, Progress, Source, StorageObject,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use pretty_assertions::assert_eq;

    fn now() -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(1_700_000_000).unwrap())
    }

    fn resource(status: Option<PdfExtractionStatus>) -> PdfExtraction {
        let spec = PdfExtractionSpec {
            source: Source::Storage(StorageObject {
                key: "uploads/a.pdf".into(),
            }),
            output: None,
            ocr: Default::default(),
            resources: None,
            ttl_seconds_after_finished: None,
        };
        let mut r = PdfExtraction::new("doc", spec);
        r.metadata.creation_timestamp = Some(now());
        r.status = status;
        r
    }

    #[test]
    fn the_uploaded_file_name_comes_from_the_gateways_annotation() {
        let mut r = resource(None);
        assert_eq!(task_status("doc", &r, None).file_name, None);
        r.metadata.annotations =
            Some([(ANNOTATION_FILENAME.to_owned(), "보고서.pdf".to_owned())].into());
        let status = task_status("doc", &r, None);
        assert_eq!(status.file_name.as_deref(), Some("보고서.pdf"));
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(json["file_name"], "보고서.pdf");
    }

    fn with_phase(phase: Phase) -> PdfExtractionStatus {
        PdfExtractionStatus {
            phase: Some(phase),
            ..Default::default()
        }
    }

    fn with_condition(
        type_: &'static str,
        status: ConditionStatus,
        reason: &'static str,
        message: &str,
    ) -> PdfExtractionStatus {
        let mut s = PdfExtractionStatus::default();
        set_condition(
            &mut s.conditions,
            ConditionUpdate {
                type_,
                status,
                reason,
                message: message.into(),
                observed_generation: Some(1),
            },
            &now(),
        );
        s
    }

    fn summary() -> ResultSummary {
        ResultSummary {
            location: "s3://b/extractions/ns/doc/result.json".into(),
            pages: 3,
            ocr_pages: 2,
            text_layer_pages: 1,
            characters: 120,
            mean_confidence: Some(0.93),
        }
    }

    #[test]
    fn no_status_yet_is_pending() {
        let s = task_status("t1", &resource(None), None);
        assert_eq!(s.status, TaskState::Pending);
        assert_eq!(s.task_id, "t1");
        assert_eq!(s.created_at.as_deref(), Some("2023-11-14T22:13:20Z"));
        assert!(s.progress.is_none() && s.result.is_none() && s.error_code.is_none());
        assert_eq!(s.status.retry_after_seconds(), Some(5));
    }

    #[test]
    fn pending_and_queued_are_pending_with_a_reason() {
        let pending = task_status("t", &resource(Some(with_phase(Phase::Pending))), None);
        assert_eq!(pending.status, TaskState::Pending);
        let queued = task_status("t", &resource(Some(with_phase(Phase::Queued))), None);
        assert_eq!(queued.status, TaskState::Pending);
        assert!(queued.message.unwrap().contains("queued"));
    }

    #[test]
    fn pending_shows_the_accepted_condition_message() {
        let mut status = with_condition(
            conditions::ACCEPTED,
            ConditionStatus::True,
            "Accepted",
            "accepted by the operator",
        );
        status.phase = Some(Phase::Pending);
        let s = task_status("t", &resource(Some(status)), None);
        assert_eq!(s.message.as_deref(), Some("accepted by the operator"));
    }

    #[test]
    fn running_is_processing_with_progress() {
        let mut status = with_condition(
            conditions::RUNNING,
            ConditionStatus::True,
            "Retrying",
            "attempt 2 after OOMKilled",
        );
        status.phase = Some(Phase::Running);
        status.progress = Some(Progress::new(3, 8));
        status.current_attempt = Some(2);
        let s = task_status("t", &resource(Some(status)), None);
        assert_eq!(s.status, TaskState::Processing);
        assert_eq!(
            (s.progress, s.pages_done, s.pages_total),
            (Some(37), Some(3), Some(8))
        );
        assert_eq!(s.attempts, Some(2));
        assert_eq!(s.message.as_deref(), Some("attempt 2 after OOMKilled"));
        assert_eq!(s.status.retry_after_seconds(), Some(2));
    }

    #[test]
    fn running_without_progress_yet_reports_zero() {
        let s = task_status("t", &resource(Some(with_phase(Phase::Running))), None);
        assert_eq!(
            (s.status, s.progress, s.pages_done, s.pages_total),
            (TaskState::Processing, Some(0), Some(0), Some(0))
        );
    }

    #[test]
    fn succeeded_is_completed_with_the_summary_and_optional_page_text() {
        let mut status = with_phase(Phase::Succeeded);
        status.result = Some(summary());
        status.completion_time = Some(now());
        let r = resource(Some(status));
        let s = task_status("t", &r, None);
        assert_eq!(s.status, TaskState::Completed);
        assert_eq!(s.progress, Some(100));
        assert_eq!(s.finished_at.as_deref(), Some("2023-11-14T22:13:20Z"));
        let result = s.result.unwrap();
        assert_eq!(
            (
                result.pages,
                result.ocr_pages,
                result.text_layer_pages,
                result.characters
            ),
            (3, 2, 1, 120)
        );
        assert_eq!(result.page_texts, None);
        assert_eq!(s.status.retry_after_seconds(), None);

        let doc = ResultDocument {
            pages: vec![PageResult {
                page: 1,
                method: PageMethod::Ocr,
                text: "안녕하세요".into(),
                confidence: Some(0.9),
                width_px: 1,
                height_px: 1,
                words: vec![],
                error: None,
            }],
            summary: Default::default(),
        };
        let with_text = task_status("t", &r, Some(&doc))
            .result
            .unwrap()
            .page_texts
            .unwrap();
        assert_eq!(
            with_text,
            vec![PageText {
                page: 1,
                method: PageMethod::Ocr,
                text: "안녕하세요".into(),
                confidence: Some(0.9)
            }]
        );
    }

    #[test]
    fn succeeded_without_a_summary_is_not_yet_completed() {
        let s = task_status("t", &resource(Some(with_phase(Phase::Succeeded))), None);
        assert_eq!(s.status, TaskState::Processing);
        assert!(s.result.is_none());
    }

    #[test]
    fn failed_carries_the_error_reason_and_first_line_of_the_message() {
        let mut status = with_phase(Phase::Failed);
        status.error = Some(ExtractionError {
            reason: FailureReason::OomKilled,
            message: "out of memory at 4Gi\nmore detail".into(),
        });
        let s = task_status("t", &resource(Some(status)), None);
        assert_eq!(s.status, TaskState::Failed);
        assert_eq!(s.error_code.as_deref(), Some("OOMKilled"));
        assert_eq!(s.error_message.as_deref(), Some("out of memory at 4Gi"));
        assert_eq!(failure_reason("OOMKilled"), Some(FailureReason::OomKilled));
        assert_eq!(failure_reason("Cancelled"), None);
    }

    #[test]
    fn failed_without_error_falls_back_to_the_condition_then_unknown() {
        let mut status = with_condition(
            conditions::FAILED,
            ConditionStatus::True,
            "InvalidPdf",
            "not a PDF",
        );
        status.phase = Some(Phase::Failed);
        let s = task_status("t", &resource(Some(status)), None);
        assert_eq!(
            (s.error_code.as_deref(), s.error_message.as_deref()),
            (Some("InvalidPdf"), Some("not a PDF"))
        );

        let bare = task_status("t", &resource(Some(with_phase(Phase::Failed))), None);
        assert_eq!(bare.error_code.as_deref(), Some(UNKNOWN_FAILURE));
    }

    #[test]
    fn without_a_phase_conditions_decide() {
        let failed = with_condition(
            conditions::FAILED,
            ConditionStatus::True,
            "SourceNotFound",
            "no such key",
        );
        assert_eq!(
            task_status("t", &resource(Some(failed)), None).status,
            TaskState::Failed
        );

        let mut succeeded = with_condition(
            conditions::SUCCEEDED,
            ConditionStatus::True,
            "Completed",
            "",
        );
        succeeded.result = Some(summary());
        assert_eq!(
            task_status("t", &resource(Some(succeeded)), None).status,
            TaskState::Completed
        );

        let running = with_condition(conditions::RUNNING, ConditionStatus::True, "JobRunning", "");
        assert_eq!(
            task_status("t", &resource(Some(running)), None).status,
            TaskState::Processing
        );

        let not_running = with_condition(
            conditions::RUNNING,
            ConditionStatus::False,
            "JobFinished",
            "",
        );
        assert_eq!(
            task_status("t", &resource(Some(not_running)), None).status,
            TaskState::Pending
        );

        let not_failed =
            with_condition(conditions::FAILED, ConditionStatus::False, "NotFailed", "");
        assert_eq!(
            task_status("t", &resource(Some(not_failed)), None).status,
            TaskState::Pending
        );
    }

    #[test]
    fn a_phase_wins_over_conflicting_conditions() {
        let mut status = with_condition(
            conditions::FAILED,
            ConditionStatus::True,
            "Transient",
            "attempt 1 failed",
        );
        status.phase = Some(Phase::Running);
        assert_eq!(
            task_status("t", &resource(Some(status)), None).status,
            TaskState::Processing
        );
    }

    #[test]
    fn deleting_an_unfinished_extraction_is_cancelled_but_finished_ones_keep_their_state() {
        for phase in [
            None,
            Some(Phase::Pending),
            Some(Phase::Queued),
            Some(Phase::Running),
        ] {
            let mut r = resource(Some(PdfExtractionStatus {
                phase,
                ..Default::default()
            }));
            r.metadata.deletion_timestamp = Some(now());
            let s = task_status("t", &r, None);
            assert_eq!(
                (s.status, s.error_code.as_deref()),
                (TaskState::Failed, Some(CANCELLED)),
                "{phase:?}"
            );
        }
        let mut done = with_phase(Phase::Succeeded);
        done.result = Some(summary());
        let mut r = resource(Some(done));
        r.metadata.deletion_timestamp = Some(now());
        assert_eq!(task_status("t", &r, None).status, TaskState::Completed);
    }

    #[test]
    fn the_body_uses_the_documented_field_names() {
        let mut status = with_phase(Phase::Running);
        status.progress = Some(Progress::new(1, 2));
        let json = serde_json::to_value(task_status("abc", &resource(Some(status)), None)).unwrap();
        assert_eq!(json["status"], "processing");
        assert_eq!(json["progress"], 50);
        assert_eq!(json["pages_done"], 1);
        assert_eq!(json["pages_total"], 2);
        assert_eq!(json["task_id"], "abc");
        assert!(json.get("result").is_none() && json.get("error_message").is_none());
    }
}
