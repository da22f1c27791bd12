//! Idempotency races, orphaned uploads, disconnects, backends that are down,
//! and keys from a Secret.

mod common;

use std::time::Duration;

use anyhow::Result;
use common::{Backend, Gateway, KEY_A, KEY_B, WAIT, error_code, pdf};
use pretty_assertions::assert_eq;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

/// The same `Idempotency-Key` from one tenant gives one task and one stored
/// object, also when the requests race; another tenant's same key is its own.
async fn idempotent_submissions_race_to_one_task(backend: Backend) -> Result<()> {
    let gw = Gateway::start(backend).await?;
    let mut racers = Vec::new();
    for _ in 0..8 {
        let request = gw
            .post_raw("/extract/pdf", KEY_A, pdf(200_000))
            .header("idempotency-key", "order-42");
        racers.push(tokio::spawn(request.send()));
    }
    let mut ids = Vec::new();
    for racer in racers {
        let response = racer.await??;
        assert_eq!(response.status(), 202);
        let body: Value = response.json().await?;
        ids.push(body["task_id"].as_str().unwrap_or_default().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let task_id = ids[0].clone();
    assert_eq!(gw.resources().await?, vec![format!("team-a/{task_id}")]);
    // Each loser deleted its own upload: exactly the winner's object is left.
    let objects = gw.objects().await?;
    assert_eq!(objects.len(), 1, "{objects:?}");
    let resource = gw.api("team-a").get(&task_id).await?;
    let pdfx_crd::Source::Storage(source) = &resource.spec.source else {
        anyhow::bail!("not a storage source");
    };
    assert_eq!(objects[0], source.key);

    // A later repeat stores nothing and answers with the same task.
    let again: Value = gw
        .post_raw("/extract/pdf", KEY_A, pdf(100))
        .header("idempotency-key", "order-42")
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(again["task_id"], task_id.as_str());
    assert_eq!(gw.objects().await?.len(), 1);

    let other: Value = gw
        .post_raw("/extract/pdf", KEY_B, pdf(100))
        .header("idempotency-key", "order-42")
        .send()
        .await?
        .json()
        .await?;
    assert_ne!(other["task_id"], task_id.as_str());
    assert_eq!(gw.resources().await?.len(), 2);
    gw.stop().await;
    Ok(())
}
both_backends!(idempotent_submissions_race_to_one_task);

/// What a gateway killed between storing and creating leaves behind — an
/// upload without its resource — is removed after the grace period; uploads
/// that a resource refers to stay.
async fn the_sweep_removes_orphaned_uploads(backend: Backend) -> Result<()> {
    let gw = Gateway::start_with(backend, |a| {
        a.upload_grace = Duration::from_secs(1);
        a.sweep_interval = Duration::from_secs(1);
    })
    .await?;
    let task_id = gw.submit(KEY_A).await?;
    let kept = gw.objects().await?;
    assert_eq!(kept.len(), 1);
    let orphan = pdfx_crd::layout::ExtractionLayout::for_resource("team-a", "tgone").upload("u1");
    let stale = pdfx_crd::layout::ExtractionLayout::for_resource("team-a", &task_id).upload("lost");
    let unrelated = "extractions/team-a/tgone/result.json".to_owned();
    for key in [&orphan, &stale, &unrelated] {
        gw.store
            .put_bytes(
                &pdfx_storage::key::join(&gw.base, key),
                pdf(100).into(),
                None,
            )
            .await?;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let objects = gw.objects().await?;
        if !objects.contains(&orphan) && !objects.contains(&stale) {
            let mut expected = vec![kept[0].clone(), unrelated.clone()];
            expected.sort();
            let mut objects = objects;
            objects.sort();
            assert_eq!(objects, expected);
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "never swept: {objects:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        gw.metric("pdfx_gateway_orphan_uploads_deleted_total", "")
            .await?
            >= 2.0
    );
    gw.stop().await;
    Ok(())
}
both_backends!(the_sweep_removes_orphaned_uploads);

/// A client that disconnects halfway through its upload leaves nothing: no
/// object (on S3 the multipart upload is aborted) and no resource.
async fn a_disconnect_mid_upload_leaves_nothing(backend: Backend) -> Result<()> {
    let gw = Gateway::start(backend).await?;
    let addr = gw.url.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&addr).await?;
    let total = 64 * 1024 * 1024;
    let head = format!(
        "POST /extract/pdf HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {KEY_A}\r\n\
         Content-Type: application/pdf\r\nContent-Length: {total}\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await?;
    // More than one 8 MiB part, so that S3 has a multipart upload to abort.
    let sent = pdf(20 * 1024 * 1024);
    socket.write_all(&sent).await?;
    socket.flush().await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    while gw.metric("pdfx_gateway_upload_bytes_total", "").await? < 8.0 * 1024.0 * 1024.0 {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the upload never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(socket);
    while gw
        .metric("pdfx_gateway_uploads_total", "outcome=\"client_failed\"")
        .await?
        < 1.0
    {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the disconnect was never seen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(gw.objects().await?, Vec::<String>::new());
    assert_eq!(gw.resources().await?, Vec::<String>::new());
    if let Some(common::Storage::S3(s3)) = &gw.storage {
        assert_eq!(s3.open_multipart_uploads()?, 0);
    }
    gw.stop().await;
    Ok(())
}
both_backends!(a_disconnect_mid_upload_leaves_nothing);

/// Storage down: submissions answer 503 with Retry-After; status polls go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_down_is_503() -> Result<()> {
    let mut gw = Gateway::start(Backend::S3).await?;
    let task_id = gw.submit(KEY_A).await?;
    gw.storage = None; // stops the S3 server
    let response = gw.post_raw("/extract/pdf", KEY_A, pdf(1000)).send().await?;
    assert!(response.headers().contains_key("retry-after"));
    let (status, code, _) = error_code(response).await?;
    assert_eq!((status, code.as_str()), (503, "unavailable"));
    assert_eq!(gw.resources().await?, vec![format!("team-a/{task_id}")]);
    let polled = gw
        .get(&format!("/extract/status/{task_id}"), KEY_A)
        .send()
        .await?;
    assert_eq!(polled.status(), 200);
    // The probe notices too: /readyz fails.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ready = gw.http.get(format!("{}/readyz", gw.url)).send().await?;
        if ready.status() == 503 {
            assert!(ready.text().await?.contains("storage"));
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "/readyz stayed ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    gw.stop().await;
    Ok(())
}

/// The Kubernetes API down: submissions answer 503 and store nothing; polls
/// are still served from the cache.
async fn cluster_down_is_503(backend: Backend) -> Result<()> {
    let mut gw = Gateway::start(backend).await?;
    let task_id = gw.submit(KEY_A).await?;
    let before = gw.objects().await?;
    if let Some(cluster) = gw.cluster.take() {
        cluster.shutdown();
    }
    for _ in 0..3 {
        let response = gw.post_raw("/extract/pdf", KEY_A, pdf(1000)).send().await?;
        let (status, code, _) = error_code(response).await?;
        assert_eq!((status, code.as_str()), (503, "unavailable"));
        assert_eq!(gw.objects().await?, before);
    }
    let polled = gw
        .get(&format!("/extract/status/{task_id}"), KEY_A)
        .send()
        .await?;
    assert_eq!(polled.status(), 200);
    gw.stop().await;
    Ok(())
}
both_backends!(cluster_down_is_503);

/// Keys from a Secret, followed by a watch: an update takes effect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_from_a_watched_secret() -> Result<()> {
    let gw = Gateway::start_with(Backend::Local, |a| {
        a.api_keys_file = None;
        a.api_keys_secret = Some("team-a/api-keys".into());
    })
    .await?;
    assert_eq!(gw.get("/extract", KEY_A).send().await?.status(), 200);
    assert_eq!(gw.get("/extract", "nope").send().await?.status(), 401);
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(gw.client.clone(), "team-a");
    let rotated = "rotated-key-for-team-a-5555555555";
    secrets
        .patch(
            "api-keys",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({
                "stringData": {"keys": common::key_line("team-a", rotated)}
            })),
        )
        .await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    while gw.get("/extract", rotated).send().await?.status() != 200 {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the rotated key never worked"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(gw.get("/extract", KEY_A).send().await?.status(), 401);
    gw.stop().await;
    Ok(())
}

/// A key bound to a namespace that does not exist: the upload is deleted
/// again and the answer says the server is at fault (500), not the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_without_its_namespace_leaves_nothing() -> Result<()> {
    let gw = Gateway::start(Backend::Local).await?;
    let orphan_key = "key-of-a-tenant-without-namespace-42";
    std::fs::write(&gw.keys_file, common::key_line("team-z", orphan_key))?;
    let deadline = tokio::time::Instant::now() + WAIT;
    while gw.get("/extract", orphan_key).send().await?.status() != 200 {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the key never loaded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let response = gw
        .post_raw("/extract/pdf", orphan_key, pdf(1000))
        .send()
        .await?;
    let (status, code, _) = error_code(response).await?;
    assert_eq!((status, code.as_str()), (500, "internal"));
    assert_eq!(gw.objects().await?, Vec::<String>::new());
    assert_eq!(gw.resources().await?, Vec::<String>::new());
    gw.stop().await;
    Ok(())
}
