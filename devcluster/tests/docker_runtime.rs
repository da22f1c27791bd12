//! The executor's container runtime mode on the machine's Docker engine: a
//! pod's security context, memory limit, emptyDir and termination message are
//! enforced and read back by a real container runtime. Uses the Debian base
//! image that `docker/base/build-base.sh` makes (scripts/test.sh builds it
//! before the tests); without a Docker engine the tests say so and pass.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, LogParams, PostParams};
use kube::{Client, ResourceExt};
use pdfx_devcluster::executor::runtime::{RuntimeArgs, RuntimeKind};
use pdfx_devcluster::executor::{Executor, ExecutorConfig, MEMORY_ANNOTATION};
use pdfx_devcluster::{ApiServer, Running};
use serde_json::json;

const BASE_IMAGE: &str = "debian:bookworm-slim";

fn docker_ok() -> bool {
    let answers = std::process::Command::new("docker")
        .args(["image", "inspect", BASE_IMAGE])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !answers {
        eprintln!(
            "NOT RUN: no Docker engine with {BASE_IMAGE} here (docker/base/build-base.sh makes it)"
        );
    }
    answers
}

/// Removes the containers of a test's executor however the test ends (a
/// panicking test drops its executor before it could remove them).
struct Containers(tempfile::TempDir);

impl Containers {
    fn ids(&self) -> String {
        let label = format!(
            "label=devcluster.pdfx.dev/executor={}",
            self.0.path().display()
        );
        let out = std::process::Command::new("docker")
            .args(["ps", "--all", "--quiet", "--filter", &label])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        let ids = self.ids();
        if !ids.is_empty() {
            let _ = std::process::Command::new("docker")
                .args(["rm", "--force"])
                .args(ids.split_whitespace())
                .output();
        }
    }
}

async fn start_docker_executor() -> (Running, Client, Containers) {
    let server = ApiServer::in_memory();
    let mut running = pdfx_devcluster::start(server.clone(), "127.0.0.1:0")
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let runtime = RuntimeArgs {
        kind: RuntimeKind::Docker,
        docker_network: "none".into(),
    };
    let cfg = ExecutorConfig {
        slots: 4,
        work_dir: work.path().to_path_buf(),
        container_runtime: runtime.container_runtime(Vec::new()).await.unwrap(),
        ..Default::default()
    };
    running.attach(tokio::spawn(Executor::new(server, cfg).run()));
    let client = client_for(&running.url());
    // The work dir lives as long as the guard: it is the containers' label.
    let containers = Containers(work);
    (running, client, containers)
}

/// A Job whose one container is `sh -c script` in the base image, as the
/// operator's runner Job is secured (non-root, read-only root, no capabilities,
/// no privilege escalation, /tmp an emptyDir).
fn secured_job(name: &str, script: &str, memory: &str) -> Job {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532},
            "containers": [{
                "name": "main", "image": BASE_IMAGE, "command": ["/bin/sh", "-c", script],
                "resources": {"limits": {"memory": memory}},
                "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                    "capabilities": {"drop": ["ALL"]}},
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                "terminationMessagePath": "/dev/termination-log"
            }],
            "volumes": [{"name": "tmp", "emptyDir": {}}]
        }}}
    }))
    .unwrap()
}

async fn finished_pod(client: &Client, job: &str) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    eventually(|| {
        let pods = pods.clone();
        let selector = format!("job-name={job}");
        async move {
            let list = pods
                .list(&ListParams::default().labels(&selector))
                .await
                .unwrap();
            list.items.into_iter().find(|p| {
                matches!(
                    p.status.as_ref().and_then(|s| s.phase.as_deref()),
                    Some("Succeeded" | "Failed")
                )
            })
        }
    })
    .await
}

#[tokio::test]
async fn the_security_context_is_enforced_by_the_engine() {
    if !docker_ok() {
        return;
    }
    let (_running, client, _work) = start_docker_executor().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    // Everything the container sees of its own confinement goes into its
    // termination message, which the executor reads back.
    let script = r#"{
        echo "uid=$(id -u) gid=$(id -g) groups=$(id -G)";
        if touch /rootfs-probe 2>/dev/null; then echo root=writable; else echo root=read-only; fi;
        if touch /tmp/probe 2>/dev/null; then echo tmp=writable; else echo tmp=read-only; fi;
        grep -E '^(NoNewPrivs|CapEff)' /proc/self/status;
    } > /dev/termination-log; echo hello from the container; echo and its stderr >&2"#;
    jobs.create(
        &PostParams::default(),
        &secured_job("secured", script, "64Mi"),
    )
    .await
    .unwrap();
    let pod = finished_pod(&client, "secured").await;
    let t = terminated(&pod);
    let message = t.message.clone().unwrap_or_default();
    assert_eq!(t.exit_code, 0, "{message}");
    assert_eq!(t.reason.as_deref(), Some("Completed"));
    for expected in [
        "uid=65532 gid=65532",
        "65532",
        "root=read-only",
        "tmp=writable",
        "NoNewPrivs:\t1",
        "CapEff:\t0000000000000000",
    ] {
        assert!(
            message.contains(expected),
            "{expected:?} not in {message:?}"
        );
    }
    assert_eq!(
        pod.annotations().get(MEMORY_ANNOTATION).map(String::as_str),
        Some("container-runtime")
    );
    // What the container printed is its pod's log.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let log = pods
        .logs(&pod.name_any(), &LogParams::default())
        .await
        .unwrap();
    assert!(log.contains("hello from the container"), "{log:?}");
    assert!(log.contains("and its stderr"), "{log:?}");
}

