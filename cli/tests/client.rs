//! The `pdfx` client commands against a real `pdfx up`, as a user types them:
//! submit (with and without --wait), status, result, ls, cancel, and the
//! server's own error messages on bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Up, WAIT};
use pdfx_crd::rest::{TaskState, TaskStatus};
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage, SampleSpec, write_sample};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_commands_work_against_pdfx_up() {
    let work = tempfile::tempdir().unwrap();
    let docs = tempfile::tempdir().unwrap();
    let up = Up::start(work.path(), &["--slots", "1"]).await;
    let pdf = docs.path().join("report.pdf");
    write_sample(
        &pdf,
        &SampleSpec::new(2, SampleKind::Mixed, SampleLanguage::English),
    )
    .unwrap();

    // submit --wait: a summary line per file, exit 0.
    let waited = up.pdfx(&["submit", pdf.to_str().unwrap(), "--wait"]);
    assert!(waited.status.success(), "{}", stderr(&waited));
    let line = stdout(&waited);
    assert!(line.contains("report.pdf"), "{line}");
    assert!(
        line.contains("completed: 2 page(s) (1 OCR'd, 1 from text layers)"),
        "{line}"
    );

    // submit --output json: the task id for scripts; status follows it.
    let submitted = up.pdfx(&["submit", pdf.to_str().unwrap(), "--output", "json"]);
    assert!(submitted.status.success(), "{}", stderr(&submitted));
    let answer: serde_json::Value = serde_json::from_str(stdout(&submitted).trim()).unwrap();
    assert_eq!(answer["status"], "pending");
    let task = answer["task_id"].as_str().unwrap().to_owned();
    let done = tokio::time::timeout(WAIT, async {
        loop {
            let polled = up.pdfx(&["status", &task, "--wait", "20", "--output", "json"]);
            assert!(polled.status.success(), "{}", stderr(&polled));
            let status: TaskStatus = serde_json::from_str(stdout(&polled).trim()).unwrap();
            if status.status.is_finished() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the task did not finish");
    assert_eq!(done.status, TaskState::Completed, "{done:?}");
    assert_eq!(done.file_name.as_deref(), Some("report.pdf"));

    // result -o: the same text the REST API serves.
    let out = docs.path().join("report.txt");
    let written = up.pdfx(&["result", &task, "-o", out.to_str().unwrap()]);
    assert!(written.status.success(), "{}", stderr(&written));
    let served = up
        .http
        .get(format!("{}/extract/result/{task}?format=text", up.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), served);
    assert!(served.contains("sample report"), "{served}");

    // ls: both tasks, newest first.
    let listed = up.pdfx(&["ls", "--output", "json"]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let ids: Vec<String> = stdout(&listed)
        .lines()
        .map(|l| serde_json::from_str::<TaskStatus>(l).unwrap().task_id)
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids[0], task, "newest first: {ids:?}");

    // cancel, then the task is gone and status says so in the server's words.
    let cancelled = up.pdfx(&["cancel", &task]);
    assert!(cancelled.status.success(), "{}", stderr(&cancelled));
    assert!(stdout(&cancelled).contains("cancelled"));
    let gone = tokio::time::timeout(WAIT, async {
        loop {
            let polled = up.pdfx(&["status", &task]);
            if !polled.status.success() {
                return stderr(&polled);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the cancelled task stayed");
    let last = gone.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: "), "{gone}");
    assert!(
        !gone.contains("Api {"),
        "a message, not a debug dump: {gone}"
    );

    // Not a PDF: the server's reason, a non-zero exit, nothing submitted.
    let text = docs.path().join("notes.txt");
    std::fs::write(&text, "just text").unwrap();
    let refused = up.pdfx(&["submit", text.to_str().unwrap()]);
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(message.contains("notes.txt"), "{message}");
    assert!(message.to_lowercase().contains("pdf"), "{message}");
    let listed = up.pdfx(&["ls", "--output", "json"]);
    assert_eq!(stdout(&listed).lines().count(), 1);
}
