//! The seed's promises, end to end: `pdfx up` in a temporary folder, used
//! only through its REST API, the `pdfx` client and `kubectl`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Up, WAIT, runner_processes};
use pdfx_crd::rest::TaskState;
use pdfx_ocr_runner::metrics::character_error_rate;
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage, SampleSpec, page_text, write_sample};

fn sample(
    dir: &Path,
    name: &str,
    pages: u32,
    kind: SampleKind,
    language: SampleLanguage,
) -> PathBuf {
    let path = dir.join(name);
    write_sample(&path, &SampleSpec::new(pages, kind, language)).unwrap();
    path
}

fn page_texts(result: &serde_json::Value) -> Vec<String> {
    result["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["text"].as_str().unwrap().to_owned())
        .collect()
}

/// Three documents at once, one of each kind; all complete with the text the
/// runner is known to reach, and `kubectl get pdfx` shows them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_documents_at_once_complete_with_their_text() {
    let work = tempfile::tempdir().unwrap();
    let docs = tempfile::tempdir().unwrap();
    let up = Up::start(work.path(), &[]).await;
    let korean = sample(
        docs.path(),
        "보고서.pdf",
        2,
        SampleKind::Scanned,
        SampleLanguage::Korean,
    );
    let mixed = sample(
        docs.path(),
        "mixed.pdf",
        3,
        SampleKind::Mixed,
        SampleLanguage::English,
    );
    let digital = sample(
        docs.path(),
        "digital.pdf",
        2,
        SampleKind::Text,
        SampleLanguage::English,
    );

    let (k, m, d) = tokio::join!(
        up.submit(&korean, &[("languages", "kor+eng")]),
        up.submit(&mixed, &[]),
        up.submit(&digital, &[])
    );
    let mut tasks = Vec::new();
    for (status, body) in [k, m, d] {
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["status"], "pending");
        tasks.push(body["task_id"].as_str().unwrap().to_owned());
    }
    let cases = [
        (SampleLanguage::Korean, 0.03),
        (SampleLanguage::English, 0.01),
        (SampleLanguage::English, 0.0),
    ];
    for (task, (language, max_cer)) in tasks.iter().zip(cases) {
        let done = up.wait_finished(task).await;
        assert_eq!(done.status, TaskState::Completed, "{done:?}");
        let texts = page_texts(&up.result_json(task).await);
        for (index, text) in texts.iter().enumerate() {
            let expected = page_text(language, index as u32 + 1);
            let cer = character_error_rate(&expected, text);
            assert!(
                cer <= max_cer,
                "{task} page {}: CER {cer:.4} > {max_cer}\nexpected {expected:?}\ngot {text:?}",
                index + 1
            );
        }
    }
    let table = up.kubectl(&["get", "pdfx"]);
    for task in &tasks {
        let row = table
            .lines()
            .find(|l| l.starts_with(task.as_str()))
            .unwrap_or_else(|| panic!("{task} not in\n{table}"));
        assert!(row.contains("Succeeded"), "{row}");
    }
    let header = table.lines().next().unwrap();
    for column in ["PHASE", "PROGRESS", "PAGES", "ATTEMPTS", "AGE"] {
        assert!(header.contains(column), "{header}");
    }
}

fn checkpoints(storage: &Path) -> BTreeMap<PathBuf, (u64, i64, i64)> {
    let mut found = BTreeMap::new();
    let mut stack = vec![storage.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.parent().is_some_and(|p| p.ends_with("pages"))
                && path.extension().is_some_and(|e| e == "json")
            {
                let meta = entry.metadata().unwrap();
                found.insert(path, (meta.ino(), meta.mtime(), meta.mtime_nsec()));
            }
        }
    }
    found
}

fn without_duration(mut result: serde_json::Value) -> serde_json::Value {
    result["summary"]["durationMs"] = serde_json::Value::Null;
    result
}

