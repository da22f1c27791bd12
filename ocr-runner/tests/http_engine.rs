//! `--engine http` against a test OCR server: the documented contract, retries
//! of 500s and timeouts with backoff, and failure when the server stays down.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json};
use axum::routing::post;
use common::{Run, extract, result, sample};
use pdfx_crd::FailureReason;
use pdfx_crd::result::PageMethod;
use pdfx_crd::runner::TerminationMessage;
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage};

#[derive(Clone, Copy)]
enum Behaviour {
    /// 500 for the first `n` requests, then answers.
    FailFirst(usize),
    /// Sleeps past the client's timeout on the first request, then answers.
    SlowFirst,
    /// Always 503.
    Down,
    /// Always 400.
    Rejects,
}

#[derive(Clone)]
struct Server {
    behaviour: Behaviour,
    requests: Arc<AtomicUsize>,
    answered: Arc<AtomicUsize>,
}

async fn ocr(
    State(server): State<Server>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let n = server.requests.fetch_add(1, Ordering::SeqCst);
    match server.behaviour {
        Behaviour::FailFirst(k) if n < k => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
        }
        Behaviour::SlowFirst if n == 0 => tokio::time::sleep(Duration::from_secs(5)).await,
        Behaviour::Down => return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response(),
        Behaviour::Rejects => {
            return (StatusCode::BAD_REQUEST, "unsupported image").into_response();
        }
        _ => {}
    }
    assert_eq!(headers.get("content-type").unwrap(), "image/png");
    let decoder = png::Decoder::new(std::io::Cursor::new(body.to_vec()));
    let reader = decoder.read_info().unwrap();
    let info = reader.info();
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    server.answered.fetch_add(1, Ordering::SeqCst);
    Json(serde_json::json!({
        "text": format!("served {}x{} {}", info.width, info.height, query.get("languages").cloned().unwrap_or_default()),
        "words": [{"text": "served", "bbox": [1, 2, 30, 12], "confidence": 0.5}],
    }))
    .into_response()
}

fn start(behaviour: Behaviour) -> (String, Server, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = Server {
        behaviour,
        requests: Arc::default(),
        answered: Arc::default(),
    };
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/ocr", post(ocr))
        .with_state(server.clone());
    runtime.spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/ocr"), server, runtime)
}

/// Runs the runner with the HTTP engine against a server of `behaviour` on a
/// one-page scan at 100 DPI; `extra` are further flags.
fn run_http(
    behaviour: Behaviour,
    extra: &[&str],
) -> (Run, Server, std::path::PathBuf, tempfile::TempDir) {
    let (endpoint, server, runtime) = start(behaviour);
    let dir = tempfile::tempdir().unwrap();
    let pdf = sample(
        dir.path(),
        "scan.pdf",
        1,
        SampleKind::Scanned,
        SampleLanguage::English,
    );
    let out = dir.path().join("out");
    let mut args = vec![
        "--engine",
        "http",
        "--ocr-endpoint",
        &endpoint,
        "--dpi",
        "100",
    ];
    args.extend_from_slice(extra);
    let run = extract(&pdf, &out, &args);
    drop(runtime);
    (run, server, out, dir)
}

#[test]
fn pages_go_to_the_server_and_500s_are_retried() {
    let (run, server, out, _dir) = run_http(Behaviour::FailFirst(2), &["--languages", "kor+eng"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    assert_eq!(server.requests.load(Ordering::SeqCst), 3);
    let page = &result(&out).pages[0];
    assert_eq!(page.method, PageMethod::Ocr);
    assert_eq!(
        page.text,
        format!("served {}x{} kor+eng", page.width_px, page.height_px)
    );
    assert_eq!(page.words.len(), 1);
    assert_eq!(page.confidence, Some(0.5));
}

#[test]
fn a_request_past_its_timeout_is_retried() {
    let (run, server, _out, _dir) = run_http(Behaviour::SlowFirst, &["--ocr-timeout-secs", "1"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    assert_eq!(server.requests.load(Ordering::SeqCst), 2);
    assert_eq!(server.answered.load(Ordering::SeqCst), 1);
}

#[test]
fn a_server_that_stays_down_fails_the_run_as_transient() {
    let (run, server, _out, _dir) = run_http(Behaviour::Down, &["--ocr-max-attempts", "3"]);
    assert_eq!(run.code(), Some(1), "{}", run.stderr());
    assert_eq!(server.requests.load(Ordering::SeqCst), 3);
    assert!(
        matches!(run.termination, Some(TerminationMessage::Failed { reason: FailureReason::Transient, ref message }) if message.contains("3 attempts"))
    );
}

#[test]
fn a_rejected_request_is_not_retried() {
    let (run, server, _out, _dir) = run_http(Behaviour::Rejects, &[]);
    assert_eq!(run.code(), Some(1), "{}", run.stderr());
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
    assert!(
        run.stderr().contains("unsupported image"),
        "{}",
        run.stderr()
    );
}

#[test]
fn the_http_engine_needs_an_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = sample(
        dir.path(),
        "scan.pdf",
        1,
        SampleKind::Scanned,
        SampleLanguage::English,
    );
    let run = extract(&pdf, &dir.path().join("out"), &["--engine", "http"]);
    assert_eq!(run.code(), Some(2), "{}", run.stderr());
}
