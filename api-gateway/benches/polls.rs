//! The gateway's benchmark (`cargo bench -p pdfx-gateway --bench polls`):
//! the `pdfx-gateway` binary as its own process against the devcluster
//! emulator, auth on, measured from outside over HTTP/1.1.
//!
//! 1. Status polls from the cache, 64 connections: req/s, p50, p99, and the
//!    ratio against `/healthz` of the same process in the same run.
//! 2. One 1 GiB upload per storage backend: the gateway's peak RSS (VmHWM).
//! 3. 100 concurrent 10 MiB uploads: all 202, 100 resources and 100
//!    objects, p99 time to the 202.
//!
//! `PDFX_BENCH_SECONDS` sets the length of each poll phase (default 10).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use pdfx_crd::PdfExtraction;
use pdfx_storage::{S3Config, StorageUri, Store};

const KEY: &str = "benchmark-key-0123456789abcdef0123456789";
const TENANT: &str = "bench";
const CONNECTIONS: usize = 64;
const MIB: usize = 1024 * 1024;

struct Gateway {
    child: tokio::process::Child,
    addr: String,
    pid: u32,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn start_gateway(
    kubeconfig: &std::path::Path,
    keys: &std::path::Path,
    storage_url: &str,
    s3: Option<&pdfx_testkit::S3Server>,
) -> Result<Gateway> {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let addr = format!("127.0.0.1:{port}");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_pdfx-gateway"));
    command
        .args(["--listen", &addr, "--storage-url", storage_url])
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--api-keys-file")
        .arg(keys)
        .args([
            "--max-upload-bytes",
            "2Gi",
            "--max-queued-per-tenant",
            "100000",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true);
    if let Some(s3) = s3 {
        command.envs(s3.env());
    }
    let child = command.spawn().context("starting pdfx-gateway")?;
    let pid = child.id().context("the gateway's pid")?;
    let gateway = Gateway { child, addr, pid };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http
            .get(format!("http://{}/readyz", gateway.addr))
            .send()
            .await
            && r.status() == 200
        {
            return Ok(gateway);
        }
        anyhow::ensure!(Instant::now() < deadline, "the gateway never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn vm_hwm_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmHWM")
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

type Conn = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: &str) -> Result<Conn> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(send)
}

struct Run {
    requests: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// `CONNECTIONS` connections requesting `paths` round-robin for `length`.
async fn load(addr: &str, paths: Vec<String>, length: Duration) -> Result<Run> {
    let started = Instant::now();
    let deadline = started + length;
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let mut conn = connect(addr).await?;
        let paths = paths.clone();
        let host = addr.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::with_capacity(100_000);
            let mut i = c;
            while Instant::now() < deadline {
                let request = hyper::Request::get(paths[i % paths.len()].as_str())
                    .header("host", &host)
                    .header("authorization", format!("Bearer {KEY}"))
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                let t = Instant::now();
                conn.ready().await.unwrap();
                let response = conn.send_request(request).await.unwrap();
                assert_eq!(response.status(), 200);
                let _ = response.into_body().collect().await.unwrap();
                latencies.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                i += 1;
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await?);
    }
    let seconds = started.elapsed().as_secs_f64();
    all.sort_unstable();
    Ok(Run {
        requests: all.len(),
        seconds,
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
    })
}

/// A raw upload of `len` bytes, generated as it is sent; returns the status
/// and the time to the answer.
async fn upload(addr: &str, len: usize) -> Result<(u16, Duration)> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut send, conn) = hyper::client::conn::http1::handshake::<_, StreamBody<_>>(
        hyper_util::rt::TokioIo::new(stream),
    )
    .await?;
    tokio::spawn(conn);
    let chunk = Bytes::from(vec![b'x'; MIB]);
    let first = {
        let mut c = b"%PDF-1.7\n".to_vec();
        c.resize(MIB, b'x');
        Bytes::from(c)
    };
    let chunks = len.div_ceil(MIB);
    let body = futures::stream::iter((0..chunks).map(move |i| {
        let part = if i == 0 { first.clone() } else { chunk.clone() };
        let part = if i == chunks - 1 && !len.is_multiple_of(MIB) {
            part.slice(..len % MIB)
        } else {
            part
        };
        Ok::<_, std::io::Error>(Frame::data(part))
    }));
    let request = hyper::Request::post("/extract/pdf")
        .header("host", addr)
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/pdf")
        .header("content-length", len)
        .body(StreamBody::new(body))?;
    let started = Instant::now();
    send.ready().await?;
    let response = send.send_request(request).await?;
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await?;
    Ok((status, started.elapsed()))
}

