//! The seed's isolation promise: an OCR server that is down, hangs or fails
//! never takes the API down with it, and the operator retries no faster than
//! its backoff.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use common::{Up, WAIT};
use pdfx_crd::rest::TaskState;
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage, SampleSpec, write_sample};

const BACKOFF_SECS: u64 = 2;

/// Binds a port now and hands back the listener to serve on later: until
/// then, connections to it are refused.
fn reserve_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn serve_ocr(port: u16, answer: u16, calls: Arc<AtomicU32>) -> tokio::task::JoinHandle<()> {
    let app = Router::new().route(
        "/ocr",
        post(move || {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                if answer == 200 {
                    (
                        axum::http::StatusCode::OK,
                        axum::Json(serde_json::json!({"text": "recognised by the OCR server", "confidence": 0.9})),
                    )
                } else {
                    (
                        axum::http::StatusCode::from_u16(answer).unwrap(),
                        axum::Json(serde_json::json!({"error": "overloaded"})),
                    )
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

async fn start(work: &std::path::Path, port: u16) -> Up {
    let endpoint = format!("http://127.0.0.1:{port}/ocr");
    let backoff = BACKOFF_SECS.to_string();
    Up::start(
        work,
        &[
            "--ocr-endpoint",
            &endpoint,
            "--retry-backoff-secs",
            &backoff,
            "--max-attempts",
            "4",
        ],
    )
    .await
}

fn attempts_of(up: &Up, task: &str) -> Vec<serde_json::Value> {
    let resource: serde_json::Value =
        serde_json::from_str(&up.kubectl(&["get", "pdfx", task, "-o", "json"])).unwrap();
    resource["status"]["attempts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn time_of(value: &serde_json::Value) -> k8s_openapi::jiff::Timestamp {
    value.as_str().unwrap().parse().unwrap()
}

/// Consecutive attempts are at least the backoff apart (doubling after the second).
fn assert_backoff_respected(attempts: &[serde_json::Value]) {
    for (index, pair) in attempts.windows(2).enumerate() {
        let ended = time_of(&pair[0]["endTime"]);
        let started = time_of(&pair[1]["startTime"]);
        let wait = started.duration_since(ended).as_secs_f64();
        let minimum = (BACKOFF_SECS << index) as f64;
        // Times are recorded to the second.
        assert!(
            wait >= minimum - 1.0,
            "attempt {} started {wait:.1} s after the previous ended (backoff {minimum} s)",
            index + 2
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ocr_outage_never_reaches_the_api_and_work_resumes_when_it_returns() {
    let work = tempfile::tempdir().unwrap();
    let docs = tempfile::tempdir().unwrap();
    let pdf = docs.path().join("scan.pdf");
    write_sample(
        &pdf,
        &SampleSpec::new(1, SampleKind::Scanned, SampleLanguage::English),
    )
    .unwrap();
    let port = reserve_port();
    let up = start(work.path(), port).await;

    // The OCR server refuses connections: submissions still answer at once.
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let asked = Instant::now();
        let (code, body) = up.submit(&pdf, &[("engine", "http")]).await;
        assert_eq!(code, 202, "{body}");
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "a submission waited on OCR"
        );
        tasks.push(body["task_id"].as_str().unwrap().to_owned());
    }
    // Status keeps answering while attempts fail.
    tokio::time::timeout(WAIT, async {
        loop {
            let asked = Instant::now();
            let status = up.status(&tasks[0]).await;
            assert!(
                asked.elapsed() < Duration::from_secs(5),
                "a status poll waited on OCR"
            );
            assert_ne!(status.status, TaskState::Failed, "{status:?}");
            if attempts_of(&up, &tasks[0]).len() >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await
    .expect("no retry happened while the OCR server was down");

    let calls = Arc::new(AtomicU32::new(0));
    let _server = serve_ocr(port, 200, calls.clone()).await;
    // The first task failed at least one attempt during the outage; the
    // second may still have been in its first (the runner retries OCR calls
    // within an attempt) when the server came back.
    for (index, task) in tasks.iter().enumerate() {
        let done = up.wait_finished(task).await;
        assert_eq!(done.status, TaskState::Completed, "{done:?}");
        let attempts = attempts_of(&up, task);
        if index == 0 {
            assert!(attempts.len() >= 2, "{attempts:?}");
        }
        assert_backoff_respected(&attempts);
    }
    assert!(calls.load(Ordering::SeqCst) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_ocr_server_holds_only_its_own_tasks() {
    let work = tempfile::tempdir().unwrap();
    let docs = tempfile::tempdir().unwrap();
    let pdf = docs.path().join("scan.pdf");
    write_sample(
        &pdf,
        &SampleSpec::new(1, SampleKind::Scanned, SampleLanguage::English),
    )
    .unwrap();
    // Accepts connections and never answers.
    let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = hanging.local_addr().unwrap().port();
    let _holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hanging.accept().await {
            held.push(socket);
        }
    });
    let up = start(work.path(), port).await;
    let (code, body) = up.submit(&pdf, &[("engine", "http")]).await;
    assert_eq!(code, 202, "{body}");
    let stuck = body["task_id"].as_str().unwrap().to_owned();
    tokio::time::timeout(WAIT, async {
        while up.status(&stuck).await.status != TaskState::Processing {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the task never started");

    // While OCR hangs, a document that needs none goes through.
    let digital = docs.path().join("digital.pdf");
    write_sample(
        &digital,
        &SampleSpec::new(1, SampleKind::Text, SampleLanguage::English),
    )
    .unwrap();
    let asked = Instant::now();
    let (code, body) = up.submit(&digital, &[]).await;
    assert_eq!(code, 202, "{body}");
    assert!(asked.elapsed() < Duration::from_secs(10));
    let done = up.wait_finished(body["task_id"].as_str().unwrap()).await;
    assert_eq!(done.status, TaskState::Completed, "{done:?}");
    assert_eq!(up.status(&stuck).await.status, TaskState::Processing);

    // Cancelling the stuck task ends it and removes what pdfx made for it.
    let response = up
        .http
        .delete(format!("{}/extract/{stuck}", up.url))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    tokio::time::timeout(WAIT, async {
        loop {
            let response = up
                .http
                .get(format!("{}/extract/status/{stuck}", up.url))
                .send()
                .await
                .unwrap();
            if response.status() == 404 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the cancelled task did not go away");
    assert!(common::runner_processes(work.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ocr_server_failing_forever_fails_the_tasks_and_the_api_keeps_serving() {
    let work = tempfile::tempdir().unwrap();
    let docs = tempfile::tempdir().unwrap();
    let pdf = docs.path().join("scan.pdf");
    write_sample(
        &pdf,
        &SampleSpec::new(1, SampleKind::Scanned, SampleLanguage::English),
    )
    .unwrap();
    let port = reserve_port();
    let calls = Arc::new(AtomicU32::new(0));
    let _server = serve_ocr(port, 500, calls.clone()).await;
    let up = start(work.path(), port).await;
    let (code, body) = up.submit(&pdf, &[("engine", "http")]).await;
    assert_eq!(code, 202, "{body}");
    let task = body["task_id"].as_str().unwrap();
    let done = up.wait_finished(task).await;
    assert_eq!(done.status, TaskState::Failed, "{done:?}");
    assert_eq!(
        done.error_code.as_deref(),
        Some("RetriesExhausted"),
        "{done:?}"
    );
    assert!(
        done.error_message.as_deref().unwrap_or("").contains("500"),
        "{done:?}"
    );
    let attempts = attempts_of(&up, task);
    assert_eq!(attempts.len(), 4, "{attempts:?}");
    assert_backoff_respected(&attempts);
    // The API still serves.
    let (code, _) = up.submit(&pdf, &[]).await;
    assert_eq!(code, 202);
    assert!(calls.load(Ordering::SeqCst) >= 4);
}
