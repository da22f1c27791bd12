//! Server-side apply and strategic merge patch through real clients: kubectl 1.27
//! and 1.33 (`apply --server-side`, `--field-manager`, `--force-conflicts`,
//! `--show-managed-fields`, `set image`/`set env` on a Deployment, `patch --type strategic`) and
//! the kube client's `Patch::Apply`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const KUBECTLS: [&str; 2] = [
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.27",
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.33",
];

struct Kubectl {
    bin: &'static str,
    kubeconfig: PathBuf,
    dir: PathBuf,
}

impl Kubectl {
    /// Run kubectl off the async runtime (the emulator serves on it).
    async fn run(&self, args: &[&str]) -> Output {
        let bin = self.bin;
        let kc = self.kubeconfig.clone();
        let home = self.dir.clone();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            Command::new(bin)
                .env("KUBECONFIG", kc)
                .env("HOME", home)
                .args(&args)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{} {args:?} failed: {stdout}\n{}",
            self.bin,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&a).await).unwrap()
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    }
}

fn kubectl_for(bin: &'static str, url: &str, dir: &Path) -> Kubectl {
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, pdfx_devcluster::kubeconfig(url)).unwrap();
    Kubectl {
        bin,
        kubeconfig,
        dir: dir.to_path_buf(),
    }
}

fn managers(obj: &Value) -> Vec<(String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                e["manager"].as_str().unwrap_or("").to_string(),
                e["operation"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

async fn config_map_apply_removal_and_conflicts(k: &Kubectl) {
    let full = k.file(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  key: one\n  extra: two\n",
    );
    k.ok(&["apply", "--server-side", "-f", &full]).await;
    let cm = k.json(&["get", "configmap", "settings"]).await;
    assert_eq!(cm["data"], json!({"key": "one", "extra": "two"}));
    // Re-applied without `extra`: the field this manager stopped applying goes.
    let fewer = k.file(
        "cm2.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  key: one\n",
    );
    k.ok(&["apply", "--server-side", "-f", &fewer]).await;
    let cm = k.json(&["get", "configmap", "settings"]).await;
    assert_eq!(cm["data"], json!({"key": "one"}));
    // Another manager changing `key` conflicts with the real message...
    let other = k.file(
        "cm3.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  key: changed\n",
    );
    let out = k
        .run(&[
            "apply",
            "--server-side",
            "--field-manager=other",
            "-f",
            &other,
        ])
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("Apply failed with 1 conflict: conflict with \"kubectl\": .data.key"),
        "{stderr}"
    );
    // ...and --force-conflicts takes the field over.
    k.ok(&[
        "apply",
        "--server-side",
        "--field-manager=other",
        "--force-conflicts",
        "-f",
        &other,
    ])
    .await;
    let cm = k
        .json(&["get", "configmap", "settings", "--show-managed-fields"])
        .await;
    assert_eq!(cm["data"]["key"], "changed");
    let fields: Vec<_> = cm["metadata"]["managedFields"].as_array().unwrap().clone();
    let other_entry = fields.iter().find(|e| e["manager"] == "other").unwrap();
    assert_eq!(other_entry["operation"], "Apply");
    assert_eq!(other_entry["fieldsType"], "FieldsV1");
    assert_eq!(other_entry["fieldsV1"], json!({"f:data": {"f:key": {}}}));
    assert!(
        fields.iter().all(|e| e["manager"] != "kubectl"),
        "kubectl lost its only field: {fields:?}"
    );
    let yaml = k
        .ok(&[
            "get",
            "configmap",
            "settings",
            "-o",
            "yaml",
            "--show-managed-fields",
        ])
        .await;
    assert!(
        yaml.contains("managedFields:") && yaml.contains("manager: other"),
        "{yaml}"
    );
    // Without the flag kubectl hides them, as against a real server.
    let yaml = k.ok(&["get", "configmap", "settings", "-o", "yaml"]).await;
    assert!(!yaml.contains("managedFields"), "{yaml}");
}

async fn custom_resource_dropped_field(k: &Kubectl) {
    // The PdfExtraction spec is immutable (CEL), so the dropped field is a label.
    let with_label = k.file(
        "doc.yaml",
        "apiVersion: pdfx.dev/v1alpha1\nkind: PdfExtraction\nmetadata:\n  name: ssa-doc\n  labels:\n    team: a\n    stage: draft\nspec:\n  source:\n    storage:\n      key: uploads/a.pdf\n  ttlSecondsAfterFinished: 60\n",
    );
    k.ok(&["apply", "--server-side", "-f", &with_label]).await;
    let doc = k.json(&["get", "pdfextraction", "ssa-doc"]).await;
    assert_eq!(doc["metadata"]["labels"]["stage"], "draft");
    let without = k.file(
        "doc2.yaml",
        "apiVersion: pdfx.dev/v1alpha1\nkind: PdfExtraction\nmetadata:\n  name: ssa-doc\n  labels:\n    team: a\nspec:\n  source:\n    storage:\n      key: uploads/a.pdf\n  ttlSecondsAfterFinished: 60\n",
    );
    k.ok(&["apply", "--server-side", "-f", &without]).await;
    let doc = k
        .json(&["get", "pdfextraction", "ssa-doc", "--show-managed-fields"])
        .await;
    assert_eq!(doc["metadata"]["labels"], json!({"team": "a"}), "{doc}");
    assert_eq!(doc["spec"]["ttlSecondsAfterFinished"], 60);
    assert_eq!(managers(&doc), vec![("kubectl".into(), "Apply".into())]);
    let fields = &doc["metadata"]["managedFields"][0]["fieldsV1"];
    assert_eq!(fields["f:metadata"], json!({"f:labels": {"f:team": {}}}));
    assert_eq!(fields["f:spec"]["f:ttlSecondsAfterFinished"], json!({}));
}

fn names<'v>(list: &'v Value, key: &str) -> Vec<&'v str> {
    list.as_array()
        .map(|a| a.iter().filter_map(|e| e[key].as_str()).collect())
        .unwrap_or_default()
}

