//! The whole path with the real operator and the devcluster's local executor
//! running the workspace's runner binary: submit over REST, the operator runs
//! the Job, the status reaches `completed`, the result is the PDF's text; a
//! cancel removes the upload and everything else through the operator's
//! finalizer.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result};
use common::{Backend, Gateway, KEY_A, WAIT};
use pdfx_devcluster::executor::{Executor, ExecutorConfig};
use serde_json::Value;

const RUNNER_IMAGE: &str = "pdfx-ocr-runner:test";

/// The runner binary of this workspace (scripts/test.sh builds every binary
/// before the tests; by hand: `cargo build -p pdfx-ocr-runner`).
fn runner_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the target directory")?;
    let runner = dir.join("pdfx-ocr-runner");
    anyhow::ensure!(
        runner.is_file(),
        "{} is missing: build it with `cargo build -p pdfx-ocr-runner` (scripts/test.sh does)",
        runner.display()
    );
    Ok(runner)
}

/// A one-page PDF with a text layer (no OCR needed), offsets computed.
fn text_pdf(text: &str) -> Vec<u8> {
    let content = format!("BT /F1 24 Tf 72 720 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut pdf = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = pdf.len();
    pdf.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        pdf.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    pdf.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    pdf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_run_complete_and_cancel_with_the_real_operator() -> Result<()> {
    let runner = runner_binary()?;
    let mut gw = Gateway::start(Backend::Local).await?;
    let pods = tempfile::tempdir()?;
    let mut executor = ExecutorConfig {
        slots: 1,
        work_dir: pods.path().to_path_buf(),
        ..ExecutorConfig::default()
    };
    executor.images.insert("pdfx-ocr-runner".into(), runner);
    let cluster = gw.cluster.as_mut().context("the cluster")?;
    cluster.attach(tokio::spawn(
        Executor::new(gw.server.clone(), executor).run(),
    ));
    let mut config =
        pdfx_operator::config::OperatorConfig::new(RUNNER_IMAGE, gw.storage_uri.clone());
    config.progress_interval = Duration::from_secs(1);
    config.default_memory = "1Gi".parse()?;
    config.default_cpu = "1".parse()?;
    let operator_shutdown = pdfx_runtime::Shutdown::new();
    let operator = {
        let (client, shutdown) = (gw.client.clone(), operator_shutdown.clone());
        tokio::spawn(async move {
            let admin = pdfx_runtime::Admin::new();
            pdfx_operator::run(
                client,
                config,
                pdfx_storage::S3Config::default(),
                &admin,
                shutdown,
            )
            .await
        })
    };

    let response = gw
        .post_form(
            KEY_A,
            text_pdf("Hello pdfx gateway"),
            &[("ocr_mode", "never")],
        )
        .send()
        .await?;
    assert_eq!(response.status(), 202);
    let task_id = response.json::<Value>().await?["task_id"]
        .as_str()
        .context("task_id")?
        .to_owned();
    let deadline = tokio::time::Instant::now() + WAIT * 4;
    let done = loop {
        let body: Value = gw
            .get(&format!("/extract/status/{task_id}?wait=10"), KEY_A)
            .send()
            .await?
            .json()
            .await?;
        assert_ne!(body["status"], "failed", "{body}");
        if body["status"] == "completed" {
            break body;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "never completed: {body}"
        );
    };
    assert_eq!(done["result"]["pages"], 1);
    let text = done["result"]["page_texts"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(text.contains("Hello pdfx gateway"), "{done}");
    let plain = gw
        .get(&format!("/extract/result/{task_id}?format=text"), KEY_A)
        .send()
        .await?
        .text()
        .await?;
    assert!(plain.contains("Hello pdfx gateway"), "{plain}");

    // Cancel: the operator's finalizer deletes the upload and the results.
    let cancelled = gw
        .http
        .delete(format!("{}/extract/{task_id}", gw.url))
        .bearer_auth(KEY_A)
        .send()
        .await?;
    assert_eq!(cancelled.status(), 204);
    loop {
        if gw.resources().await?.is_empty() && gw.objects().await?.is_empty() {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "left behind: {:?} {:?}",
            gw.resources().await?,
            gw.objects().await?
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    operator_shutdown.trigger();
    let _ = tokio::time::timeout(WAIT, operator).await;
    gw.stop().await;
    Ok(())
}
