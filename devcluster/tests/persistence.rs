//! Persistence: a restart restores every object and the RV counter, reconnecting
//! watchers get 410 and relist, and SIGKILL mid-write loses no acknowledged write.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use common::*;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use pdfx_devcluster::ApiServer;
use serde_json::json;
use tokio::io::AsyncBufReadExt;

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": name}})).unwrap()
}

#[tokio::test]
async fn restart_restores_state_and_watchers_relist_after_410() {
    let dir = tempfile::tempdir().unwrap();
    let a = pdfx_devcluster::start(ApiServer::persistent(dir.path()).unwrap(), "127.0.0.1:0")
        .await
        .unwrap();
    let addr = a.addr;
    let client = client_for(&a.url());
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let first = cms.create(&PostParams::default(), &cm("a")).await.unwrap();
    let rv_before: u64 = first.resource_version().unwrap().parse().unwrap();

    // A kube watcher that must survive the restart.
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let seen2 = seen.clone();
    let w = tokio::spawn(async move {
        let mut s = watcher(cms_for(client), watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .boxed();
        while let Some(ev) = s.next().await {
            if let Ok(o) = ev {
                seen2.lock().unwrap().insert(o.name_any());
            }
        }
    });
    eventually(|| {
        let seen = seen.clone();
        async move { seen.lock().unwrap().contains("a").then_some(()) }
    })
    .await;
    a.shutdown();

    // Writes happen while the watcher is disconnected (another process owning the data dir).
    {
        let offline = ApiServer::persistent(dir.path()).unwrap();
        let ri = offline.resource("", "v1", "configmaps").unwrap();
        offline
            .create(
                &ri,
                Some("default"),
                serde_json::to_value(cm("offline")).unwrap(),
                &Default::default(),
            )
            .await
            .unwrap();
    }
    // The same address again: `shutdown` aborts the accept task, and the
    // listener is closed only once the runtime has run that abort, so the
    // port can still be taken for a moment (CI saw `AddrInUse` here).
    let mut attempts = 0;
    let b = loop {
        match pdfx_devcluster::start(
            ApiServer::persistent(dir.path()).unwrap(),
            &addr.to_string(),
        )
        .await
        {
            Ok(b) => break b,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && attempts < 100 => {
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("restart on {addr}: {e}"),
        }
    };
    let client_b = client_for(&b.url());
    let cms_b: Api<ConfigMap> = Api::namespaced(client_b.clone(), "default");
    let restored = cms_b.get("a").await.unwrap();
    assert_eq!(restored.uid(), first.uid());
    assert_eq!(restored.data.unwrap()["k"], "a");
    let created = cms_b
        .create(&PostParams::default(), &cm("b"))
        .await
        .unwrap();
    let rv_after: u64 = created.resource_version().unwrap().parse().unwrap();
    assert!(
        rv_after > rv_before + 1,
        "RV counter restored ({rv_before} → {rv_after})"
    );
    // An old RV is answered with the 410 ERROR event after a restart.
    let (code, _, v) = raw(&b.url(), "GET", &format!("/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=5&resourceVersion={rv_before}"), &[], None).await;
    assert_eq!(code, 200);
    assert_eq!(v["type"], "ERROR");
    assert_eq!(v["object"]["code"], 410);
    // The watcher relisted and sees everything.
    eventually(|| {
        let seen = seen.clone();
        async move {
            let s = seen.lock().unwrap();
            (s.contains("offline") && s.contains("b")).then_some(())
        }
    })
    .await;
    w.abort();
    // Namespaces and the CRD-less registry came back too.
    assert_eq!(
        cms_b
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        3
    );
}

fn cms_for(client: kube::Client) -> Api<ConfigMap> {
    Api::namespaced(client, "default")
}

async fn spawn_binary(dir: &std::path::Path) -> (tokio::process::Child, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_pdfx-devcluster"))
        .args(["serve", "--no-crd", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let url = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    (child, url)
}

#[tokio::test]
async fn sigkill_mid_writes_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = spawn_binary(dir.path()).await;
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for w in 0..8 {
        let (url, acked) = (url.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            let cms: Api<ConfigMap> = Api::namespaced(client_for(&url), "default");
            for i in 0.. {
                let name = format!("w{w}-{i}");
                match cms.create(&PostParams::default(), &cm(&name)).await {
                    Ok(_) => acked.lock().unwrap().push(name),
                    Err(_) => return,
                }
            }
        }));
    }
    // Kill once a good number of writes were acknowledged, while writers are still busy.
    eventually(|| {
        let acked = acked.clone();
        async move { (acked.lock().unwrap().len() >= 400).then_some(()) }
    })
    .await;
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    for w in writers {
        let _ = w.await;
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();

    let (_child2, url2) = spawn_binary(dir.path()).await;
    let cms: Api<ConfigMap> = Api::namespaced(client_for(&url2), "default");
    let present: BTreeSet<String> = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|c| c.name_any())
        .collect();
    let missing: Vec<&String> = acked.iter().filter(|n| !present.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged writes lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(present.len() >= acked.len());
}