/// Pod containers cannot change after creation here (the emulator refuses even the
/// image change a real server allows), so merge keys and directives are exercised
/// on the lists a Pod can change: status conditions (merge key `type`) and
/// finalizers (a merged set of scalars).
async fn strategic_merge_on_pod_lists(k: &Kubectl) {
    let pod = k.file(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  finalizers: [a.example/one]\nspec:\n  containers:\n  - name: app\n    image: app:1\n",
    );
    k.ok(&["create", "-f", &pod]).await;
    let status = |patch: &str| {
        vec![
            "patch",
            "pod",
            "web",
            "--subresource=status",
            "--type",
            "strategic",
            "-p",
        ]
        .into_iter()
        .chain([patch])
        .map(str::to_string)
        .collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| async move {
        k.ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .await
    };
    run(status(r#"{"status":{"conditions":[{"type":"Ready","status":"False"},{"type":"Initialized","status":"True"}]}}"#)).await;
    // Merged by `type`: Ready changes in place, Initialized stays.
    run(status(
        r#"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#,
    ))
    .await;
    let p = k.json(&["get", "pod", "web"]).await;
    assert_eq!(
        names(&p["status"]["conditions"], "type"),
        vec!["Ready", "Initialized"]
    );
    assert_eq!(p["status"]["conditions"][0]["status"], "True");
    // `$patch: delete` removes one item by its key.
    run(status(
        r#"{"status":{"conditions":[{"type":"Ready","$patch":"delete"}]}}"#,
    ))
    .await;
    let p = k.json(&["get", "pod", "web"]).await;
    assert_eq!(
        names(&p["status"]["conditions"], "type"),
        vec!["Initialized"]
    );
    // Finalizers merge as a set; `$deleteFromPrimitiveList` takes one out.
    k.ok(&[
        "patch",
        "pod",
        "web",
        "--type",
        "strategic",
        "-p",
        r#"{"metadata":{"finalizers":["b.example/two"]}}"#,
    ])
    .await;
    let p = k.json(&["get", "pod", "web"]).await;
    assert_eq!(
        p["metadata"]["finalizers"],
        json!(["a.example/one", "b.example/two"])
    );
    k.ok(&[
        "patch",
        "pod",
        "web",
        "--type",
        "strategic",
        "-p",
        r#"{"metadata":{"$deleteFromPrimitiveList/finalizers":["a.example/one"]}}"#,
    ])
    .await;
    let p = k
        .json(&["get", "pod", "web", "--show-managed-fields"])
        .await;
    assert_eq!(p["metadata"]["finalizers"], json!(["b.example/two"]));
    // Each write is recorded under the manager kubectl names; status writes with their subresource.
    let fields = p["metadata"]["managedFields"].as_array().unwrap();
    let by = |m: &str| fields.iter().find(|e| e["manager"] == m);
    assert!(by("kubectl-create").is_some(), "{fields:?}");
    let patcher: Vec<_> = fields
        .iter()
        .filter(|e| e["manager"] == "kubectl-patch")
        .collect();
    assert!(
        patcher.iter().any(|e| e["subresource"] == "status"),
        "{fields:?}"
    );
    assert!(
        patcher.iter().any(|e| e.get("subresource").is_none()),
        "{fields:?}"
    );
}

async fn job_template_changes_are_refused_as_immutable(k: &Kubectl) {
    let job = k.file(
        "job.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: batch\nspec:\n  suspend: true\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: work\n        image: work:1\n",
    );
    k.ok(&["create", "-f", &job]).await;
    // The strategic patch `set image` sends changes only the image, which a Job's
    // immutable template refuses as a real server does.
    let out = k.run(&["set", "image", "job/batch", "work=work:2"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("field is immutable"), "{stderr}");
    // A strategic patch outside the template goes through.
    k.ok(&[
        "patch",
        "job",
        "batch",
        "--type",
        "strategic",
        "-p",
        r#"{"metadata":{"labels":{"tier":"batch"}}}"#,
    ])
    .await;
    let j = k.json(&["get", "job", "batch"]).await;
    assert_eq!(j["metadata"]["labels"]["tier"], "batch");
    assert_eq!(
        j["spec"]["template"]["spec"]["containers"][0]["image"],
        "work:1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_server_side_apply_and_strategic_merge() {
    for bin in KUBECTLS {
        let (srv, _client) = start().await;
        let dir = tempfile::tempdir().unwrap();
        let k = kubectl_for(bin, &srv.url(), dir.path());
        config_map_apply_removal_and_conflicts(&k).await;
        custom_resource_dropped_field(&k).await;
        strategic_merge_on_pod_lists(&k).await;
        job_template_changes_are_refused_as_immutable(&k).await;
        set_image_and_env_merge_containers_by_name(&k).await;
    }
}

/// `kubectl set image` / `set env` send strategic merge patches of one
/// container; the Deployment's other container and other variables stay.
async fn set_image_and_env_merge_containers_by_name(k: &Kubectl) {
    let deployment = k.file(
        "web.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - name: app\n        image: example/app:1\n        env:\n        - {name: MODE, value: fast}\n        - {name: LEVEL, value: \"3\"}\n      - name: sidecar\n        image: example/sidecar:1\n",
    );
    k.ok(&["apply", "-f", &deployment]).await;
    k.ok(&["set", "image", "deployment/web", "app=example/app:2"])
        .await;
    k.ok(&[
        "set",
        "env",
        "deployment/web",
        "-c",
        "app",
        "LEVEL=4",
        "EXTRA=yes",
    ])
    .await;
    k.ok(&["set", "env", "deployment/web", "-c", "app", "MODE-"])
        .await;
    let web = k.json(&["get", "deployment", "web"]).await;
    let containers = &web["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0]["name"], "app", "{containers}");
    assert_eq!(containers[0]["image"], "example/app:2");
    assert_eq!(containers[1]["name"], "sidecar");
    assert_eq!(containers[1]["image"], "example/sidecar:1");
    let env: Vec<(String, String)> = containers[0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["value"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        env,
        [
            ("LEVEL".to_string(), "4".to_string()),
            ("EXTRA".to_string(), "yes".to_string())
        ],
        "{containers}"
    );
    k.ok(&["delete", "deployment", "web"]).await;
}

#[tokio::test]
async fn kube_client_apply_with_field_managers() {
    let (srv, client) = start().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm = |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "k"}, "data": data});
    let created = cms
        .patch(
            "k",
            &PatchParams::apply("mgr"),
            &Patch::Apply(cm(json!({"a": "1", "b": "2"}))),
        )
        .await
        .unwrap();
    let mf = created.metadata.managed_fields.unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0].manager.as_deref(), Some("mgr"));
    assert_eq!(mf[0].operation.as_deref(), Some("Apply"));
    // A second manager changing "a" conflicts; the Status carries one cause per field.
    let err = cms
        .patch(
            "k",
            &PatchParams::apply("second"),
            &Patch::Apply(cm(json!({"a": "x"}))),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(status) = err else {
        panic!("expected an API error, got {err:?}")
    };
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert_eq!(
        status.message,
        "Apply failed with 1 conflict: conflict with \"mgr\": .data.a"
    );
    let (code, _, body) = raw(
        &srv.url(),
        "PATCH",
        "/api/v1/namespaces/default/configmaps/k?fieldManager=second",
        &[("Content-Type", "application/apply-patch+yaml")],
        Some(cm(json!({"a": "x"}))),
    )
    .await;
    assert_eq!(code, 409);
    assert_eq!(
        body["details"]["causes"],
        json!([{"reason": "FieldManagerConflict", "message": "conflict with \"mgr\"", "field": ".data.a"}])
    );
    // Forced, it takes "a"; then "mgr" dropping "a" and "b" removes only "b".
    let forced = cms
        .patch(
            "k",
            &PatchParams::apply("second").force(),
            &Patch::Apply(cm(json!({"a": "x"}))),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.as_ref().unwrap()["a"], "x");
    let after = cms
        .patch(
            "k",
            &PatchParams::apply("mgr"),
            &Patch::Apply(cm(json!({}))),
        )
        .await
        .unwrap();
    let data = after.data.unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data["a"], "x");
    // A merge patch by a named manager takes the field; applying it back conflicts
    // with an Update manager, named with its API version.
    cms.patch(
        "k",
        &PatchParams {
            field_manager: Some("editor".into()),
            ..PatchParams::default()
        },
        &Patch::Merge(json!({"data": {"a": "edited"}})),
    )
    .await
    .unwrap();
    let err = cms
        .patch(
            "k",
            &PatchParams::apply("second"),
            &Patch::Apply(cm(json!({"a": "x"}))),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("conflict with \"editor\" using v1: .data.a"),
        "{err}"
    );
    // Apply without a fieldManager is refused before anything is looked up.
    let (code, _, body) = raw(
        &srv.url(),
        "PATCH",
        "/api/v1/namespaces/default/configmaps/missing",
        &[("Content-Type", "application/apply-patch+yaml")],
        Some(cm(json!({}))),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert_eq!(
        body["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
}

#[tokio::test]
async fn writes_record_update_managers_and_client_managed_fields() {
    let (_srv, client) = start().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "i"}]}}))
    .unwrap();
    let created = pods
        .create(
            &PostParams {
                field_manager: Some("creator".into()),
                ..PostParams::default()
            },
            &pod,
        )
        .await
        .unwrap();
    let mf = created.metadata.managed_fields.clone().unwrap();
    assert_eq!(mf.len(), 1);
    assert_eq!(mf[0].manager.as_deref(), Some("creator"));
    assert_eq!(mf[0].operation.as_deref(), Some("Update"));
    let fields = serde_json::to_value(mf[0].fields_v1.as_ref().unwrap()).unwrap();
    assert_eq!(
        fields["f:spec"]["f:containers"]["k:{\"name\":\"c\"}"]["f:image"],
        json!({})
    );
    // A status write is recorded with its subresource.
    pods.patch_status(
        "p",
        &PatchParams {
            field_manager: Some("kubelet".into()),
            ..PatchParams::default()
        },
        &Patch::Merge(json!({"status": {"phase": "Running"}})),
    )
    .await
    .unwrap();
    let got = pods.get("p").await.unwrap();
    let mf = got.metadata.managed_fields.clone().unwrap();
    let kubelet = mf
        .iter()
        .find(|e| e.manager.as_deref() == Some("kubelet"))
        .unwrap();
    assert_eq!(kubelet.subresource.as_deref(), Some("status"));
    // An update that sends managedFields [{}] resets them (only the updater remains).
    let mut reset = got.clone();
    reset.metadata.managed_fields = Some(vec![Default::default()]);
    reset.metadata.labels = Some([("x".to_string(), "y".to_string())].into());
    let updated = pods
        .replace(
            "p",
            &PostParams {
                field_manager: Some("resetter".into()),
                ..PostParams::default()
            },
            &reset,
        )
        .await
        .unwrap();
    let names: Vec<_> = updated
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|e| e.manager)
        .collect();
    assert_eq!(names, vec!["resetter".to_string()]);
}
