//! Shared helpers: start an emulator on 127.0.0.1:0 and connect the unmodified kube client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Config};
use pdfx_crd::PdfExtraction;
use pdfx_devcluster::{ApiServer, Running};
use serde_json::{Value, json};

/// A generous timeout: tests wait for events, never for a machine-speed budget.
pub const WAIT: Duration = Duration::from_secs(60);

pub fn client_for(url: &str) -> Client {
    let cfg = Config::new(url.parse().unwrap());
    Client::try_from(cfg).unwrap()
}

/// Start a server (in memory unless `server` says otherwise) and install the pdfx CRD
/// through the kube client, waiting for it to be established.
pub async fn start_with(server: ApiServer) -> (Running, Client) {
    let running = pdfx_devcluster::start(server, "127.0.0.1:0").await.unwrap();
    let client = client_for(&running.url());
    install_crd(&client).await;
    (running, client)
}

pub async fn start() -> (Running, Client) {
    start_with(ApiServer::in_memory()).await
}

pub async fn install_crd(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = pdfx_crd::crd::crd();
    let name = crd.metadata.name.clone().unwrap();
    if crds.get_opt(&name).await.unwrap().is_none() {
        crds.create(&PostParams::default(), &crd).await.unwrap();
    }
    let established = await_condition(crds, &name, conditions::is_crd_established());
    tokio::time::timeout(WAIT, established)
        .await
        .unwrap()
        .unwrap();
}

pub fn pdfx(name: &str) -> PdfExtraction {
    serde_json::from_value(pdfx_json(name)).unwrap()
}

pub fn pdfx_json(name: &str) -> Value {
    json!({
        "apiVersion": "pdfx.dev/v1alpha1",
        "kind": "PdfExtraction",
        "metadata": {"name": name},
        "spec": {"source": {"storage": {"key": format!("uploads/{name}.pdf")}}}
    })
}

/// Raw HTTP helper (for headers, content types and bodies the typed client hides).
pub async fn raw(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, String, Value) {
    raw_bytes(
        url,
        method,
        path,
        headers,
        body.map(|b| b.to_string().into_bytes()),
    )
    .await
}

pub async fn raw_bytes(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> (u16, String, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    let mut has_ct = false;
    for (k, v) in headers {
        has_ct |= k.eq_ignore_ascii_case("content-type");
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_ct && !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(&body).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let code: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let ct = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("content-type:"))
        .map(|l| l.split_once(':').unwrap().1.trim().to_string())
        .unwrap_or_default();
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body_text = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    let v = serde_json::from_str(&body_text).unwrap_or(Value::String(body_text));
    (code, ct, v)
}

fn dechunk(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some((len, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&after[..n]);
        rest = &after[n + 2..];
    }
    out
}

/// Poll until `f` returns Some, up to WAIT.
pub async fn eventually<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first container's terminated state of a finished pod.
pub fn terminated(
    p: &k8s_openapi::api::core::v1::Pod,
) -> k8s_openapi::api::core::v1::ContainerStateTerminated {
    p.status.clone().unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap()
}
