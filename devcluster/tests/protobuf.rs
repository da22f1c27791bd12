//! Protobuf request bodies from real clients: kubectl 1.32/1.33 (which send
//! `application/vnd.kubernetes.protobuf` for `create`) must store what kubectl 1.27's JSON
//! stores; Helm v4's release storage (typed client, protobuf Secrets and DeleteOptions)
//! must install, upgrade and uninstall; undecodable media types answer 415.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use common::*;
use serde_json::{Value, json};

const KUBECTL_DIR: &str = "/usr/lib/google-cloud-sdk/bin";

fn kubectl(version: &str, kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(format!("{KUBECTL_DIR}/kubectl.{version}"))
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", kubeconfig.parent().unwrap())
        .args(args)
        .output()
        .unwrap()
}

/// Runs a `kubectl create … -v=8`, asserts success, returns the request log (stderr).
async fn create(version: &'static str, kc: PathBuf, args: Vec<String>) -> String {
    let out = tokio::task::spawn_blocking(move || {
        // Before the arguments: after `--` it would be the job's command.
        let mut a = vec!["-v=8"];
        a.extend(args.iter().map(String::as_str));
        kubectl(version, &kc, &a)
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "kubectl {version} failed: {}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

/// The Content-Type kubectl logged for its POST (the only request with a body).
fn post_content_type(log: &str) -> String {
    let post = log
        .find("verb=\"POST\"")
        .or_else(|| log.find("POST http"))
        .unwrap_or_else(|| panic!("no POST in the kubectl log:\n{log}"));
    log[post..]
        .lines()
        .find_map(|l| l.trim().split_once("Content-Type: ").map(|(_, v)| v.trim()))
        .expect("no Content-Type after the POST")
        .to_string()
}

/// The object with what differs between two creations of it made uniform: the name
/// (everywhere, labels and container names included), uid, resourceVersion, timestamps.
fn normalized(obj: &Value, name: &str) -> Value {
    let mut o = obj.clone();
    let uid = o["metadata"]["uid"].as_str().unwrap().to_string();
    let meta = o["metadata"].as_object_mut().unwrap();
    for k in [
        "resourceVersion",
        "creationTimestamp",
        "managedFields",
        "uid",
    ] {
        meta.remove(k);
    }
    let text = o.to_string().replace(&uid, "UID").replace(name, "NAME");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_protobuf_creates_store_what_json_creates_store() {
    let (srv, _client) = start().await;
    let url = srv.url();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, pdfx_devcluster::kubeconfig(&url)).unwrap();
    let commands = |n: &str| -> Vec<(Vec<String>, String)> {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        vec![
            (
                s(&["create", "namespace", n]),
                format!("/api/v1/namespaces/{n}"),
            ),
            (
                s(&[
                    "create",
                    "configmap",
                    n,
                    "--from-literal=greeting=hello",
                    "--from-literal=empty=",
                ]),
                format!("/api/v1/namespaces/default/configmaps/{n}"),
            ),
            (
                s(&[
                    "create",
                    "secret",
                    "generic",
                    n,
                    "--from-literal=token=s3cr\u{e9}t",
                ]),
                format!("/api/v1/namespaces/default/secrets/{n}"),
            ),
            (
                s(&[
                    "create",
                    "job",
                    n,
                    "--image=busybox",
                    "--",
                    "sh",
                    "-c",
                    "exit 0",
                ]),
                format!("/apis/batch/v1/namespaces/default/jobs/{n}"),
            ),
        ]
    };
    let mut stored = Vec::new();
    for (version, name, wire) in [
        ("1.27", "viajson", "application/json"),
        ("1.32", "viapb132", "application/vnd.kubernetes.protobuf"),
        ("1.33", "viapb133", "application/vnd.kubernetes.protobuf"),
    ] {
        let mut objs = Vec::new();
        for (args, path) in commands(name) {
            let log = create(version, kc.clone(), args.clone()).await;
            assert_eq!(post_content_type(&log), wire, "kubectl {version} {args:?}");
            let (code, _, obj) = raw(&url, "GET", &path, &[], None).await;
            assert_eq!(code, 200, "{path}: {obj}");
            objs.push(normalized(&obj, name));
        }
        stored.push((version, objs));
    }
    let (_, json_objs) = &stored[0];
    // The Secret's bytes came through the protobuf map<string, bytes> intact.
    assert_eq!(json_objs[2]["data"]["token"], json!("czNjcsOpdA=="));
    assert_eq!(
        json_objs[1]["data"],
        json!({"greeting": "hello", "empty": ""})
    );
    for (version, objs) in &stored[1..] {
        for (pb, js) in objs.iter().zip(json_objs) {
            assert_eq!(
                pb, js,
                "kubectl {version} over protobuf stored a different object"
            );
        }
    }
    srv.shutdown();
}

/// A TCP proxy in front of the emulator that keeps every byte clients send, so that a
/// test can see the media types of clients (Helm) that have no request log of their own.
async fn recording_proxy(upstream: String) -> (String, Arc<Mutex<Vec<u8>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let log = sent.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                continue;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async move {
                    let mut buf = vec![0u8; 16384];
                    while let Ok(n) = cr.read(&mut buf).await {
                        if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        log.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                    let _ = sw.shutdown().await;
                };
                let down = async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                    let _ = cw.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    (format!("http://{addr}"), sent)
}

fn helm_step(kubeconfig: &Path, namespace: &str, release: &str, step: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let python = root.join(".tools/venv/bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/helm_release.py");
    let out = Command::new(&python)
        .arg(&script)
        .args([kubeconfig.to_str().unwrap(), namespace, release, step])
        .env("HOME", kubeconfig.parent().unwrap())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    assert!(
        out.status.success(),
        "helm {step} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The release Secrets of `release`, by name.
async fn release_secrets(url: &str, ns: &str, release: &str) -> Vec<Value> {
    let path =
        format!("/api/v1/namespaces/{ns}/secrets?labelSelector=owner%3Dhelm,name%3D{release}");
    let (code, _, list) = raw(url, "GET", &path, &[], None).await;
    assert_eq!(code, 200, "{list}");
    let mut items = list["items"].as_array().unwrap().clone();
    items.sort_by_key(|s| s["metadata"]["name"].as_str().unwrap().to_string());
    items
}

fn assert_release(secret: &Value, release: &str, version: u32, status: &str) {
    let name = format!("sh.helm.release.v1.{release}.v{version}");
    assert_eq!(secret["metadata"]["name"], json!(name), "{secret}");
    assert_eq!(secret["type"], json!("helm.sh/release.v1"));
    assert_eq!(
        secret["metadata"]["labels"],
        json!({"name": release, "owner": "helm", "status": status, "version": version.to_string(),
               "modifiedAt": secret["metadata"]["labels"]["modifiedAt"]}),
        "{secret}"
    );
    let modified = secret["metadata"]["labels"]["modifiedAt"].as_str().unwrap();
    assert!(modified.parse::<u64>().is_ok(), "modifiedAt {modified}");
    // data.release is base64 (the Secret's bytes) of base64 (Helm's) of gzip: H4sI…
    use base64::Engine;
    let b64 = secret["data"]["release"].as_str().unwrap();
    let inner = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert!(
        inner.starts_with(b"H4sI"),
        "release payload is not Helm's gzip: {:?}",
        &inner[..8.min(inner.len())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_release_storage_over_protobuf() {
    let (srv, _client) = start().await;
    let url = srv.url();
    let (proxy, sent) = recording_proxy(url.trim_start_matches("http://").to_string()).await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, pdfx_devcluster::kubeconfig(&proxy)).unwrap();
    let (ns, rel) = ("default", "demo");
    let cm_path = format!("/api/v1/namespaces/{ns}/configmaps/{rel}-config");

    let (kc1, step) = (kc.clone(), |kc: PathBuf, s: &'static str| {
        tokio::task::spawn_blocking(move || helm_step(&kc, "default", "demo", s))
    });
    step(kc1, "install").await.unwrap();
    let secrets = release_secrets(&url, ns, rel).await;
    assert_eq!(secrets.len(), 1, "{secrets:?}");
    assert_release(&secrets[0], rel, 1, "deployed");
    let (code, _, cm) = raw(&url, "GET", &cm_path, &[], None).await;
    assert_eq!(
        (code, &cm["data"]),
        (200, &json!({"greeting": "hello", "farewell": "goodbye"}))
    );
    let wire = String::from_utf8_lossy(&sent.lock().unwrap()).to_ascii_lowercase();
    assert!(
        wire.contains(&format!("post /api/v1/namespaces/{ns}/secrets"))
            && wire.contains("content-type: application/vnd.kubernetes.protobuf"),
        "helm did not write its release Secret as protobuf"
    );

    step(kc.clone(), "upgrade").await.unwrap();
    let secrets = release_secrets(&url, ns, rel).await;
    assert_eq!(secrets.len(), 2, "{secrets:?}");
    assert_release(&secrets[0], rel, 1, "superseded");
    assert_release(&secrets[1], rel, 2, "deployed");
    // The key the upgraded chart no longer renders is gone (Helm v4 applies
    // server-side: the field's one manager stopped applying it).
    let (_, _, cm) = raw(&url, "GET", &cm_path, &[], None).await;
    assert_eq!(cm["data"], json!({"greeting": "bonjour"}), "{cm}");
    let managers = cm["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        managers
            .iter()
            .any(|m| m["operation"] == "Apply"
                && m["fieldsV1"]["f:data"].get("f:greeting").is_some()),
        "Helm's apply owns the data: {managers:?}"
    );
    let (_, _, s) = raw(
        &url,
        "GET",
        &format!("/api/v1/namespaces/{ns}/secrets/{rel}-secret"),
        &[],
        None,
    )
    .await;
    assert_eq!(s["data"], json!({"token": "dG9rZW4tYm9uam91cg=="}), "{s}");

    step(kc.clone(), "uninstall").await.unwrap();
    assert_eq!(release_secrets(&url, ns, rel).await.len(), 0);
    // The superseding update and the deletes went through the typed (protobuf) client too.
    let wire = String::from_utf8_lossy(&sent.lock().unwrap()).to_ascii_lowercase();
    let release_path = format!("/api/v1/namespaces/{ns}/secrets/sh.helm.release.v1.{rel}.v1");
    for verb in ["put", "delete"] {
        let at = wire
            .find(&format!("{verb} {release_path}"))
            .unwrap_or_else(|| panic!("no {verb} of the v1 release Secret"));
        let head = &wire[at..wire[at..].find("\r\n\r\n").map_or(wire.len(), |e| at + e)];
        assert!(
            head.contains("content-type: application/vnd.kubernetes.protobuf"),
            "{head}"
        );
    }
    let (code, _, _) = raw(&url, "GET", &cm_path, &[], None).await;
    assert_eq!(code, 404);
    srv.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_bodies_are_415_or_400_with_a_status() {
    let (srv, _client) = start().await;
    let url = srv.url();
    let cms = "/api/v1/namespaces/default/configmaps";
    let status = |code: u16, v: &Value, reason: &str| {
        assert_eq!(v["kind"], json!("Status"), "{v}");
        assert_eq!(v["reason"], json!(reason), "{v}");
        assert_eq!(v["code"], json!(code), "{v}");
    };
    for ct in ["application/cbor", "application/xml"] {
        let body = b"\xd9\xd9\xf7\xa0".to_vec();
        let (code, _, v) = raw_bytes(&url, "POST", cms, &[("Content-Type", ct)], Some(body)).await;
        assert_eq!(code, 415, "{ct}: {v}");
        status(415, &v, "UnsupportedMediaType");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("application/vnd.kubernetes.protobuf"),
            "{v}"
        );
    }
    let pb = [("Content-Type", "application/vnd.kubernetes.protobuf")];
    // Not protobuf at all, and protobuf cut short after the magic.
    for body in [
        b"{\"kind\":\"ConfigMap\"}".to_vec(),
        b"k8s\0\x0a\x05\x0a\x02v1".to_vec(),
    ] {
        let (code, _, v) = raw_bytes(&url, "POST", cms, &pb, Some(body)).await;
        assert_eq!(code, 400, "{v}");
        status(400, &v, "BadRequest");
        assert!(v["message"].as_str().unwrap().contains("protobuf"), "{v}");
    }
    // A custom resource has no protobuf form, as on a real server.
    let cr = b"k8s\0\x0a\x22\x0a\x11pdfx.dev/v1alpha1\x12\x0dPdfExtraction\x12\x00".to_vec();
    let (code, _, v) = raw_bytes(
        &url,
        "POST",
        "/apis/pdfx.dev/v1alpha1/namespaces/default/pdfextractions",
        &pb,
        Some(cr),
    )
    .await;
    assert_eq!(code, 415, "{v}");
    status(415, &v, "UnsupportedMediaType");
    // A client that takes only protobuf answers cannot be served JSON.
    let (code, _, v) = raw(
        &url,
        "GET",
        cms,
        &[("Accept", "application/vnd.kubernetes.protobuf")],
        None,
    )
    .await;
    assert_eq!(code, 406, "{v}");
    status(406, &v, "NotAcceptable");
    srv.shutdown();
}
