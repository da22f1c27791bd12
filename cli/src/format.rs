//! How task states read for people on a terminal.

use pdfx_crd::rest::{TaskState, TaskStatus};

/// `pending`, `processing`, `completed`, `failed`.
pub fn state_word(state: TaskState) -> &'static str {
    match state {
        TaskState::Pending => "pending",
        TaskState::Processing => "processing",
        TaskState::Completed => "completed",
        TaskState::Failed => "failed",
    }
}

/// Seconds from creation to the end, when both times are known.
pub fn duration_seconds(status: &TaskStatus) -> Option<f64> {
    let parse = |t: &Option<String>| {
        t.as_deref()
            .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
    };
    let (start, end) = (parse(&status.created_at)?, parse(&status.finished_at)?);
    Some(end.duration_since(start).as_secs_f64().max(0.0))
}

/// One line saying where a task is or how it ended.
pub fn summary_line(status: &TaskStatus) -> String {
    match status.status {
        TaskState::Completed => {
            let mut line = String::from("completed");
            if let Some(result) = &status.result {
                line.push_str(&format!(
                    ": {} page(s) ({} OCR'd, {} from text layers), {} characters",
                    result.pages, result.ocr_pages, result.text_layer_pages, result.characters
                ));
                if let Some(confidence) = result.mean_confidence {
                    line.push_str(&format!(", mean confidence {confidence:.2}"));
                }
            }
            if let Some(seconds) = duration_seconds(status) {
                line.push_str(&format!(", {seconds:.1} s"));
            }
            line
        }
        TaskState::Failed => format!(
            "failed: {}{}",
            status
                .error_code
                .as_deref()
                .map(|c| format!("{c}: "))
                .unwrap_or_default(),
            status.error_message.as_deref().unwrap_or("no reason given")
        ),
        TaskState::Processing => format!(
            "processing: {}% ({}/{} pages){}",
            status.progress.unwrap_or(0),
            status.pages_done.unwrap_or(0),
            status.pages_total.unwrap_or(0),
            status
                .message
                .as_deref()
                .map(|m| format!(" — {m}"))
                .unwrap_or_default()
        ),
        TaskState::Pending => format!(
            "pending{}",
            status
                .message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn status(json: serde_json::Value) -> TaskStatus {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn lines_say_how_a_task_ended() {
        let done = status(serde_json::json!({
            "task_id": "t", "status": "completed",
            "created_at": "2026-12-01T10:00:00Z", "finished_at": "2026-12-01T10:00:41.5Z",
            "result": {"pages": 12, "ocr_pages": 10, "text_layer_pages": 2, "characters": 24512, "mean_confidence": 0.912}
        }));
        assert_eq!(
            summary_line(&done),
            "completed: 12 page(s) (10 OCR'd, 2 from text layers), 24512 characters, mean confidence 0.91, 41.5 s"
        );
        let failed = status(serde_json::json!({
            "task_id": "t", "status": "failed", "error_code": "InvalidPdf", "error_message": "not a PDF"
        }));
        assert_eq!(summary_line(&failed), "failed: InvalidPdf: not a PDF");
        let running = status(serde_json::json!({
            "task_id": "t", "status": "processing", "progress": 40, "pages_done": 4, "pages_total": 10
        }));
        assert_eq!(summary_line(&running), "processing: 40% (4/10 pages)");
    }
}
