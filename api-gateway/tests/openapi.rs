//! `/openapi.json`: the checked-in copy is current, the server serves it, and
//! schemathesis finds no 5xx and no response outside the schema.

mod common;

use std::time::Duration;

use anyhow::{Context as _, Result};
use common::{Backend, Gateway, KEY_A};

const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

/// Fails when `api-gateway/openapi.json` differs from what the code generates;
/// `PDFX_UPDATE_OPENAPI=1 cargo test -p pdfx-gateway --test openapi` rewrites it.
#[test]
fn the_checked_in_document_is_current() -> Result<()> {
    let generated = format!("{}\n", pdfx_gateway::openapi::document());
    if std::env::var_os("PDFX_UPDATE_OPENAPI").is_some() {
        std::fs::write(CHECKED_IN, &generated)?;
    }
    let checked_in = std::fs::read_to_string(CHECKED_IN).context("reading openapi.json")?;
    assert!(
        checked_in == generated,
        "api-gateway/openapi.json is stale: PDFX_UPDATE_OPENAPI=1 cargo test -p pdfx-gateway --test openapi"
    );
    let doc: serde_json::Value = serde_json::from_str(&generated)?;
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/extract/pdf",
        "/extract/status/{task_id}",
        "/extract/result/{task_id}",
        "/extract",
        "/extract/{task_id}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_serves_the_document() -> Result<()> {
    let gw = Gateway::start(Backend::Local).await?;
    let served: serde_json::Value = gw
        .http
        .get(format!("{}/openapi.json", gw.url))
        .send()
        .await?
        .json()
        .await?;
    let generated: serde_json::Value = serde_json::from_str(&pdfx_gateway::openapi::document())?;
    assert_eq!(served, generated);
    gw.stop().await;
    Ok(())
}

/// schemathesis (installed by scripts/install-deps.sh) against a live gateway
/// with auth on and tasks in every state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() -> Result<()> {
    // scripts/install-deps.sh installs it in the suite's Python venv; a
    // machine without it fails here, saying how to get it.
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv/bin/python");
    let version = std::process::Command::new(&python)
        .args(["-m", "schemathesis.cli", "--version"])
        .output();
    match version {
        Ok(out) if out.status.success() => {}
        _ => anyhow::bail!(
            "schemathesis is not installed in {} (run scripts/install-deps.sh)",
            python.display()
        ),
    }
    let gw = Gateway::start_with(Backend::Local, |a| {
        a.max_wait = Duration::from_secs(1);
    })
    .await?;
    let pending = gw.submit(KEY_A).await?;
    let done = gw.submit(KEY_A).await?;
    gw.complete("team-a", &done, &["hello", "안녕"]).await?;
    let running = gw.submit(KEY_A).await?;
    gw.set_status("team-a", &running, serde_json::json!({"phase": "Running"}))
        .await?;
    gw.status_until(KEY_A, &done, |b| b["status"] == "completed")
        .await?;
    let _ = pending;

    let url = gw.url.clone();
    // schemathesis keeps a cache in its working directory: not in the repository.
    let scratch = tempfile::tempdir()?;
    let cwd = scratch.path().to_path_buf();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .current_dir(cwd)
            .args([
                "-m",
                "schemathesis.cli",
                "run",
                &format!("{url}/openapi.json"),
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                "40",
                "--workers",
                "1",
                "--request-timeout",
                "30",
                "--header",
                &format!("Authorization: Bearer {KEY_A}"),
                "--seed",
                "1",
            ])
            .env("SCHEMATHESIS_HOOKS", "")
            .output()
    })
    .await??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}\n{stderr}");
    assert!(
        output.status.success(),
        "schemathesis failed:\n{stdout}\n{stderr}"
    );
    gw.stop().await;
    Ok(())
}
