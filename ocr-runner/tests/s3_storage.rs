//! The runner reading its source from and writing its output to S3 (a real
//! S3-protocol server started by the test), as it does in a Job.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::{runner, sample};
use pdfx_crd::result::ResultDocument;
use pdfx_crd::runner::TerminationMessage;
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage, page_text};
use pdfx_testkit::S3Server;

#[test]
fn source_and_output_in_s3_with_korean_keys() {
    let server = S3Server::start().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = rt.block_on(async {
        server.create_bucket("docs").await.unwrap();
        server.store("docs").await.unwrap()
    });
    let dir = tempfile::tempdir().unwrap();
    let pdf = sample(
        dir.path(),
        "text.pdf",
        2,
        SampleKind::Text,
        SampleLanguage::Korean,
    );
    rt.block_on(store.put_bytes(
        "업로드/보고서 1.pdf",
        Bytes::from(std::fs::read(&pdf).unwrap()),
        None,
    ))
    .unwrap();

    let termination = dir.path().join("termination");
    let output = runner()
        .envs(server.env())
        .args([
            "job",
            "s3://docs/업로드/보고서 1.pdf",
            "--out",
            "s3://docs/extractions/ns/doc/",
            "--languages",
            "kor+eng",
        ])
        .arg("--termination-log")
        .arg(&termination)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let doc: ResultDocument = serde_json::from_slice(
        &rt.block_on(store.get_bytes("extractions/ns/doc/result.json", 1 << 20))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(doc.pages[1].text, page_text(SampleLanguage::Korean, 2));
    let keys: Vec<String> = rt
        .block_on(store.list("extractions/ns/doc/"))
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    for expected in [
        "checkpoint.json",
        "pages/000001.json",
        "pages/000002.json",
        "progress.json",
        "result.json",
        "result.txt",
    ] {
        assert!(
            keys.contains(&format!("extractions/ns/doc/{expected}")),
            "{expected} missing from {keys:?}"
        );
    }
    let message =
        TerminationMessage::parse(&std::fs::read_to_string(&termination).unwrap()).unwrap();
    assert!(
        matches!(message, TerminationMessage::Succeeded { ref location, .. } if location == "s3://docs/extractions/ns/doc/result.json"),
        "{message:?}"
    );

    let missing = runner()
        .envs(server.env())
        .args(["job", "s3://docs/nope.pdf", "--out", "s3://docs/out/"])
        .arg("--termination-log")
        .arg(&termination)
        .output()
        .unwrap();
    assert_eq!(
        missing.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    let message =
        TerminationMessage::parse(&std::fs::read_to_string(&termination).unwrap()).unwrap();
    assert!(matches!(
        message,
        TerminationMessage::Failed {
            reason: pdfx_crd::FailureReason::SourceNotFound,
            ..
        }
    ));
}
