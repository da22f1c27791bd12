//! A `url` source is fetched only from public addresses: loopback, private,
//! link-local and metadata addresses are refused before connecting and after
//! every redirect (SSRF), unless the operator allows a range.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use common::{extract, sample};
use pdfx_crd::FailureReason;
use pdfx_crd::runner::{EXIT_SOURCE_UNAVAILABLE, TerminationMessage};
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage};

/// Serves `pdf` at `/doc.pdf` on `ip`, and `/away` redirecting to `target`.
fn serve(
    runtime: &tokio::runtime::Runtime,
    ip: &str,
    pdf: &Path,
    target: Option<String>,
) -> String {
    let bytes = std::fs::read(pdf).unwrap();
    let app = Router::new()
        .route(
            "/doc.pdf",
            get(move || {
                let bytes = bytes.clone();
                async move { ([(header::CONTENT_TYPE, "application/pdf")], bytes) }
            }),
        )
        .route(
            "/away",
            get(move || {
                let target = target.clone().unwrap_or_default();
                async move { (StatusCode::FOUND, [(header::LOCATION, target)]).into_response() }
            }),
        );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind((ip, 0)))
        .unwrap();
    let address = listener.local_addr().unwrap();
    runtime.spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

fn denied_because(run: &common::Run, words: &[&str]) {
    assert_eq!(
        run.code(),
        Some(EXIT_SOURCE_UNAVAILABLE),
        "{}",
        run.stderr()
    );
    match &run.termination {
        Some(TerminationMessage::Failed { reason, message }) => {
            assert_eq!(*reason, FailureReason::AccessDenied, "{message}");
            for word in words {
                assert!(message.contains(word), "{message:?} lacks {word:?}");
            }
        }
        other => panic!("termination message: {other:?}"),
    }
}

#[test]
fn internal_addresses_are_refused_unless_allowed_and_redirects_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = sample(
        dir.path(),
        "doc.pdf",
        1,
        SampleKind::Text,
        SampleLanguage::English,
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let inside = serve(&runtime, "127.0.0.1", &pdf, None);
    // Another loopback address (all of 127/8 is this host), redirecting inside.
    let relay = serve(
        &runtime,
        "127.0.0.2",
        &pdf,
        Some(format!("{inside}/doc.pdf")),
    );

    let refused = extract(
        Path::new(&format!("{inside}/doc.pdf")),
        &dir.path().join("refused"),
        &[],
    );
    denied_because(&refused, &["127.0.0.1", "loopback", "--url-allowed-ranges"]);
    assert!(!dir.path().join("refused/result.json").exists());

    let by_name = extract(
        Path::new(&format!(
            "{}/doc.pdf",
            inside.replace("127.0.0.1", "localhost")
        )),
        &dir.path().join("by-name"),
        &[],
    );
    denied_because(&by_name, &["localhost", "loopback"]);

    let allowed = extract(
        Path::new(&format!("{inside}/doc.pdf")),
        &dir.path().join("allowed"),
        &["--url-allowed-ranges", "127.0.0.1/32"],
    );
    assert_eq!(allowed.code(), Some(0), "{}", allowed.stderr());
    assert!(dir.path().join("allowed/result.json").exists());

    // The first hop is allowed, the redirect leads to an address that is not.
    let redirected = extract(
        Path::new(&format!("{relay}/away")),
        &dir.path().join("redirected"),
        &["--url-allowed-ranges", "127.0.0.2/32"],
    );
    denied_because(&redirected, &["127.0.0.1", "loopback"]);

    // A bad range is an invalid option, named.
    let bad = extract(
        Path::new(&format!("{inside}/doc.pdf")),
        &dir.path().join("bad"),
        &["--url-allowed-ranges", "127.0.0.1/99"],
    );
    assert_eq!(bad.code(), Some(2), "{}", bad.stderr());
    assert!(
        bad.stderr().contains("--url-allowed-ranges"),
        "{}",
        bad.stderr()
    );
}
