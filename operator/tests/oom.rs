//! Out-of-memory kills: retried with a larger memory limit until the cap, then
//! failed with reason OOMKilled. Needs a memory cgroup for the executor's pods
//! (cgroup v1 or v2); where the machine offers none the tests say so and stop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Cluster;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use pdfx_crd::{AttemptOutcome, FailureReason, Phase};
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage};
use pdfx_runtime::quantity;

/// How the executor enforced memory for the pods of this cluster.
async fn enforcement(cluster: &Cluster) -> Option<String> {
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    pods.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find_map(|p| {
            p.metadata
                .annotations?
                .get("devcluster.pdfx.dev/memory-enforcement")
                .cloned()
        })
}

fn uses_cgroups(enforcement: Option<&str>) -> bool {
    matches!(enforcement, Some("cgroup-v1" | "cgroup-v2"))
}

/// Runs a one-page scanned extraction with the given memory policy and returns
/// its final status, or `None` (saying why) where no memory cgroup exists.
async fn run_with_memory(
    name: &str,
    default: &str,
    factor: f64,
    max: &str,
) -> Option<(Cluster, pdfx_crd::PdfExtractionStatus)> {
    let mut cluster = Cluster::new(2).await;
    cluster.config.default_memory = default.parse().unwrap();
    cluster.config.oom_memory_factor = factor;
    cluster.config.max_memory = max.parse().unwrap();
    cluster.start_operator();
    let key = cluster.upload_sample(name, 1, SampleKind::Scanned, SampleLanguage::English);
    cluster.create(name, &key, |_| {}).await;
    let done = cluster.wait_finished(name).await;
    let mechanism = enforcement(&cluster).await;
    if !uses_cgroups(mechanism.as_deref()) {
        eprintln!(
            "SKIPPED: no memory cgroup on this machine (enforcement: {mechanism:?}); OOM kills cannot be produced"
        );
        return None;
    }
    Some((cluster, done.status.unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oom_killed_extraction_is_retried_with_more_memory_and_succeeds() {
    let Some((_cluster, status)) = run_with_memory("big", "64Mi", 4.0, "1Gi").await else {
        return;
    };
    assert_eq!(
        status.phase,
        Some(Phase::Succeeded),
        "{:?}",
        status.attempts
    );
    assert!(status.attempts.len() >= 2, "{:?}", status.attempts);
    let (last, failed) = status.attempts.split_last().unwrap();
    assert_eq!(last.outcome, AttemptOutcome::Succeeded);
    for attempt in failed {
        assert_eq!(
            (attempt.outcome, attempt.reason),
            (AttemptOutcome::Failed, Some(FailureReason::OomKilled)),
            "{attempt:?}"
        );
    }
    let limits: Vec<u64> = status
        .attempts
        .iter()
        .map(|a| quantity::bytes(a.memory_limit.as_ref().unwrap()).unwrap())
        .collect();
    assert_eq!(limits[0], 64 << 20);
    assert!(
        limits.windows(2).all(|w| w[1] == (w[0] * 4).min(1 << 30)),
        "{limits:?}"
    );
    eprintln!("memory limits per attempt: {limits:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_cap_too_low_it_fails_with_oomkilled_and_every_attempt_recorded() {
    let Some((cluster, status)) = run_with_memory("capped", "32Mi", 2.0, "64Mi").await else {
        return;
    };
    assert_eq!(status.phase, Some(Phase::Failed));
    assert_eq!(
        status.error.as_ref().map(|e| e.reason),
        Some(FailureReason::OomKilled)
    );
    let limits: Vec<String> = status
        .attempts
        .iter()
        .map(|a| a.memory_limit.clone().unwrap().0)
        .collect();
    assert_eq!(limits, ["32Mi", "64Mi"]);
    assert!(
        status
            .attempts
            .iter()
            .all(|a| a.reason == Some(FailureReason::OomKilled))
    );
    assert_eq!(cluster.job_names().await, ["capped-1", "capped-2"]);
}
