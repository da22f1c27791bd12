//! A runner killed with SIGKILL mid-document resumes from its checkpoints: the
//! rerun does not redo finished pages and produces the same result as an
//! uninterrupted run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{extract, runner, sample};
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage};

/// (inode, modification time) of every page checkpoint: a rewritten page gets
/// a new inode (writes are temp file + rename).
fn page_files(out: &Path) -> BTreeMap<String, (u64, i64, i64)> {
    let Ok(entries) = std::fs::read_dir(out.join("pages")) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .map(|e| {
            let meta = e.metadata().unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                (meta.ino(), meta.mtime(), meta.mtime_nsec()),
            )
        })
        .collect()
}

fn without_duration(mut result: serde_json::Value) -> serde_json::Value {
    result["summary"]
        .as_object_mut()
        .unwrap()
        .remove("durationMs");
    result
}

#[test]
fn a_killed_run_resumes_without_redoing_pages_and_yields_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = sample(
        dir.path(),
        "scan.pdf",
        6,
        SampleKind::Scanned,
        SampleLanguage::English,
    );

    let interrupted = dir.path().join("interrupted");
    let mut child = runner()
        .args([
            "extract",
            pdf.to_str().unwrap(),
            "--out",
            interrupted.to_str().unwrap(),
            "--workers",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while page_files(&interrupted).len() < 2 {
        assert!(Instant::now() < deadline, "no checkpoints appeared");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the runner finished before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = page_files(&interrupted);
    assert!(before.len() >= 2 && before.len() < 6, "{before:?}");
    assert!(!interrupted.join("result.json").exists());

    let rerun = extract(&pdf, &interrupted, &["--workers", "1"]);
    assert_eq!(rerun.code(), Some(0), "{}", rerun.stderr());
    let after = page_files(&interrupted);
    assert_eq!(after.len(), 6);
    for (name, identity) in &before {
        assert_eq!(after.get(name), Some(identity), "{name} was redone");
    }

    let fresh = dir.path().join("fresh");
    let run = extract(&pdf, &fresh, &["--workers", "2"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let read = |out: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap()
    };
    assert_eq!(
        without_duration(read(&interrupted)),
        without_duration(read(&fresh))
    );
    assert_eq!(
        std::fs::read(interrupted.join("result.txt")).unwrap(),
        std::fs::read(fresh.join("result.txt")).unwrap()
    );
}

#[test]
fn changed_options_start_over_instead_of_mixing_results() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = sample(
        dir.path(),
        "mixed.pdf",
        2,
        SampleKind::Mixed,
        SampleLanguage::English,
    );
    let out = dir.path().join("out");
    assert_eq!(extract(&pdf, &out, &["--mode", "never"]).code(), Some(0));
    let first = page_files(&out);
    let run = extract(&pdf, &out, &["--mode", "auto"]);
    assert_eq!(run.code(), Some(0), "{}", run.stderr());
    let second = page_files(&out);
    assert!(
        first.iter().all(|(name, id)| second.get(name) != Some(id)),
        "checkpoints of other options were reused"
    );
    let doc = common::result(&out);
    assert_eq!(doc.summary.ocr_pages, 1);
}
