//! What `pdfx up` costs on top of the work itself, measured as a user sees it:
//!
//! - orchestration overhead: the same scanned documents through `pdfx up`
//!   over REST, and through the runner CLI alone with the same parallelism
//!   (`--slots` at a time), in the same run; the ratio of wall times;
//! - latency of the machinery for one-page documents, as a long-polling
//!   client sees it: `POST` to `processing` (the extraction Running), and the
//!   runner's last write (`result.json`, just before it exits) to `completed`
//!   (p50, p90);
//! - peak RSS of the `pdfx up` process itself (runner children excluded),
//!   idle and while the documents run.
//!
//! `cargo bench -p pdfx-cli --bench overhead -- [--docs 10] [--pages 2] [--latency-docs 20] [--slots 2]`
//! (the runner is taken from beside `pdfx` in the same profile: build it
//! first, e.g. `cargo build --release -p pdfx-ocr-runner`; `--profile dev`
//! measures the debug build). It prints numbers; it asserts nothing about
//! speed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::Up;
use pdfx_crd::rest::TaskState;
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage, SampleSpec, write_sample};

struct Options {
    docs: usize,
    pages: u32,
    latency_docs: usize,
    slots: usize,
}

fn options() -> Options {
    let mut options = Options {
        docs: 10,
        pages: 2,
        latency_docs: 20,
        slots: 2,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).and_then(|v| v.parse::<usize>().ok());
        match (args[i].as_str(), value) {
            ("--docs", Some(v)) => options.docs = v,
            ("--pages", Some(v)) => options.pages = v as u32,
            ("--latency-docs", Some(v)) => options.latency_docs = v,
            ("--slots", Some(v)) => options.slots = v,
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    options
}

fn samples(dir: &Path, count: usize, pages: u32, kind: SampleKind) -> Vec<PathBuf> {
    (0..count)
        .map(|i| {
            let path = dir.join(format!("doc-{i:03}.pdf"));
            write_sample(
                &path,
                &SampleSpec::new(pages, kind, SampleLanguage::English),
            )
            .unwrap();
            path
        })
        .collect()
}

/// The runner CLI on every file, `slots` processes at a time (a new one as
/// soon as one ends, as the executor fills its slots).
async fn runner_alone(files: &[PathBuf], out: &Path, slots: usize) -> Duration {
    use futures::StreamExt as _;
    let started = Instant::now();
    futures::stream::iter(files.iter().enumerate())
        .map(|(index, file)| {
            // One output folder per document: a shared one would resume
            // from the previous document's checkpoints.
            let out = out.join(index.to_string());
            let file = file.clone();
            async move {
                let status = tokio::process::Command::new(common::runner_binary())
                    .arg("extract")
                    .arg(&file)
                    .arg("--out")
                    .arg(&out)
                    .arg("--quiet")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .status()
                    .await
                    .unwrap();
                assert!(status.success(), "runner failed on {}", file.display());
            }
        })
        .buffer_unordered(slots)
        .collect::<Vec<()>>()
        .await;
    started.elapsed()
}

/// Peak and current RSS of a process, from /proc (kB → MiB).
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let options = options();
    let work = tempfile::tempdir().unwrap();
    let docs = tempfile::tempdir().unwrap();
    let files = samples(
        docs.path(),
        options.docs,
        options.pages,
        SampleKind::Scanned,
    );

    let alone = runner_alone(&files, &docs.path().join("alone"), options.slots).await;

    let slots = options.slots.to_string();
    let up = Up::start(work.path(), &["--slots", &slots]).await;
    let pid = up.child.id().unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, idle_rss) = rss_mib(pid);

    let started = Instant::now();
    let submitted = futures::future::join_all(files.iter().map(|f| up.submit(f, &[]))).await;
    let tasks: Vec<String> = submitted
        .into_iter()
        .map(|(code, body)| {
            assert_eq!(code, 202, "{body}");
            body["task_id"].as_str().unwrap().to_owned()
        })
        .collect();
    for task in &tasks {
        let done = up.wait_finished(task).await;
        assert_eq!(done.status, TaskState::Completed, "{done:?}");
    }
    let through_up = started.elapsed();
    let (peak_during, _) = rss_mib(pid);

    // One document at a time: the machinery's own latency.
    let singles = docs.path().join("singles");
    std::fs::create_dir_all(&singles).unwrap();
    let one_page = samples(&singles, 1, 1, SampleKind::Scanned).remove(0);
    let mut to_running = Vec::new();
    let mut to_completed = Vec::new();
    for _ in 0..options.latency_docs {
        let posted = Instant::now();
        let (code, body) = up.submit(&one_page, &[]).await;
        assert_eq!(code, 202, "{body}");
        let task = body["task_id"].as_str().unwrap().to_owned();
        // The first answer that is not `pending`, by long polls that answer
        // on every change.
        loop {
            let response = up
                .http
                .get(format!("{}/extract/status/{task}?wait=20", up.url))
                .send()
                .await
                .unwrap();
            let status: pdfx_crd::rest::TaskStatus = response.json().await.unwrap();
            if status.status != TaskState::Pending {
                to_running.push(posted.elapsed().as_secs_f64());
                break;
            }
        }
        let done = up.wait_finished(&task).await;
        let completed_seen = std::time::SystemTime::now();
        assert_eq!(done.status, TaskState::Completed, "{done:?}");
        // The runner writes result.json last, just before it exits.
        let result = up
            .storage()
            .join(format!("extractions/default/{task}/result.json"));
        if let Ok(written) = std::fs::metadata(&result).and_then(|m| m.modified())
            && let Ok(after) = completed_seen.duration_since(written)
        {
            to_completed.push(after.as_secs_f64());
        }
    }
    to_running.sort_by(f64::total_cmp);
    to_completed.sort_by(f64::total_cmp);
    let (peak_total, _) = rss_mib(pid);

    let ratio = alone.as_secs_f64() / through_up.as_secs_f64();
    println!(
        "documents: {} scanned, {} pages each; {} at a time",
        options.docs, options.pages, options.slots
    );
    println!("runner CLI alone:  {:.1} s", alone.as_secs_f64());
    println!(
        "through pdfx up:   {:.1} s (REST submit to last completed)",
        through_up.as_secs_f64()
    );
    println!("ratio alone/up:    {ratio:.3}  (goal >= 0.9)");
    println!(
        "one-page documents: {} measured of {}",
        to_running.len(),
        options.latency_docs
    );
    println!(
        "POST -> processing in REST: p50 {:.3} s, p90 {:.3} s",
        percentile(&to_running, 0.5),
        percentile(&to_running, 0.9)
    );
    println!(
        "result written -> completed in REST: p50 {:.3} s, p90 {:.3} s (long-polling client)",
        percentile(&to_completed, 0.5),
        percentile(&to_completed, 0.9)
    );
    println!(
        "pdfx up RSS: idle {idle_rss:.1} MiB, peak during the documents {peak_during:.1} MiB, peak overall {peak_total:.1} MiB"
    );
    let _ = up.terminate().await;
}
