//! The kernel's OOM killer on a cgroup v1 node kills the container's largest
//! process, the pdfium worker, not the runner. The runner then reports
//! `OomKilled` (so that the operator retries with more memory), not a
//! transient error that would retry with the same limit and die again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{runner, sample};
use pdfx_crd::FailureReason;
use pdfx_crd::runner::TerminationMessage;
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage};

/// The pdfium worker started by the runner `parent`, once it runs.
fn pdf_worker_of(parent: u32) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // The parent pid is the second field after the parenthesised name.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if ppid == Some(parent) && String::from_utf8_lossy(&cmdline).contains("pdf-worker") {
            return Some(pid);
        }
    }
    None
}

#[test]
fn a_pdfium_worker_killed_by_the_kernel_is_reported_as_out_of_memory() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = sample(
        dir.path(),
        "scan.pdf",
        8,
        SampleKind::Scanned,
        SampleLanguage::English,
    );
    let out = dir.path().join("out");
    let termination = dir.path().join("termination");
    let mut child = runner()
        .arg("extract")
        .arg(&pdf)
        .arg("--out")
        .arg(&out)
        .arg("--termination-log")
        .arg(&termination)
        .args(["--workers", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let worker = loop {
        if let Some(worker) = pdf_worker_of(child.id()) {
            break worker;
        }
        assert!(Instant::now() < deadline, "no pdfium worker appeared");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the runner ended first"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // As the OOM killer does: SIGKILL to the worker alone.
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &worker.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(pdfx_crd::runner::EXIT_TRANSIENT),
        "{stderr}"
    );
    let message = std::fs::read_to_string(&termination).unwrap();
    match TerminationMessage::parse(&message) {
        Some(TerminationMessage::Failed { reason, message }) => {
            assert_eq!(reason, FailureReason::OomKilled, "{message}");
            assert!(message.contains("out of memory"), "{message}");
        }
        other => panic!("termination message: {other:?} ({message})"),
    }
}
