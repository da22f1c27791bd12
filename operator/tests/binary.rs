//! The `pdfx-operator` binary as it is deployed: configured by flags and
//! environment, connected through a kubeconfig, serving its health and metrics
//! endpoints, reconciling, and stopping cleanly on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Cluster, WAIT};
use pdfx_crd::Phase;
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage};

async fn get(url: &str) -> Option<(u16, String)> {
    let client = reqwest::Client::new();
    let response = client.get(url).send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reconciles_serves_health_and_metrics_and_stops_on_sigterm() {
    let cluster = Cluster::new(2).await;
    let kubeconfig = cluster.storage.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        pdfx_devcluster::kubeconfig(&cluster.running.url()),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let storage_url = format!("file://{}", cluster.storage.path().display());
    let mut operator = tokio::process::Command::new(env!("CARGO_BIN_EXE_pdfx-operator"))
        .env("KUBECONFIG", &kubeconfig)
        .env("PDFX_STORAGE_URL", &storage_url)
        .env("PDFX_RUNNER_IMAGE", common::RUNNER_IMAGE)
        .env("PDFX_OPERATOR_LISTEN", format!("127.0.0.1:{port}"))
        .env("PDFX_MAX_CONCURRENT_JOBS", "2")
        .env("RUST_LOG", "info")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    tokio::time::timeout(WAIT, async {
        while get(&format!("{base}/readyz")).await.map(|(s, _)| s) != Some(200) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the operator never became ready");
    assert_eq!(
        get(&format!("{base}/healthz")).await.map(|(s, _)| s),
        Some(200)
    );

    let key = cluster.upload_sample("via-binary", 1, SampleKind::Text, SampleLanguage::English);
    cluster.create("via-binary", &key, |_| {}).await;
    let done = cluster.wait_finished("via-binary").await;
    assert_eq!(done.status.unwrap().phase, Some(Phase::Succeeded));

    let (status, metrics) = get(&format!("{base}/metrics")).await.unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.contains("pdfx_operator_reconciles_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pdfx_operator_extractions_finished_total{outcome=\"Succeeded\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pdfx_operator_jobs_created_total 1"),
        "{metrics}"
    );

    let pid = operator.id().unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(30), operator.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}
