//! The real kubectl against the emulator: apply, get (printer columns), get -w,
//! explain, describe with events, delete, and a rejected invalid object.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::json;

const KUBECTL: &str = "/usr/bin/kubectl";

fn kubectl(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(KUBECTL)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", kubeconfig.parent().unwrap())
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "kubectl failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_end_to_end() {
    if !Path::new(KUBECTL).exists() {
        println!(
            "SKIPPED: {KUBECTL} is not installed on this machine; the kubectl test did not run"
        );
        return;
    }
    let (srv, _client) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, pdfx_devcluster::kubeconfig(&srv.url())).unwrap();
    let manifest = dir.path().join("doc1.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: pdfx.dev/v1alpha1\nkind: PdfExtraction\nmetadata:\n  name: doc1\nspec:\n  source:\n    storage:\n      key: uploads/doc1.pdf\n",
    )
    .unwrap();
    let kc2 = kc.clone();
    let run = move |args: Vec<String>| {
        let kc = kc2.clone();
        tokio::task::spawn_blocking(move || {
            kubectl(&kc, &args.iter().map(String::as_str).collect::<Vec<_>>())
        })
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();

    let out = ok(run(s(&["apply", "-f", manifest.to_str().unwrap()]))
        .await
        .unwrap());
    assert!(out.contains("pdfextraction.pdfx.dev/doc1 created"), "{out}");
    let out = ok(run(s(&["apply", "-f", manifest.to_str().unwrap()]))
        .await
        .unwrap());
    assert!(
        out.contains("unchanged") || out.contains("configured"),
        "{out}"
    );

    // get: server-side printed columns.
    let out = ok(run(s(&["get", "pdfextractions"])).await.unwrap());
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "PHASE", "PROGRESS", "PAGES", "ATTEMPTS", "AGE"],
        "{out}"
    );
    let out = ok(run(s(&["get", "pdfx", "-o", "wide"])).await.unwrap());
    assert!(out.lines().next().unwrap().contains("REASON"), "{out}");

    // get -w sees a status change.
    let watch = run(s(&["get", "pdfx", "-w", "--request-timeout=10s"]));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let api: kube::Api<pdfx_crd::PdfExtraction> =
        kube::Api::namespaced(client_for(&srv.url()), "default");
    api.patch_status(
        "doc1",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(json!({"status": {"phase": "Running", "progress": {"pagesTotal": 10, "pagesDone": 5, "percent": 50}}})),
    )
    .await
    .unwrap();
    let watched = watch.await.unwrap();
    let text = String::from_utf8_lossy(&watched.stdout).to_string();
    assert!(
        text.lines()
            .any(|l| l.contains("doc1") && l.contains("Running") && l.contains("50")),
        "get -w output: {text}"
    );

    // explain reads the schema descriptions from the OpenAPI v3 document.
    let out = ok(run(s(&["explain", "pdfextraction.spec"])).await.unwrap());
    assert!(
        out.contains("Extract the text of one PDF document"),
        "{out}"
    );
    assert!(out.contains("source"), "{out}");

    // describe shows events (core/v1 view of events.k8s.io/v1 Events).
    let obj = api.get("doc1").await.unwrap();
    let recorder = kube::runtime::events::Recorder::new(
        client_for(&srv.url()),
        kube::runtime::events::Reporter {
            controller: "pdfx-operator".into(),
            instance: None,
        },
    );
    recorder
        .publish(
            &kube::runtime::events::Event {
                type_: kube::runtime::events::EventType::Normal,
                reason: "Accepted".into(),
                note: Some("accepted for extraction".into()),
                action: "Accept".into(),
                secondary: None,
            },
            &kube::Resource::object_ref(&obj, &()),
        )
        .await
        .unwrap();
    let out = ok(run(s(&["describe", "pdfx", "doc1"])).await.unwrap());
    assert!(
        out.contains("Accepted") && out.contains("accepted for extraction"),
        "{out}"
    );

    // An invalid object is rejected with the server's message.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: pdfx.dev/v1alpha1\nkind: PdfExtraction\nmetadata:\n  name: bad\nspec:\n  source:\n    storage:\n      key: k\n  ocr:\n    dpi: 5000\n",
    )
    .unwrap();
    let out = run(s(&["apply", "-f", bad.to_str().unwrap()]))
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        err.contains("spec.ocr.dpi") && err.contains("less than or equal to 600"),
        "{err}"
    );

    // delete (waits for the object to be gone via a field-selected watch).
    let out = ok(run(s(&["delete", "pdfx", "doc1"])).await.unwrap());
    assert!(out.contains("deleted"), "{out}");
    let out = run(s(&["get", "pdfx", "doc1"])).await.unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}