async fn objects(store: &Store, base: &str) -> Result<usize> {
    let prefix = pdfx_storage::key::join(base, "extractions/");
    Ok(store
        .list(&prefix)
        .await?
        .iter()
        .filter(|o| o.key.ends_with(".pdf"))
        .count())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let seconds: u64 = std::env::var("PDFX_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let server = pdfx_devcluster::ApiServer::in_memory();
    pdfx_devcluster::install_pdfx_crd(&server)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let cluster = pdfx_devcluster::start(server.clone(), "127.0.0.1:0").await?;
    let client = Client::try_from(kube::Config::new(cluster.url().parse()?))?;
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": TENANT}
    }))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    let work = tempfile::tempdir()?;
    let kubeconfig = work.path().join("kubeconfig");
    std::fs::write(&kubeconfig, pdfx_devcluster::kubeconfig(&cluster.url()))?;
    let keys = work.path().join("api-keys");
    std::fs::write(
        &keys,
        format!(
            "{TENANT} sha256:{}\n",
            hex::encode(pdfx_gateway::auth::hash_key(KEY))
        ),
    )?;
    let folder = work.path().join("storage");
    std::fs::create_dir_all(&folder)?;
    let storage_uri = StorageUri::from_path(&folder)?;
    let (local, local_base) = Store::from_uri(&storage_uri, &S3Config::default()).await?;
    let extractions: Api<PdfExtraction> = Api::namespaced(client.clone(), TENANT);

    // 1. Status polls.
    let gateway = start_gateway(&kubeconfig, &keys, &storage_uri.to_string(), None).await?;
    let http = reqwest::Client::new();
    let mut ids = Vec::new();
    for _ in 0..100 {
        let r = http
            .post(format!("http://{}/extract/pdf", gateway.addr))
            .bearer_auth(KEY)
            .header("content-type", "application/pdf")
            .body(b"%PDF-1.7\nbenchmark".to_vec())
            .send()
            .await?;
        anyhow::ensure!(r.status() == 202, "submit: {}", r.status());
        let body: serde_json::Value = r.json().await?;
        ids.push(format!(
            "/extract/status/{}",
            body["task_id"].as_str().unwrap()
        ));
    }
    let length = Duration::from_secs(seconds);
    let before = server.0.requests.counts();
    load(&gateway.addr, ids.clone(), Duration::from_secs(2)).await?; // warm-up
    let polls = load(&gateway.addr, ids, length).await?;
    let trivial = load(&gateway.addr, vec!["/healthz".to_owned()], length).await?;
    let after = server.0.requests.counts();
    let polls_rps = polls.requests as f64 / polls.seconds;
    let trivial_rps = trivial.requests as f64 / trivial.seconds;
    println!(
        "status polls ({CONNECTIONS} connections, auth on, {seconds}s): {polls_rps:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        polls.p50_ms, polls.p99_ms
    );
    println!(
        "/healthz (same process, same run):            {trivial_rps:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
        trivial.p50_ms, trivial.p99_ms
    );
    println!("ratio polls / healthz: {:.2}", polls_rps / trivial_rps);
    println!(
        "API-server requests during {} polls: {}",
        polls.requests,
        (after.reads + after.writes) - (before.reads + before.writes)
    );

    // 3. 100 concurrent 10 MiB uploads (same gateway, local folder).
    let objects_before = objects(&local, &local_base).await?;
    let resources_before = extractions.list(&ListParams::default()).await?.items.len();
    let mut uploads = Vec::new();
    for _ in 0..100 {
        let addr = gateway.addr.clone();
        uploads.push(tokio::spawn(async move { upload(&addr, 10 * MIB).await }));
    }
    let mut times = Vec::new();
    let mut accepted = 0;
    for u in uploads {
        let (status, took) = u.await??;
        if status == 202 {
            accepted += 1;
        }
        times.push(took.as_micros() as u32);
    }
    times.sort_unstable();
    let objects_added = objects(&local, &local_base).await? - objects_before;
    let resources_added =
        extractions.list(&ListParams::default()).await?.items.len() - resources_before;
    println!(
        "100 concurrent 10 MiB uploads (local folder): {accepted} x 202, {resources_added} resources, {objects_added} objects, time to 202 p50 {:.0} ms, p99 {:.0} ms",
        percentile(&times, 0.5),
        percentile(&times, 0.99)
    );
    drop(gateway);

    // 2. 1 GiB upload, each backend, a fresh gateway process each.
    let gateway = start_gateway(&kubeconfig, &keys, &storage_uri.to_string(), None).await?;
    let idle = vm_hwm_kib(gateway.pid)?;
    let (status, took) = upload(&gateway.addr, 1024 * MIB).await?;
    let peak = vm_hwm_kib(gateway.pid)?;
    println!(
        "1 GiB upload (local folder): {status} in {:.1} s, gateway peak RSS {:.1} MiB (idle {:.1} MiB)",
        took.as_secs_f64(),
        peak as f64 / 1024.0,
        idle as f64 / 1024.0
    );
    drop(gateway);

    let s3 = pdfx_testkit::S3Server::start()?;
    s3.create_bucket("pdfx").await?;
    let gateway = start_gateway(&kubeconfig, &keys, "s3://pdfx/bench/", Some(&s3)).await?;
    let idle = vm_hwm_kib(gateway.pid)?;
    let (status, took) = upload(&gateway.addr, 1024 * MIB).await?;
    let peak = vm_hwm_kib(gateway.pid)?;
    println!(
        "1 GiB upload (S3, multipart): {status} in {:.1} s, gateway peak RSS {:.1} MiB (idle {:.1} MiB)",
        took.as_secs_f64(),
        peak as f64 / 1024.0,
        idle as f64 / 1024.0
    );
    drop(gateway);
    drop(cluster);
    Ok(())
}
