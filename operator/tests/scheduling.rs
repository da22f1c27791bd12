//! Pods that do not start, against the emulator scheduling by capacity: the
//! start deadline ends an attempt whose pod fits no node or whose image
//! cannot be pulled, and frees its slot; extractions that only fit one at a
//! time run one after the other; memory escalation stops at the largest
//! node; time suspended by a queue does not count against the deadline.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Cluster, GatedOcr, WAIT};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use pdfx_crd::{AttemptOutcome, FailureReason, OcrEngine, PdfExtraction, Phase, RunnerResources};
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage};
use serde_json::json;

const MIB: u64 = 1 << 20;

/// Polls until `f` gives a value, up to the tests' hang guard.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(v) = f().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: not within {WAIT:?}"))
}

async fn pod_of(cluster: &Cluster, job: &str) -> Option<Pod> {
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), "default");
    pods.list(&ListParams::default().labels(&format!("job-name={job}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .next()
}

fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref()?.phase.as_deref()
}

/// The scheduler's message on a pod it could not place.
fn unschedulable(pod: &Pod) -> Option<String> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
        })
        .and_then(|c| c.message.clone())
}

fn memory(q: &str) -> Option<RunnerResources> {
    Some(RunnerResources {
        memory: Some(k8s_openapi::apimachinery::pkg::api::resource::Quantity(
            q.into(),
        )),
        cpu: None,
    })
}

fn status_phase(r: &PdfExtraction) -> Option<Phase> {
    r.status.as_ref().and_then(|s| s.phase)
}

fn status(r: &PdfExtraction) -> pdfx_crd::PdfExtractionStatus {
    r.status.clone().unwrap()
}

/// A request larger than the node: every attempt fails `Unschedulable` at the
/// start deadline, its Job deleted, and the extraction queued behind it (one
/// Job at a time) then runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_no_node_can_hold_fails_unschedulable_and_frees_the_slot() {
    let mut cluster = Cluster::with_executor(2, |e| e.node_memory = Some(2048 * MIB)).await;
    cluster.config.max_concurrent_jobs = 1;
    cluster.config.max_attempts = 2;
    cluster.config.max_memory = "16Gi".parse().unwrap();
    // Long enough that the first attempt still holds the slot when the second
    // extraction arrives (a hang guard, not a speed assumption).
    cluster.config.pod_start_timeout = Duration::from_secs(5);
    cluster.start_operator();
    let big = cluster.upload_sample("huge", 1, SampleKind::Text, SampleLanguage::English);
    cluster
        .create("huge", &big, |spec| spec.resources = memory("8Gi"))
        .await;
    let waiting = eventually("the big pod unschedulable", || async {
        pod_of(&cluster, "huge-1")
            .await
            .and_then(|p| unschedulable(&p))
    })
    .await;
    assert!(
        waiting.starts_with("0/1 nodes are available: 1 Insufficient memory."),
        "{waiting}"
    );
    // Created once the big one holds the slot (creation times have second
    // resolution, so two created together would tie in the queue's order):
    // while the big one waits for a node, the other is queued behind it.
    let key = cluster.upload_sample("after", 1, SampleKind::Text, SampleLanguage::English);
    cluster.create("after", &key, |_| {}).await;
    eventually("the later extraction queued", || async {
        let after = cluster.api().get("after").await.unwrap();
        (status_phase(&after) == Some(Phase::Queued)).then_some(())
    })
    .await;

    let huge = status(&cluster.wait_finished("huge").await);
    assert_eq!(huge.phase, Some(Phase::Failed), "{huge:?}");
    let error = huge.error.clone().unwrap();
    assert_eq!(error.reason, FailureReason::Unschedulable);
    assert!(
        error.message.contains("Insufficient memory"),
        "{}",
        error.message
    );
    assert_eq!(huge.attempts.len(), 2, "{:?}", huge.attempts);
    for attempt in &huge.attempts {
        assert_eq!(
            (attempt.outcome, attempt.reason),
            (AttemptOutcome::Failed, Some(FailureReason::Unschedulable)),
            "{attempt:?}"
        );
        let message = attempt.message.clone().unwrap_or_default();
        assert!(
            message.contains("did not start within 5s") && message.contains("Insufficient memory"),
            "{message}"
        );
    }

    let after = status(&cluster.wait_finished("after").await);
    assert_eq!(after.phase, Some(Phase::Succeeded), "{after:?}");
    assert_eq!(after.attempts.len(), 1);
    let first_end = huge.attempts[0].end_time.clone().unwrap().0;
    let after_start = after.attempts[0].start_time.clone().unwrap().0;
    assert!(
        after_start >= first_end,
        "the queued extraction started ({after_start}) before the slot was freed ({first_end})"
    );
    // The never-started Jobs are gone (or going), so none of them can start later.
    let jobs = cluster.jobs();
    eventually("the unschedulable Jobs deleted", || async {
        let left: Vec<Job> = jobs
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|j| {
                j.name_any().starts_with("huge-") && j.metadata.deletion_timestamp.is_none()
            })
            .collect();
        left.is_empty().then_some(())
    })
    .await;
}