/// `kill -9` of the whole of pdfx up mid-document: no runner survives it, and
/// after a restart the document completes from its checkpoints: every page
/// finished before the kill is untouched, no Job is duplicated, and the
/// result is the one an uninterrupted run gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_pdfx_up_resumes_from_its_checkpoints() {
    let work = tempfile::tempdir().unwrap();
    let docs = tempfile::tempdir().unwrap();
    let pdf = sample(
        docs.path(),
        "long.pdf",
        6,
        SampleKind::Scanned,
        SampleLanguage::English,
    );

    let up = Up::start(work.path(), &["--slots", "1"]).await;
    let (code, body) = up.submit(&pdf, &[]).await;
    assert_eq!(code, 202, "{body}");
    let task = body["task_id"].as_str().unwrap().to_owned();
    let storage = up.storage();
    let before = tokio::time::timeout(WAIT, async {
        loop {
            let found = checkpoints(&storage);
            if found.len() >= 2 {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("no page finished");
    assert!(before.len() < 6, "the document finished before the kill");
    up.kill_9().await;
    let survivors = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let left = runner_processes(work.path());
            if left.is_empty() {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        survivors.is_ok(),
        "runner processes outlived pdfx up: {:?}",
        runner_processes(work.path())
    );
    let before: BTreeMap<_, _> = checkpoints(&storage)
        .into_iter()
        .filter(|(p, _)| before.contains_key(p))
        .collect();

    let up = Up::start(work.path(), &["--slots", "1"]).await;
    let done = up.wait_finished(&task).await;
    assert_eq!(done.status, TaskState::Completed, "{done:?}");
    assert_eq!(
        done.attempts,
        Some(1),
        "the restart is not a failed attempt"
    );
    let after = checkpoints(&storage);
    for (path, stamp) in &before {
        assert_eq!(
            after.get(path),
            Some(stamp),
            "{} was rewritten",
            path.display()
        );
    }
    let jobs = up.kubectl(&["get", "jobs", "-o", "name"]);
    assert_eq!(jobs.lines().count(), 1, "{jobs}");

    let alone = docs.path().join("alone");
    let status = std::process::Command::new(common::runner_binary())
        .arg("extract")
        .arg(&pdf)
        .arg("--out")
        .arg(&alone)
        .arg("--quiet")
        .status()
        .unwrap();
    assert!(status.success());
    let uninterrupted: serde_json::Value =
        serde_json::from_slice(&std::fs::read(alone.join("result.json")).unwrap()).unwrap();
    assert_eq!(
        without_duration(up.result_json(&task).await),
        without_duration(uninterrupted)
    );
}

/// A second pdfx up on the same folder is refused; SIGTERM stops the first
/// cleanly, runner processes included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pdfx_up_per_folder_and_sigterm_stops_everything() {
    let work = tempfile::tempdir().unwrap();
    let docs = tempfile::tempdir().unwrap();
    let up = Up::start(work.path(), &["--slots", "1"]).await;
    let second = std::process::Command::new(common::pdfx_binary())
        .args(["up", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(work.path())
        .output()
        .unwrap();
    assert!(!second.status.success());
    let message = String::from_utf8_lossy(&second.stderr);
    assert!(
        message.contains("another pdfx up is already running"),
        "{message}"
    );

    let pdf = sample(
        docs.path(),
        "long.pdf",
        4,
        SampleKind::Scanned,
        SampleLanguage::English,
    );
    let (code, _) = up.submit(&pdf, &[]).await;
    assert_eq!(code, 202);
    tokio::time::timeout(WAIT, async {
        while runner_processes(work.path()).is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("no runner started");
    let (status, log) = up.terminate().await;
    assert!(status.success(), "exit {status:?}\n{log}");
    // Killed as pdfx up stops; a hang guard for the kernel to reap them.
    let gone = tokio::time::timeout(Duration::from_secs(30), async {
        while !runner_processes(work.path()).is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "runners left after SIGTERM");
}

/// Fifty small documents at once under a cap of two Jobs: never more than two
/// run, all fifty complete, each with one Job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_fifty_never_runs_more_than_the_cap() {
    let work = tempfile::tempdir().unwrap();
    let docs = tempfile::tempdir().unwrap();
    let up = Up::start(work.path(), &["--max-concurrent-jobs", "2", "--slots", "4"]).await;
    let pdf = sample(
        docs.path(),
        "small.pdf",
        1,
        SampleKind::Text,
        SampleLanguage::English,
    );

    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&up.kubeconfig).unwrap(),
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let jobs: kube::Api<k8s_openapi::api::batch::v1::Job> = kube::Api::all(client);
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let watching = {
        let peak = peak.clone();
        tokio::spawn(async move {
            use futures::StreamExt;
            let mut active = BTreeMap::new();
            let stream = kube::runtime::watcher(jobs, kube::runtime::watcher::Config::default());
            futures::pin_mut!(stream);
            while let Some(Ok(event)) = stream.next().await {
                if let kube::runtime::watcher::Event::Apply(job)
                | kube::runtime::watcher::Event::InitApply(job) = event
                {
                    let running = job.status.as_ref().is_some_and(|s| {
                        s.active.unwrap_or(0) > 0
                            || (s.completion_time.is_none()
                                && !s.conditions.iter().flatten().any(|c| c.status == "True"))
                    });
                    active.insert(job.metadata.name.clone().unwrap_or_default(), running);
                    let now = active.values().filter(|r| **r).count();
                    peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                }
            }
        })
    };

    let submissions = futures::future::join_all((0..50).map(|_| up.submit(&pdf, &[]))).await;
    let mut tasks = Vec::new();
    for (code, body) in submissions {
        assert_eq!(code, 202, "{body}");
        tasks.push(body["task_id"].as_str().unwrap().to_owned());
    }
    for task in &tasks {
        let done = up.wait_finished(task).await;
        assert_eq!(done.status, TaskState::Completed, "{done:?}");
        assert_eq!(done.attempts, Some(1));
    }
    watching.abort();
    let peak = peak.load(std::sync::atomic::Ordering::SeqCst);
    assert!((1..=2).contains(&peak), "peak of {peak} Jobs running");
    let names = up.kubectl(&["get", "jobs", "-o", "name"]);
    assert_eq!(names.lines().count(), 50, "{names}");
    assert!(names.lines().all(|n| n.ends_with("-1")), "{names}");
}

/// A runner killed by its memory limit is retried with more memory and
/// completes; REST shows the attempts rising.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_memory_runner_is_retried_with_more_memory() {
    let work = tempfile::tempdir().unwrap();
    let docs = tempfile::tempdir().unwrap();
    let up = Up::start(
        work.path(),
        &[
            "--default-memory",
            "48Mi",
            "--max-memory",
            "2Gi",
            "--oom-memory-factor",
            "4",
        ],
    )
    .await;
    let pdf = sample(
        docs.path(),
        "scan.pdf",
        1,
        SampleKind::Scanned,
        SampleLanguage::English,
    );
    let (code, body) = up.submit(&pdf, &[]).await;
    assert_eq!(code, 202, "{body}");
    let task = body["task_id"].as_str().unwrap();
    let done = up.wait_finished(task).await;
    assert_eq!(done.status, TaskState::Completed, "{done:?}");
    assert!(done.attempts.unwrap_or(0) >= 2, "{done:?}");
    let status: serde_json::Value =
        serde_json::from_str(&up.kubectl(&["get", "pdfx", task, "-o", "json"])).unwrap();
    let attempts = status["status"]["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["reason"], "OOMKilled", "{attempts:?}");
    assert_eq!(attempts[0]["memoryLimit"], "48Mi");
    assert_eq!(attempts.last().unwrap()["outcome"], "Succeeded");
    let expected = page_text(SampleLanguage::English, 1);
    let text = &page_texts(&up.result_json(task).await)[0];
    assert!(character_error_rate(&expected, text) < 0.01, "{text}");
}
