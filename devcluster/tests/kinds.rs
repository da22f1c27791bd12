//! The kinds a Helm chart installs, through the clients that use them: kubectl
//! 1.27 and 1.33 (apply of rendered charts, get with the server's columns, get
//! all, explain, cluster-info, auth can-i/whoami, strict field validation), the
//! kube client with k8s-openapi types, and the official Python client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use serde_json::{Value, json};

const KUBECTLS: [&str; 2] = [
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.27",
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.33",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn python() -> PathBuf {
    repo().join(".tools/venv/bin/python")
}

struct Kubectl {
    bin: &'static str,
    kubeconfig: PathBuf,
}

impl Kubectl {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(self.bin)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.kubeconfig.parent().unwrap())
            .args(args)
            .output()
            .unwrap()
    }

    /// Run, require success, return stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{} {args:?} failed: {stdout}\n{}",
            self.bin,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Run, require failure, return stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "{} {args:?} unexpectedly succeeded: {}",
            self.bin,
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).to_string()
    }
}

fn header(out: &str) -> Vec<String> {
    // Columns are separated by at least two spaces ("UP-TO-DATE", "PORT(S)", "LAST SEEN").
    out.lines()
        .next()
        .unwrap_or("")
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn render(chart: &Path, values: Option<&Path>, namespace: &str, out: &Path) {
    let values = values.map_or("-".to_string(), |v| v.display().to_string());
    let o = Command::new(python())
        .arg(repo().join("devcluster/tests/render_chart.py"))
        .args([
            chart.to_str().unwrap(),
            &values,
            namespace,
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "render failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_rendered_charts_and_prints_the_servers_columns() {
    for bin in KUBECTLS {
        let (srv, _client) = start().await;
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, pdfx_devcluster::kubeconfig(&srv.url())).unwrap();
        let k = Kubectl { bin, kubeconfig };
        let tmp = dir.path().to_path_buf();
        let url = srv.url();
        blocking(move || charts_and_tables(&k, &tmp, &url)).await;
    }
}

fn charts_and_tables(k: &Kubectl, tmp: &Path, url: &str) {
    let webapp = tmp.join("webapp.yaml");
    render(
        &repo().join("devcluster/tests/charts/webapp"),
        None,
        "default",
        &webapp,
    );
    let pdfx = tmp.join("pdfx.yaml");
    render(
        &repo().join("charts/pdfx"),
        Some(&repo().join("charts/tests/values/ingress-autoscaler.yaml")),
        "pdfx-system",
        &pdfx,
    );
    // From files: kubectl 1.33's typed `create` commands send protobuf.
    let ns = tmp.join("ns.yaml");
    std::fs::write(
        &ns,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: pdfx-system\n",
    )
    .unwrap();
    k.ok(&["apply", "-f", ns.to_str().unwrap()]);
    for manifest in [&webapp, &pdfx] {
        let out = k.ok(&["apply", "-f", manifest.to_str().unwrap()]);
        assert!(out.lines().all(|l| l.ends_with(" created")), "{out}");
        let again = k.ok(&["apply", "-f", manifest.to_str().unwrap()]);
        // As against a real server: a Secret's write-only `stringData` and a PDB's
        // `replace`-strategy selector always make a non-empty patch ("configured").
        assert!(
            again.lines().all(|l| l.ends_with(" unchanged")
                || l.starts_with("secret/")
                || l.starts_with("poddisruptionbudget.policy/")),
            "{}: {again}",
            k.bin
        );
    }
    let out = k.ok(&["apply", "-f", pdfx.to_str().unwrap(), "--dry-run=server"]);
    assert!(out.contains("deployment.apps/rel-pdfx-gateway"), "{out}");

    // The server's printers, as kubectl shows them.
    let cols = |args: &[&str]| header(&k.ok(args));
    assert_eq!(
        cols(&["get", "deploy"]),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    let out = k.ok(&["get", "deploy", "rel"]);
    assert!(out.lines().nth(1).unwrap().starts_with("rel "), "{out}");
    assert!(out.contains(" 0/2 "), "{out}");
    assert_eq!(
        cols(&["get", "deploy", "-o", "wide"]),
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    assert_eq!(
        cols(&["get", "svc"]),
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    let svc = k.ok(&["get", "svc", "rel"]);
    let row: Vec<&str> = svc.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[1], "ClusterIP", "{svc}");
    assert!(row[2].starts_with("10."), "{svc}");
    assert_eq!((row[3], row[4]), ("<none>", "80/TCP"), "{svc}");
    let kubernetes = k.ok(&["get", "svc", "kubernetes"]);
    assert!(kubernetes.contains("10.96.0.1"), "{kubernetes}");
    assert_eq!(cols(&["get", "sa"]), ["NAME", "SECRETS", "AGE"]);
    assert_eq!(cols(&["get", "rolebinding"]), ["NAME", "ROLE", "AGE"]);
    assert!(k.ok(&["get", "rolebinding", "rel"]).contains("Role/rel"));
    assert_eq!(
        cols(&["get", "clusterrolebinding"]),
        ["NAME", "ROLE", "AGE"]
    );
    assert_eq!(cols(&["get", "role"]), ["NAME", "CREATED AT"]);
    assert_eq!(cols(&["get", "clusterrole"]), ["NAME", "CREATED AT"]);
    assert_eq!(cols(&["get", "crd"]), ["NAME", "CREATED AT"]);
    let crd = k.ok(&["get", "crd"]);
    assert!(
        crd.lines().nth(1).unwrap().trim_end().ends_with('Z'),
        "CREATED AT is a timestamp: {crd}"
    );
    assert_eq!(
        cols(&["get", "ing"]),
        ["NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE"]
    );
    let ing = k.ok(&["get", "ing", "rel"]);
    assert!(
        ing.contains("nginx") && ing.contains("webapp.example.com") && ing.contains("80, 443"),
        "{ing}"
    );
    assert_eq!(
        cols(&["get", "hpa"]),
        [
            "NAME",
            "REFERENCE",
            "TARGETS",
            "MINPODS",
            "MAXPODS",
            "REPLICAS",
            "AGE"
        ]
    );
    assert!(k.ok(&["get", "hpa", "rel"]).contains("Deployment/rel"));
    assert_eq!(
        cols(&["get", "pdb"]),
        [
            "NAME",
            "MIN AVAILABLE",
            "MAX UNAVAILABLE",
            "ALLOWED DISRUPTIONS",
            "AGE"
        ]
    );
    assert_eq!(cols(&["get", "netpol"]), ["NAME", "POD-SELECTOR", "AGE"]);
    assert!(
        k.ok(&["get", "netpol", "rel"])
            .contains("app.kubernetes.io/name=webapp")
    );
    assert_eq!(cols(&["get", "cm"]), ["NAME", "DATA", "AGE"]);
    assert_eq!(cols(&["get", "secret"]), ["NAME", "TYPE", "DATA", "AGE"]);

    // Jobs, CronJobs, Events.
    let cron = tmp.join("cron.yaml");
    std::fs::write(
        &cron,
        "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: nightly\nspec:\n  schedule: \"0 3 * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers:\n          - name: c\n            image: busybox\n",
    )
    .unwrap();
    k.ok(&["apply", "-f", cron.to_str().unwrap()]);
    assert_eq!(
        cols(&["get", "cj"]),
        [
            "NAME",
            "SCHEDULE",
            "TIMEZONE",
            "SUSPEND",
            "ACTIVE",
            "LAST SCHEDULE",
            "AGE"
        ]
    );
    let job = tmp.join("job.yaml");
    std::fs::write(
        &job,
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: once\nspec:\n  suspend: true\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: c\n        image: busybox\n",
    )
    .unwrap();
    k.ok(&["apply", "-f", job.to_str().unwrap()]);
    assert_eq!(
        cols(&["get", "jobs"]),
        ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    );
    let jobs = k.ok(&["get", "job", "once"]);
    assert!(jobs.contains("0/1"), "{jobs}");
    let event = tmp.join("event.yaml");
    std::fs::write(
        &event,
        "apiVersion: v1\nkind: Event\nmetadata:\n  name: rel.1\ninvolvedObject:\n  kind: Deployment\n  name: rel\n  namespace: default\nreason: ScalingReplicaSet\nmessage: Scaled up replica set rel-1 to 2\ntype: Normal\nfirstTimestamp: \"2025-01-01T00:00:00Z\"\nlastTimestamp: \"2025-01-01T00:00:00Z\"\n",
    )
    .unwrap();
    k.ok(&["create", "-f", event.to_str().unwrap()]);
    assert_eq!(
        cols(&["get", "events"]),
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    let events = k.ok(&["get", "events"]);
    assert!(
        events.contains("deployment/rel") && events.contains("Scaled up replica set rel-1 to 2"),
        "{events}"
    );

    // get all: the `all` category across groups.
    let all = k.ok(&["get", "all"]);
    for want in [
        "service/rel",
        "service/kubernetes",
        "deployment.apps/rel",
        "horizontalpodautoscaler.autoscaling/rel",
        "cronjob.batch/nightly",
        "job.batch/once",
    ] {
        assert!(all.contains(want), "{want} missing from get all: {all}");
    }
    assert!(!all.contains("rolebinding"), "{all}");
    let all = k.ok(&["get", "all", "-n", "pdfx-system"]);
    assert!(all.contains("deployment.apps/rel-pdfx-gateway"), "{all}");

    // explain, cluster-info, auth.
    let explain = k.ok(&["explain", "deployment.spec.replicas"]);
    assert!(
        explain.contains("replicas") && explain.contains("<integer>"),
        "{explain}"
    );
    let explain = k.ok(&["explain", "svc.spec.ports.targetPort"]);
    assert!(
        explain.contains("Number or name of the port to access on the pods"),
        "{explain}"
    );
    let info = k.ok(&["cluster-info"]);
    assert!(
        info.contains("Kubernetes control plane") && info.contains(url),
        "{info}"
    );
    assert_eq!(
        k.ok(&["auth", "can-i", "create", "deployments"]).trim(),
        "yes"
    );
    assert_eq!(
        k.ok(&["auth", "can-i", "delete", "secrets", "-n", "kube-system"])
            .trim(),
        "yes"
    );
    let list = k.ok(&["auth", "can-i", "--list"]);
    assert!(list.contains("*.*"), "{list}");
    if k.bin.ends_with("1.27") {
        // kubectl 1.27 asks for authentication.k8s.io/v1beta1, which a 1.33 server
        // no longer serves either.
        let err = k.fails(&["auth", "whoami"]);
        assert!(
            err.contains("selfsubjectreviews API is not enabled"),
            "{err}"
        );
    } else {
        let whoami = k.ok(&["auth", "whoami"]);
        assert!(
            whoami.contains("Username") && whoami.contains("devcluster"),
            "{whoami}"
        );
    }

    // Strict field validation (kubectl's default), and --validate=false dropping the field.
    let typo = tmp.join("typo.yaml");
    std::fs::write(
        &typo,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\ndatta:\n  a: b\n",
    )
    .unwrap();
    let err = k.fails(&["create", "-f", typo.to_str().unwrap()]);
    assert!(
        err.contains(r#"strict decoding error: unknown field "datta""#),
        "{}: {err}",
        k.bin
    );
    let out = k.ok(&["create", "-f", typo.to_str().unwrap(), "--validate=false"]);
    assert!(out.contains("configmap/typo created"), "{out}");
    let stored: Value = serde_json::from_str(&k.ok(&["get", "cm", "typo", "-o", "json"])).unwrap();
    assert!(stored.get("datta").is_none(), "{stored}");
    let job_typo = tmp.join("job-typo.yaml");
    std::fs::write(
        &job_typo,
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: typo\nspec:\n  backofLimit: 2\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: c\n        image: busybox\n",
    )
    .unwrap();
    let err = k.fails(&["apply", "-f", job_typo.to_str().unwrap()]);
    assert!(
        err.contains(r#"unknown field "spec.backofLimit""#),
        "{}: {err}",
        k.bin
    );
    let out = k.run(&["apply", "-f", job_typo.to_str().unwrap(), "--validate=warn"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(r#"unknown field "spec.backofLimit""#),
        "{stderr}"
    );

    // roleRef is immutable.
    let err = k.fails(&[
        "patch",
        "rolebinding",
        "rel",
        "--type=merge",
        "-p",
        r#"{"roleRef":{"name":"other"}}"#,
    ]);
    assert!(err.contains("cannot change roleRef"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_lists_the_kinds_as_a_real_server_does() {
    let (srv, _client) = start().await;
    let url = srv.url();
    let (_, _, apps) = raw(&url, "GET", "/apis/apps/v1", &[], None).await;
    let find = |list: &Value, name: &str| -> Value {
        list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} missing: {list}"))
    };
    let deploy = find(&apps, "deployments");
    assert_eq!(deploy["shortNames"], json!(["deploy"]));
    assert_eq!(deploy["categories"], json!(["all"]));
    assert_eq!(deploy["namespaced"], true);
    find(&apps, "deployments/status");
    let (_, _, core) = raw(&url, "GET", "/api/v1", &[], None).await;
    assert_eq!(find(&core, "services")["shortNames"], json!(["svc"]));
    assert_eq!(find(&core, "serviceaccounts")["shortNames"], json!(["sa"]));
    assert!(find(&core, "serviceaccounts").get("categories").is_none());
    let (_, _, authz) = raw(&url, "GET", "/apis/authorization.k8s.io/v1", &[], None).await;
    assert_eq!(
        find(&authz, "selfsubjectaccessreviews")["verbs"],
        json!(["create"])
    );
    let (_, _, groups) = raw(&url, "GET", "/apis", &[], None).await;
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|g| g["name"].as_str())
        .collect();
    for g in [
        "apps",
        "autoscaling",
        "policy",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "authorization.k8s.io",
        "authentication.k8s.io",
    ] {
        assert!(names.contains(&g), "{g} missing: {names:?}");
    }
    // Reviews are create-only, and answered without being stored.
    let (code, _, _) = raw(
        &url,
        "GET",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        &[],
        None,
    )
    .await;
    assert_eq!(code, 405);
    let (code, _, review) = raw(
        &url,
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
        &[],
        Some(
            json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                    "spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}}),
        ),
    )
    .await;
    assert_eq!(code, 201, "{review}");
    assert_eq!(review["status"]["allowed"], true);
    assert!(
        review["status"]["reason"]
            .as_str()
            .unwrap()
            .contains("no authorization")
    );
    assert_eq!(review["spec"]["resourceAttributes"]["verb"], "get");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decoding_errors_are_the_real_servers() {
    let (srv, _client) = start().await;
    let url = srv.url();
    let deploy = |replicas: Value| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
               "spec": {"replicas": replicas, "selector": {"matchLabels": {"a": "b"}},
                        "template": {"metadata": {"labels": {"a": "b"}},
                                     "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    };
    let path = "/apis/apps/v1/namespaces/default/deployments";
    let (code, _, v) = raw(&url, "POST", path, &[], Some(deploy(json!("two")))).await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(
        v["message"],
        "Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
    );
    // Duplicate keys are a strict error too; without Strict the last one wins.
    let body =
        deploy(json!(2))
            .to_string()
            .replacen("\"replicas\":2", "\"replicas\":2,\"replicas\":3", 1);
    assert!(body.contains("\"replicas\":3"), "{body}");
    let (code, _, v) = raw_bytes(
        &url,
        "POST",
        &format!("{path}?fieldValidation=Strict"),
        &[],
        Some(body.clone().into_bytes()),
    )
    .await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(
        v["message"],
        "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: duplicate field \"spec.replicas\""
    );
    let (code, _, v) = raw_bytes(&url, "POST", path, &[], Some(body.into_bytes())).await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["spec"]["replicas"], 3);
    assert_eq!(v["status"], json!(null), "status is reset on create");

    // Warn: stored without the field, and a Warning header naming it.
    let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w"},
                        "data": {"a": "b"}, "datta": {"x": "y"}, "metadata2": 1});
    let (code, head, v) = raw_with_headers(
        &url,
        "POST",
        "/api/v1/namespaces/default/configmaps?fieldValidation=Warn",
        cm.take(),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    assert!(v.get("datta").is_none(), "{v}");
    assert!(
        head.contains(r#"warning: 299 - "unknown field \"datta\"""#),
        "{head}"
    );
    assert!(head.contains(r#"unknown field \"metadata2\""#), "{head}");

    // A 422 names the Kind in details.kind, the resource in NotFound.
    let (code, _, v) = raw(
        &url,
        "POST",
        "/apis/pdfx.dev/v1alpha1/namespaces/default/pdfextractions",
        &[],
        Some(
            json!({"apiVersion": "pdfx.dev/v1alpha1", "kind": "PdfExtraction",
                    "metadata": {"name": "x"}, "spec": {}}),
        ),
    )
    .await;
    assert_eq!(code, 422, "{v}");
    assert_eq!(v["details"]["kind"], "PdfExtraction");
    assert_eq!(v["details"]["group"], "pdfx.dev");
    let (code, _, v) = raw(
        &url,
        "GET",
        "/apis/apps/v1/namespaces/default/deployments/nope",
        &[],
        None,
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(v["details"]["kind"], "deployments");
}

/// POST JSON and return (code, lowercased response head, body).
async fn raw_with_headers(
    url: &str,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, String, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.to_string();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (
        code,
        head.to_ascii_lowercase(),
        serde_json::from_str(rest).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_client_crud_of_deployments_and_services() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Service;
    use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};

    let (_srv, client) = start().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}
    }))
    .unwrap();
    let created = deployments
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let c = &created
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0];
    assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
    let patched = deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.spec.unwrap().replicas, Some(3));
    assert_eq!(patched.metadata.generation, Some(2));
    // Status through /status (what a controller would write).
    let status = deployments
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 3, "readyReplicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(status.status.unwrap().ready_replicas, Some(3));
    let list = deployments.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);

    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let s: Service = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}
    }))
    .unwrap();
    let created = services.create(&PostParams::default(), &s).await.unwrap();
    let spec = created.spec.unwrap();
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(spec.session_affinity.as_deref(), Some("None"));
    let ip = spec.cluster_ip.unwrap();
    assert!(ip.starts_with("10.") && ip != "10.96.0.1", "{ip}");
    let port = &spec.ports.unwrap()[0];
    assert_eq!(port.protocol.as_deref(), Some("TCP"));
    assert_eq!(
        port.target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(80))
    );
    // A replace without the allocated IP keeps it; changing it is refused.
    let mut again = services.get("web").await.unwrap();
    again.spec.as_mut().unwrap().cluster_ip = None;
    again.spec.as_mut().unwrap().cluster_ips = None;
    let replaced = services
        .replace("web", &PostParams::default(), &again)
        .await
        .unwrap();
    assert_eq!(
        replaced.spec.as_ref().unwrap().cluster_ip.as_deref(),
        Some(ip.as_str())
    );
    let err = services
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"clusterIP": "10.96.0.99"}})),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("field is immutable"), "{err}");
    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    deployments
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    assert!(deployments.get_opt("web").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_client_manages_deployments_and_services() {
    let (srv, _client) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, pdfx_devcluster::kubeconfig(&srv.url())).unwrap();
    let out = blocking(move || {
        Command::new(python())
            .arg(repo().join("devcluster/tests/python_client.py"))
            .arg(&kubeconfig)
            .output()
            .unwrap()
    })
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python client failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("python client: ok"), "{stdout}");
}