/// Two extractions whose memory fits the node only one at a time: the second
/// pod waits `Unschedulable` while the first runs (its OCR held), the
/// extraction says why, and both complete, one after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extractions_that_fit_one_at_a_time_run_one_after_the_other() {
    let ocr = GatedOcr::start(0).await;
    let mut cluster = Cluster::with_executor(2, |e| e.node_memory = Some(1536 * MIB)).await;
    cluster.config.max_concurrent_jobs = 2;
    cluster.config.ocr_endpoint = Some(ocr.endpoint.clone());
    cluster.start_operator();
    let scanned = |spec: &mut pdfx_crd::PdfExtractionSpec| {
        spec.ocr.engine = OcrEngine::Http;
        spec.ocr.dpi = 72;
    };
    let a = cluster.upload_sample("a", 1, SampleKind::Scanned, SampleLanguage::English);
    cluster.create("a", &a, scanned).await;
    eventually("the first pod running", || async {
        pod_of(&cluster, "a-1")
            .await
            .filter(|p| phase(p) == Some("Running"))
    })
    .await;
    let b = cluster.upload_sample("b", 1, SampleKind::Scanned, SampleLanguage::English);
    cluster.create("b", &b, scanned).await;
    let waiting = eventually("the second pod unschedulable", || async {
        pod_of(&cluster, "b-1")
            .await
            .and_then(|p| unschedulable(&p))
    })
    .await;
    assert!(
        waiting.starts_with("0/1 nodes are available: 1 Insufficient memory."),
        "{waiting}"
    );
    // The extraction tells why it has not started.
    let said = eventually("b's condition naming the scheduler", || async {
        let r = cluster.api().get("b").await.unwrap();
        r.status?
            .conditions
            .into_iter()
            .find(|c| c.message.contains("Unschedulable: 0/1 nodes are available"))
    })
    .await;
    assert_eq!(said.reason, "JobPending", "{said:?}");
    assert_eq!(
        phase(&pod_of(&cluster, "a-1").await.unwrap()),
        Some("Running")
    );

    ocr.release();
    for name in ["a", "b"] {
        let done = status(&cluster.wait_finished(name).await);
        assert_eq!(done.phase, Some(Phase::Succeeded), "{name}: {done:?}");
        assert_eq!(done.attempts.len(), 1, "{name}: {:?}", done.attempts);
    }
    let times = |pod: Pod| {
        let t = pod.status.unwrap().container_statuses.unwrap()[0]
            .state
            .clone()
            .unwrap()
            .terminated
            .unwrap();
        (t.started_at.unwrap().0, t.finished_at.unwrap().0)
    };
    let (_, a_done) = times(pod_of(&cluster, "a-1").await.unwrap());
    let (b_started, _) = times(pod_of(&cluster, "b-1").await.unwrap());
    assert!(
        b_started >= a_done,
        "b started {b_started}, a finished {a_done}"
    );
}

/// A runner image the node cannot pull: the attempt ends at the start
/// deadline with `ImagePullFailed` and the kubelet's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpullable_runner_image_fails_image_pull_failed() {
    let mut cluster = Cluster::new(2).await;
    let image = "registry.example/pdfx/ocr-runner:missing";
    cluster.config.runner_image = image.into();
    cluster.config.max_attempts = 2;
    cluster.config.pod_start_timeout = Duration::from_secs(2);
    cluster.start_operator();
    let key = cluster.upload_sample("pull", 1, SampleKind::Text, SampleLanguage::English);
    cluster.create("pull", &key, |_| {}).await;
    let done = status(&cluster.wait_finished("pull").await);
    assert_eq!(done.phase, Some(Phase::Failed), "{done:?}");
    let error = done.error.unwrap();
    assert_eq!(
        error.reason,
        FailureReason::ImagePullFailed,
        "{}",
        error.message
    );
    assert!(
        error.message.contains("ImagePullBackOff") || error.message.contains("ErrImagePull"),
        "{}",
        error.message
    );
    assert!(error.message.contains(image), "{}", error.message);
    assert_eq!(done.attempts.len(), 2, "{:?}", done.attempts);
    assert!(
        done.attempts
            .iter()
            .all(|a| a.reason == Some(FailureReason::ImagePullFailed))
    );
}

