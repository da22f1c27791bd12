//! One extraction's life against the devcluster emulator, its executor and the
//! real runner: success with progress, invalid input, cancellation by deletion.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Cluster, GatedOcr, WAIT};
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams};
use kube::{Api, ResourceExt};
use pdfx_crd::result::ResultDocument;
use pdfx_crd::{AttemptOutcome, FailureReason, OcrEngine, Phase};
use pdfx_ocr_runner::metrics::character_error_rate;
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage, page_text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanned_pdf_runs_to_success_with_its_result_summary() {
    let mut cluster = Cluster::new(2).await;
    cluster.start_operator();
    let key = cluster.upload_sample("report", 2, SampleKind::Scanned, SampleLanguage::English);
    cluster.create("report", &key, |_| {}).await;

    let mut phases = Vec::new();
    let api = cluster.api();
    let done = tokio::time::timeout(WAIT, async {
        loop {
            let r = api.get("report").await.unwrap();
            let phase = r.status.as_ref().and_then(|s| s.phase);
            if phases.last() != Some(&phase) {
                phases.push(phase);
            }
            if phase.is_some_and(Phase::is_terminal) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(phases.last(), Some(&Some(Phase::Succeeded)), "{phases:?}");
    assert!(phases.contains(&Some(Phase::Running)), "{phases:?}");

    let status = done.status.unwrap();
    let result = status.result.unwrap();
    assert_eq!(
        (result.pages, result.ocr_pages, result.text_layer_pages),
        (2, 2, 0)
    );
    assert!(
        result.location.starts_with("file://")
            && result
                .location
                .ends_with("extractions/default/report/result.json")
    );
    assert!(result.mean_confidence.unwrap() > 0.8);
    assert_eq!(status.attempts.len(), 1);
    assert_eq!(status.attempts[0].outcome, AttemptOutcome::Succeeded);
    assert_eq!(status.progress.map(|p| p.percent), Some(100));
    assert!(status.start_time.is_some() && status.completion_time.is_some());

    let doc: ResultDocument = serde_json::from_slice(
        &std::fs::read(
            cluster
                .storage
                .path()
                .join("extractions/default/report/result.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for page in &doc.pages {
        assert!(
            character_error_rate(&page_text(SampleLanguage::English, page.page), &page.text) < 0.01
        );
    }
    assert_eq!(cluster.job_names().await, ["report-1"]);

    let events: Api<Event> = Api::namespaced(cluster.client.clone(), "default");
    let reasons: Vec<String> = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    for expected in ["Accepted", "Started", "Succeeded"] {
        assert!(
            reasons.iter().any(|r| r == expected),
            "no {expected} event in {reasons:?}"
        );
    }
}

/// Progress is observed mid-way: the fake OCR server holds pages after the
/// first two until the test has seen them counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_rises_while_the_job_runs() {
    let ocr = GatedOcr::start(2).await;
    let mut cluster = Cluster::new(2).await;
    cluster.config.ocr_endpoint = Some(ocr.endpoint.clone());
    cluster.start_operator();
    let key = cluster.upload_sample("long", 6, SampleKind::Scanned, SampleLanguage::English);
    cluster
        .create("long", &key, |spec| {
            spec.ocr.engine = OcrEngine::Http;
            spec.ocr.dpi = 72;
        })
        .await;
    let api = cluster.api();
    let midway = tokio::time::timeout(WAIT, async {
        loop {
            let r = api.get("long").await.unwrap();
            if let Some(p) = r.status.as_ref().and_then(|s| s.progress.clone())
                && p.pages_done >= 2
            {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(midway.pages_total, 6);
    assert!(midway.pages_done < 6 && midway.percent < 100, "{midway:?}");
    assert_eq!(
        api.get("long").await.unwrap().status.unwrap().phase,
        Some(Phase::Running)
    );
    ocr.release();
    let done = cluster.wait_finished("long").await;
    let status = done.status.unwrap();
    assert_eq!(status.phase, Some(Phase::Succeeded));
    assert_eq!(
        status.progress.map(|p| (p.pages_done, p.percent)),
        Some((6, 100))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_pdf_fails_after_exactly_one_attempt() {
    let mut cluster = Cluster::new(2).await;
    cluster.start_operator();
    let key = cluster.upload_bytes("bad", b"<html>not a pdf</html>");
    cluster.create("bad", &key, |_| {}).await;
    let done = cluster.wait_finished("bad").await;
    let status = done.status.unwrap();
    assert_eq!(status.phase, Some(Phase::Failed));
    let error = status.error.unwrap();
    assert_eq!(error.reason, FailureReason::InvalidPdf);
    assert!(error.message.contains("not a PDF"), "{}", error.message);
    assert_eq!(status.attempts.len(), 1);
    assert_eq!(status.attempts[0].reason, Some(FailureReason::InvalidPdf));
    // Give a wrong retry the time to show up before checking there is none.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(cluster.job_names().await, ["bad-1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_running_extraction_removes_its_job_and_objects() {
    let ocr = GatedOcr::start(1).await;
    let mut cluster = Cluster::new(2).await;
    cluster.config.ocr_endpoint = Some(ocr.endpoint.clone());
    cluster.start_operator();
    let key = cluster.upload_sample("cancel", 4, SampleKind::Scanned, SampleLanguage::English);
    cluster
        .create("cancel", &key, |spec| {
            spec.ocr.engine = OcrEngine::Http;
            spec.ocr.dpi = 72;
        })
        .await;
    let api = cluster.api();
    tokio::time::timeout(WAIT, async {
        while !cluster.stored_files().iter().any(|f| f.contains("pages/")) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(cluster.job_names().await, ["cancel-1"]);

    api.delete("cancel", &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::timeout(WAIT, async {
        while api.get_opt("cancel").await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();
    ocr.release();
    assert!(cluster.job_names().await.is_empty());
    // Nothing pdfx created is left, the gateway-style upload included.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(cluster.stored_files(), Vec::<String>::new());
    let pods: Api<k8s_openapi::api::core::v1::Pod> =
        Api::namespaced(cluster.client.clone(), "default");
    let live: Vec<String> = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .map(|p| p.name_any())
        .collect();
    assert!(live.is_empty(), "{live:?}");
}

/// A source in the user's own bucket is read through the storage Secret and is
/// never deleted; everything pdfx wrote is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_own_s3_source_is_read_and_never_deleted() {
    let s3 = pdfx_testkit::S3Server::start().unwrap();
    s3.create_bucket("user-docs").await.unwrap();
    let bucket = s3.store("user-docs").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("a.pdf");
    pdfx_ocr_runner::sample::write_sample(
        &pdf,
        &pdfx_ocr_runner::sample::SampleSpec::new(1, SampleKind::Text, SampleLanguage::Korean),
    )
    .unwrap();
    bucket
        .put_bytes("보고서/a.pdf", std::fs::read(&pdf).unwrap().into(), None)
        .await
        .unwrap();

    let mut cluster = Cluster::new(2).await;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(cluster.client.clone(), "default");
    let data: std::collections::BTreeMap<String, String> = s3
        .env()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(
        serde_json::json!({"metadata": {"name": "pdfx-storage"}, "stringData": data}),
    )
    .unwrap();
    secrets.create(&Default::default(), &secret).await.unwrap();
    cluster.config.storage_secret = Some("pdfx-storage".into());
    cluster.s3 = s3.config();
    cluster.start_operator();
    cluster
        .create("mine", "unused", |spec| {
            spec.source = pdfx_crd::Source::S3(pdfx_crd::S3Object {
                bucket: "user-docs".into(),
                key: "보고서/a.pdf".into(),
            });
            spec.ocr.languages = vec!["kor".into(), "eng".into()];
        })
        .await;
    let done = cluster.wait_finished("mine").await;
    let status = done.status.unwrap();
    assert_eq!(status.phase, Some(Phase::Succeeded), "{:?}", status.error);
    assert!(!cluster.stored_files().is_empty());

    cluster
        .api()
        .delete("mine", &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::timeout(WAIT, async {
        while cluster.api().get_opt("mine").await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(
        cluster.stored_files(),
        Vec::<String>::new(),
        "pdfx's objects are gone"
    );
    let left: Vec<String> = bucket
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(left, ["보고서/a.pdf"], "the user's object stays");
}
