//! Many extractions: the concurrency cap, operator restarts, and what the
//! operator costs the API server (writes per extraction, writes when idle).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Cluster, WAIT};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use pdfx_crd::{PdfExtraction, Phase};
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage};

fn is_finished(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        })
}

/// Tracks, from a watch on Jobs, the largest number of unfinished Jobs at once.
fn track_running_jobs(jobs: Api<Job>) -> (Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let peak = Arc::new(AtomicUsize::new(0));
    let seen = peak.clone();
    let task = tokio::spawn(async move {
        let mut active = BTreeSet::new();
        let mut stream = watcher(jobs, watcher::Config::default()).boxed();
        while let Some(event) = stream.next().await {
            let Ok(event) = event else { continue };
            match event {
                watcher::Event::Apply(job) | watcher::Event::InitApply(job) => {
                    if is_finished(&job) {
                        active.remove(&job.name_any());
                    } else {
                        active.insert(job.name_any());
                    }
                }
                watcher::Event::Delete(job) => {
                    active.remove(&job.name_any());
                }
                _ => {}
            }
            seen.fetch_max(active.len(), Ordering::SeqCst);
        }
    });
    (peak, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_extractions_never_exceed_two_running_jobs() {
    let mut cluster = Cluster::new(4).await;
    cluster.config.max_concurrent_jobs = 2;
    let (peak, watch) = track_running_jobs(cluster.jobs());
    cluster.start_operator();
    for i in 0..20 {
        let name = format!("doc-{i:02}");
        let key = cluster.upload_sample(&name, 1, SampleKind::Text, SampleLanguage::English);
        cluster.create(&name, &key, |_| {}).await;
    }
    for i in 0..20 {
        let done = cluster.wait_finished(&format!("doc-{i:02}")).await;
        assert_eq!(done.status.unwrap().phase, Some(Phase::Succeeded));
    }
    watch.abort();
    let peak = peak.load(Ordering::SeqCst);
    eprintln!("largest number of running Jobs: {peak}");
    assert!(peak <= 2, "{peak} Jobs ran at once");
    assert!(peak >= 1);
    assert_eq!(
        cluster.job_names().await.len(),
        20,
        "one Job per extraction"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_operator_creates_no_duplicate_jobs() {
    let mut cluster = Cluster::new(2).await;
    cluster.config.max_concurrent_jobs = 10;
    cluster.start_operator();
    let names: Vec<String> = (0..10).map(|i| format!("flight-{i}")).collect();
    for name in &names {
        let key = cluster.upload_sample(name, 2, SampleKind::Mixed, SampleLanguage::English);
        cluster.create(name, &key, |_| {}).await;
    }
    // Kill the operator once Jobs exist but before the extractions have finished.
    tokio::time::timeout(WAIT, async {
        while cluster.job_names().await.len() < 5 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    cluster.kill_operator().await;
    let finished_at_kill = {
        let mut n = 0;
        for name in &names {
            let r = cluster.api().get(name).await.unwrap();
            n += usize::from(
                r.status
                    .and_then(|s| s.phase)
                    .is_some_and(Phase::is_terminal),
            );
        }
        n
    };
    eprintln!(
        "at the kill: {} Jobs, {finished_at_kill} extractions finished",
        cluster.job_names().await.len()
    );
    assert!(
        finished_at_kill < names.len(),
        "everything finished before the kill; the test proves nothing"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.start_operator();
    for name in &names {
        let done = cluster.wait_finished(name).await;
        let status = done.status.unwrap();
        assert_eq!(
            status.phase,
            Some(Phase::Succeeded),
            "{name}: {:?}",
            status.error
        );
        assert_eq!(status.attempts.len(), 1, "{name}");
    }
    let expected: Vec<String> = names.iter().map(|n| format!("{n}-1")).collect();
    assert_eq!(cluster.job_names().await, expected);
}

/// Writes the operator makes for one extraction's whole life (the test's own
/// create excluded), reported and held to the target of 12.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_extraction_costs_a_bounded_number_of_writes() {
    let mut cluster = Cluster::new(2).await;
    cluster.start_operator();
    let key = cluster.upload_sample("counted", 1, SampleKind::Text, SampleLanguage::English);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = cluster.server.0.requests.counts().writes;
    let log_before = cluster.server.0.requests.recent_writes().len();
    cluster.create("counted", &key, |_| {}).await;
    cluster.wait_finished("counted").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let writes = cluster.server.0.requests.counts().writes - before - 1;
    let log = cluster.server.0.requests.recent_writes();
    let progress_patches = log[log_before..]
        .iter()
        .filter(|w| w.method == "PATCH" && w.path.ends_with("/counted/status"))
        .count();
    eprintln!("writes for one extraction: {writes} (of which status patches: {progress_patches})");
    for w in &log[log_before..] {
        eprintln!("  {} {} -> {}", w.method, w.path, w.status);
    }
    assert!(writes <= 12, "{writes} writes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_operator_with_a_thousand_finished_extractions_writes_nothing() {
    let mut cluster = Cluster::new(2).await;
    let api = cluster.api();
    for i in 0..1000 {
        let mut r = PdfExtraction::new(
            &format!("done-{i:04}"),
            pdfx_crd::PdfExtractionSpec {
                source: pdfx_crd::Source::Storage(pdfx_crd::StorageObject {
                    key: format!("uploads/{i}.pdf"),
                }),
                output: None,
                ocr: Default::default(),
                resources: None,
                ttl_seconds_after_finished: None,
            },
        );
        r.metadata.finalizers = Some(vec![pdfx_operator::controller::FINALIZER.into()]);
        let created = api.create(&PostParams::default(), &r).await.unwrap();
        let status = serde_json::json!({"status": {"phase": "Succeeded", "observedGeneration": created.metadata.generation,
            "result": {"location": "file:///x/result.json", "pages": 1, "ocrPages": 0, "textLayerPages": 1, "characters": 10}}});
        api.patch_status(
            &created.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&status),
        )
        .await
        .unwrap();
    }
    let before = cluster.server.0.requests.counts().writes;
    cluster.start_operator();
    tokio::time::timeout(WAIT, async {
        while cluster.metrics.reconciles.get() < 1000 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let writes = cluster.server.0.requests.counts().writes - before;
    eprintln!(
        "reconciles: {}, writes: {writes}",
        cluster.metrics.reconciles.get()
    );
    assert_eq!(
        writes,
        0,
        "{:?}",
        &cluster.server.0.requests.recent_writes()[..writes.min(10) as usize]
    );
}