/// Out-of-memory retries ask for more memory only up to the node's
/// allocatable: at that limit the next kill fails the extraction at once,
/// naming the limit, without a Job that could never start. The runner is a
/// script that dies of SIGKILL, which the executor (under `RLIMIT_AS`) reports
/// as `OOMKilled`, so no memory cgroup is needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_escalation_stops_at_the_nodes_allocatable() {
    let scripts = tempfile::tempdir().unwrap();
    let oom = scripts.path().join("oom.sh");
    std::fs::write(&oom, "#!/bin/sh\nkill -9 $$\n").unwrap();
    std::fs::set_permissions(&oom, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut cluster = Cluster::with_executor(2, |e| {
        e.node_memory = Some(512 * MIB);
        e.disable_cgroups = true;
        e.images.insert("pdfx-oom".into(), oom.clone());
    })
    .await;
    cluster.config.runner_image = "pdfx-oom:1".into();
    cluster.config.default_memory = "256Mi".parse().unwrap();
    cluster.config.oom_memory_factor = 2.0;
    cluster.config.max_memory = "4Gi".parse().unwrap();
    cluster.start_operator();
    let key = cluster.upload_sample("hungry", 1, SampleKind::Text, SampleLanguage::English);
    cluster.create("hungry", &key, |_| {}).await;
    let done = status(&cluster.wait_finished("hungry").await);
    assert_eq!(done.phase, Some(Phase::Failed), "{done:?}");
    let limits: Vec<String> = done
        .attempts
        .iter()
        .map(|a| a.memory_limit.clone().unwrap().0)
        .collect();
    assert_eq!(limits, ["256Mi", "512Mi"]);
    assert!(
        done.attempts
            .iter()
            .all(|a| a.reason == Some(FailureReason::OomKilled)),
        "{:?}",
        done.attempts
    );
    let error = done.error.unwrap();
    assert_eq!(error.reason, FailureReason::OomKilled);
    assert!(
        error.message.contains("largest allocatable: 512Mi"),
        "{}",
        error.message
    );
    assert_eq!(cluster.job_names().await, ["hungry-1", "hungry-2"]);
}

/// A Job held suspended (as Kueue holds it until its queue admits it) for
/// longer than the start deadline: the wait does not count, and once resumed
/// the same attempt runs to success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_jobs_wait_does_not_use_up_the_start_deadline() {
    let ocr = GatedOcr::start(0).await;
    let mut cluster = Cluster::new(2).await;
    let deadline = Duration::from_secs(4);
    cluster.config.pod_start_timeout = deadline;
    cluster.config.ocr_endpoint = Some(ocr.endpoint.clone());
    cluster.start_operator();
    let key = cluster.upload_sample("held", 1, SampleKind::Scanned, SampleLanguage::English);
    cluster
        .create("held", &key, |spec| {
            spec.ocr.engine = OcrEngine::Http;
            spec.ocr.dpi = 72;
        })
        .await;
    // The queue's part: suspend the Job as soon as it exists (a pod that
    // started first is stopped; its runner is held on OCR, so it cannot finish).
    let jobs = cluster.jobs();
    eventually("the Job created", || async {
        jobs.get_opt("held-1").await.unwrap()
    })
    .await;
    let suspend = |on: bool| {
        let jobs = jobs.clone();
        async move {
            jobs.patch(
                "held-1",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"suspend": on}})),
            )
            .await
            .unwrap();
        }
    };
    suspend(true).await;
    eventually("the extraction to see the suspension", || async {
        let r = cluster.api().get("held").await.unwrap();
        r.status?
            .conditions
            .into_iter()
            .find(|c| c.reason == "JobSuspended")
    })
    .await;

    // Suspended for well over the deadline: the attempt stays alive.
    let until = tokio::time::Instant::now() + deadline * 3;
    while tokio::time::Instant::now() < until {
        let s = status(&cluster.api().get("held").await.unwrap());
        assert!(
            !s.phase.is_some_and(Phase::is_terminal),
            "failed while suspended: {s:?}"
        );
        assert_eq!(s.attempts.len(), 1, "{:?}", s.attempts);
        assert_eq!(s.attempts[0].outcome, AttemptOutcome::Running);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        pod_of(&cluster, "held-1")
            .await
            .is_none_or(|p| phase(&p) != Some("Running")),
        "a suspended Job's pod runs"
    );

    suspend(false).await;
    ocr.release();
    let done = status(&cluster.wait_finished("held").await);
    assert_eq!(done.phase, Some(Phase::Succeeded), "{done:?}");
    assert_eq!(done.attempts.len(), 1, "{:?}", done.attempts);
    assert_eq!(cluster.job_names().await, ["held-1"]);
}
