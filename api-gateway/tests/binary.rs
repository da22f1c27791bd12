//! The `pdfx-gateway` binary: refuses to start without a way to authenticate,
//! and serves the API and the admin endpoints on one `--listen` address.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, Result};

const BIN: &str = env!("CARGO_BIN_EXE_pdfx-gateway");

#[tokio::test]
async fn without_keys_or_auth_disabled_it_refuses_to_start() -> Result<()> {
    let out = tokio::process::Command::new(BIN)
        .args(["--storage-url", "file:///tmp/pdfx-gateway-never"])
        .env_remove("PDFX_AUTH_DISABLED")
        .env_remove("PDFX_API_KEYS_FILE")
        .env_remove("PDFX_API_KEYS_SECRET")
        .output()
        .await?;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--api-keys-file"), "{stderr}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_auth_disabled_it_serves_on_one_address() -> Result<()> {
    let server = pdfx_devcluster::ApiServer::in_memory();
    pdfx_devcluster::install_pdfx_crd(&server)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let cluster = pdfx_devcluster::start(server, "127.0.0.1:0").await?;
    let dir = tempfile::tempdir()?;
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, pdfx_devcluster::kubeconfig(&cluster.url()))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let storage = pdfx_storage::StorageUri::from_path(&dir.path().join("storage"))?;
    let mut child = tokio::process::Command::new(BIN)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--storage-url", &storage.to_string()])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .env("PDFX_AUTH_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            break;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let submitted: serde_json::Value = http
        .post(format!("{base}/extract/pdf"))
        .header("content-type", "application/pdf")
        .body(b"%PDF-1.7\nhello".to_vec())
        .send()
        .await?
        .json()
        .await?;
    let task_id = submitted["task_id"].as_str().context("task_id")?;
    let status = http
        .get(format!("{base}/extract/status/{task_id}"))
        .send()
        .await?;
    assert_eq!(status.status(), 200);
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    assert!(metrics.contains("pdfx_gateway_requests_total"), "{metrics}");
    child.start_kill()?;
    let _ = child.wait().await;
    Ok(())
}