#[tokio::test]
async fn exit_codes_and_oom_kills_come_back_from_the_engine() {
    if !docker_ok() {
        return;
    }
    let (_running, client, _work) = start_docker_executor().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    jobs.create(
        &PostParams::default(),
        &secured_job(
            "exits-3",
            "echo bad input > /dev/termination-log; exit 3",
            "64Mi",
        ),
    )
    .await
    .unwrap();
    // `tail` of an endless line keeps all of it in memory: the engine's
    // cgroup kills it at the limit.
    jobs.create(
        &PostParams::default(),
        &secured_job("oom", "tail /dev/zero", "32Mi"),
    )
    .await
    .unwrap();
    let failed = finished_pod(&client, "exits-3").await;
    let t = terminated(&failed);
    assert_eq!((t.exit_code, t.reason.as_deref()), (3, Some("Error")));
    assert_eq!(t.message.as_deref().map(str::trim), Some("bad input"));
    let oom = finished_pod(&client, "oom").await;
    let t = terminated(&oom);
    assert_eq!((t.exit_code, t.reason.as_deref()), (137, Some("OOMKilled")));
}

#[tokio::test]
async fn a_root_image_under_run_as_non_root_and_a_missing_image_never_start() {
    if !docker_ok() {
        return;
    }
    let (_running, client, _work) = start_docker_executor().await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod = |name: &str, image: &str, non_root: bool| -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {
            "restartPolicy": "Never",
            "securityContext": {"runAsNonRoot": non_root},
            "containers": [{"name": "main", "image": image, "command": ["true"]}]}}))
        .unwrap()
    };
    pods.create(&PostParams::default(), &pod("as-root", BASE_IMAGE, true))
        .await
        .unwrap();
    pods.create(
        &PostParams::default(),
        &pod("missing", "pdfx.invalid/no-such-image:1", false),
    )
    .await
    .unwrap();
    let waiting = |name: &'static str| {
        let pods = pods.clone();
        async move {
            eventually(|| {
                let pods = pods.clone();
                async move {
                    let p = pods.get(name).await.unwrap();
                    let w = p.status?.container_statuses?[0].state.clone()?.waiting?;
                    Some((w.reason.unwrap_or_default(), w.message.unwrap_or_default()))
                }
            })
            .await
        }
    };
    let (reason, message) = waiting("as-root").await;
    assert_eq!(reason, "CreateContainerConfigError");
    assert!(
        message.contains("container has runAsNonRoot and image will run as root"),
        "{message}"
    );
    let (reason, message) = waiting("missing").await;
    assert!(
        reason == "ErrImagePull" || reason == "ImagePullBackOff",
        "{reason}"
    );
    assert!(
        reason == "ImagePullBackOff" || message.contains("no-such-image"),
        "{message}"
    );
}

#[tokio::test]
async fn deleting_a_running_pod_removes_its_container() {
    if !docker_ok() {
        return;
    }
    let (_running, client, work) = start_docker_executor().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    jobs.create(
        &PostParams::default(),
        &secured_job("sleeper", "sleep 600", "32Mi"),
    )
    .await
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let running = eventually(|| {
        let pods = pods.clone();
        async move {
            pods.list(&ListParams::default().labels("job-name=sleeper"))
                .await
                .unwrap()
                .items
                .into_iter()
                .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        }
    })
    .await;
    let containers = || work.ids();
    // Running is reported once `docker run` starts; the engine creates the
    // container a moment later.
    eventually(|| async { (!containers().is_empty()).then_some(()) }).await;
    pods.delete(&running.name_any(), &DeleteParams::default())
        .await
        .unwrap();
    eventually(|| {
        let pods = pods.clone();
        let name = running.name_any();
        async move { pods.get_opt(&name).await.unwrap().is_none().then_some(()) }
    })
    .await;
    eventually(|| async { containers().is_empty().then_some(()) }).await;
}
