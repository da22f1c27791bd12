//! `pdfx up --runtime docker`: the runner Job runs as the `pdfx/ocr-runner`
//! image on the machine's Docker engine, under the Job template's security
//! settings (non-root UID, read-only root, no capabilities, no privilege
//! escalation, a memory limit), and the extraction completes with the right
//! text. `docker/test-images.sh` (run by scripts/test.sh before the tests)
//! builds the image; without a Docker engine the test says so and passes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::Up;
use pdfx_crd::rest::TaskState;
use pdfx_ocr_runner::metrics::character_error_rate;
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage, SampleSpec, page_text, write_sample};

const RUNNER_IMAGE: &str = concat!("pdfx/ocr-runner:", env!("CARGO_PKG_VERSION"));
/// The UID the operator's Job template runs the runner as (operator/src/job.rs).
const RUNNER_UID: u32 = 65532;

fn image_present() -> bool {
    let present = std::process::Command::new("docker")
        .args(["image", "inspect", RUNNER_IMAGE])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        eprintln!(
            "NOT RUN: no Docker engine with {RUNNER_IMAGE} (docker/test-images.sh builds it)"
        );
    }
    present
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extraction_runs_in_the_runner_image_under_the_job_security_settings() {
    if !image_present() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let docs = tempfile::tempdir().unwrap();
    let up = Up::start(work.path(), &["--runtime", "docker", "--slots", "1"]).await;
    let pdf = docs.path().join("mixed.pdf");
    write_sample(
        &pdf,
        &SampleSpec::new(2, SampleKind::Mixed, SampleLanguage::English),
    )
    .unwrap();
    let (status, body) = up.submit(&pdf, &[]).await;
    assert_eq!(status, 202, "{body}");
    let task = body["task_id"].as_str().unwrap().to_owned();
    let done = up.wait_finished(&task).await;
    assert_eq!(done.status, TaskState::Completed, "{done:?}");
    let result = up.result_json(&task).await;
    for (index, page) in result["pages"].as_array().unwrap().iter().enumerate() {
        let text = page["text"].as_str().unwrap();
        let expected = page_text(SampleLanguage::English, index as u32 + 1);
        let cer = character_error_rate(&expected, text);
        assert!(cer <= 0.01, "page {}: CER {cer:.4}: {text:?}", index + 1);
    }
    // The pod ran in a container whose memory the engine enforced…
    let enforcement = up.kubectl(&[
        "get",
        "pods",
        "-o",
        "jsonpath={.items[*].metadata.annotations.devcluster\\.pdfx\\.dev/memory-enforcement}",
    ]);
    assert_eq!(enforcement.trim(), "container-runtime", "{enforcement}");
    // …as the Job's non-root user: what it wrote to storage is that user's.
    let mut written = Vec::new();
    files_under(&up.storage().join("extractions"), &mut written);
    let result_file = written
        .iter()
        .find(|p| p.file_name().is_some_and(|n| n == "result.json"))
        .unwrap_or_else(|| panic!("no result.json among {written:?}"));
    assert_eq!(std::fs::metadata(result_file).unwrap().uid(), RUNNER_UID);
}
