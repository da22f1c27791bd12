//! Throughput/latency benchmark (not a test): 1,000 ConfigMaps, 4 active watchers,
//! concurrent merge-patch writers through the kube client over HTTP against a
//! persistent (fsync'd) emulator. Prints writes/s and write→watch-delivery latency.
//!
//! Run: `cargo bench -p pdfx-devcluster --bench throughput`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::{Client, Config};
use serde_json::json;

const OBJECTS: usize = 1_000;
const WRITES: usize = 10_000;
const WRITERS: usize = 32;
const WATCHERS: usize = 4;

fn client(url: &str) -> Client {
    Client::try_from(Config::new(url.parse().unwrap())).unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let server = pdfx_devcluster::ApiServer::persistent(dir.path()).unwrap();
    let running = pdfx_devcluster::start(server, "127.0.0.1:0").await.unwrap();
    let url = running.url();
    let cms: Api<ConfigMap> = Api::namespaced(client(&url), "default");
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let cms = cms.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..OBJECTS).step_by(WRITERS) {
                let cm: ConfigMap = serde_json::from_value(
                    json!({"metadata": {"name": format!("cm-{i}")}, "data": {"t": "0"}}),
                )
                .unwrap();
                cms.create(&PostParams::default(), &cm).await.unwrap();
            }
        }));
    }
    for t in tasks.drain(..) {
        t.await.unwrap();
    }
    let rv = cms
        .list(&Default::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();

    let epoch = Instant::now();
    let latencies = Arc::new(Mutex::new(Vec::<Duration>::with_capacity(
        WRITES * WATCHERS,
    )));
    let mut watchers = Vec::new();
    for _ in 0..WATCHERS {
        let (cms, rv, lat) = (
            Api::<ConfigMap>::namespaced(client(&url), "default"),
            rv.clone(),
            latencies.clone(),
        );
        watchers.push(tokio::spawn(async move {
            let mut s = cms
                .watch(
                    &WatchParams::default().timeout(290).disable_bookmarks(),
                    &rv,
                )
                .await
                .unwrap()
                .boxed();
            let mut seen = 0;
            while seen < WRITES {
                match s.try_next().await.unwrap() {
                    Some(WatchEvent::Modified(o)) => {
                        let sent: u64 = o.data.unwrap()["t"].parse().unwrap();
                        let now = epoch.elapsed().as_nanos() as u64;
                        lat.lock()
                            .unwrap()
                            .push(Duration::from_nanos(now.saturating_sub(sent)));
                        seen += 1;
                    }
                    Some(_) => {}
                    None => break,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = Instant::now();
    for w in 0..WRITERS {
        let cms = cms.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..WRITES).step_by(WRITERS) {
                let t = epoch.elapsed().as_nanos().to_string();
                cms.patch(
                    &format!("cm-{}", i % OBJECTS),
                    &PatchParams::default(),
                    &Patch::Merge(json!({"data": {"t": t}})),
                )
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let write_time = start.elapsed();
    for w in watchers {
        let _ = tokio::time::timeout(Duration::from_secs(60), w).await;
    }
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or_default()
    };
    println!(
        "preload: {OBJECTS} creates in {:?}",
        epoch.duration_since(t0)
    );
    println!(
        "writes: {WRITES} merge patches by {WRITERS} concurrent writers over HTTP, fsync'd: {:.0} writes/s",
        WRITES as f64 / write_time.as_secs_f64()
    );
    println!(
        "watch latency (write issued → event delivered, {} deliveries to {WATCHERS} watchers): p50 {:.2} ms, p99 {:.2} ms",
        lat.len(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
    drop(running);
}
