//! The executor as a scheduler and kubelet would behave: pods bound only when
//! their requests fit the node (else `Unschedulable` with the scheduler's
//! message), the Node object with its capacity, and images that map to no
//! program waiting in `ErrImagePull` / `ImagePullBackOff`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod, PodCondition};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use pdfx_devcluster::executor::{Executor, ExecutorConfig, NODE_NAME, machine_memory};
use pdfx_devcluster::{ApiServer, Running};
use serde_json::{Value, json};

const GIB: u64 = 1 << 30;

async fn start(
    configure: impl FnOnce(&mut ExecutorConfig),
) -> (Running, Client, tempfile::TempDir) {
    let server = ApiServer::in_memory();
    let mut running = pdfx_devcluster::start(server.clone(), "127.0.0.1:0")
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut cfg = ExecutorConfig {
        slots: 2,
        work_dir: work.path().join("pods"),
        disable_cgroups: true,
        ..Default::default()
    };
    cfg.images
        .insert("pdfx-ocr-runner".into(), "/bin/sh".into());
    configure(&mut cfg);
    running.attach(tokio::spawn(Executor::new(server, cfg).run()));
    let client = client_for(&running.url());
    (running, client, work)
}

/// A Job running `script` with `sh -c`, asking for `resources`.
fn job(name: &str, image: &str, script: &str, resources: Value) -> Job {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [{
            "name": "runner", "image": image, "args": ["-c", script], "resources": resources
        }]}}}
    }))
    .unwrap()
}

fn memory(request: &str) -> Value {
    json!({"requests": {"memory": request}, "limits": {"memory": request}})
}

async fn pod_of(client: &Client, job: &str) -> Option<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.list(&ListParams::default().labels(&format!("job-name={job}")))
        .await
        .unwrap()
        .items
        .into_iter()
        .next()
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn scheduled(pod: &Pod) -> Option<PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled")
        .cloned()
}

/// The pod of `job` once `test` holds for it.
async fn pod_when(client: &Client, job: &str, test: impl Fn(&Pod) -> bool) -> Pod {
    eventually(|| async { pod_of(client, job).await.filter(|p| test(p)) }).await
}

fn unschedulable(pod: &Pod) -> Option<String> {
    scheduled(pod)
        .filter(|c| c.status == "False" && c.reason.as_deref() == Some("Unschedulable"))
        .and_then(|c| c.message)
}

/// (type, reason, note) of the events about pod `name`, oldest first.
async fn events_of(client: &Client, name: &str) -> Vec<(String, String, String)> {
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let mut items = events.list(&ListParams::default()).await.unwrap().items;
    items.sort_by_key(|e| e.event_time.clone().map(|t| t.0));
    items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| {
            (
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.note.unwrap_or_default(),
            )
        })
        .collect()
}

async fn job_finished(jobs: &Api<Job>, name: &str) -> String {
    eventually(|| async {
        let j = jobs.get(name).await.unwrap();
        j.status?.conditions?.into_iter().find_map(|c| {
            ((c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
                .then_some(c.type_)
        })
    })
    .await
}

#[tokio::test]
async fn the_node_is_served_with_its_capacity() {
    let (_srv, client, _w) = start(|c| {
        c.slots = 3;
        c.node_memory = Some(3 * GIB);
        c.node_cpu_millis = Some(1500);
    })
    .await;
    let nodes: Api<Node> = Api::all(client.clone());
    let node = eventually(|| async { nodes.get_opt(NODE_NAME).await.unwrap() }).await;
    let status = node.status.unwrap();
    for resources in [status.allocatable.unwrap(), status.capacity.unwrap()] {
        let text = |k: &str| resources.get(k).map(|q| q.0.clone());
        assert_eq!(
            (text("memory"), text("cpu"), text("pods")),
            (Some("3Gi".into()), Some("1500m".into()), Some("3".into()))
        );
    }
    let ready = status.conditions.unwrap();
    assert!(
        ready
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    );
    assert_eq!(
        nodes
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );

    // Without settings the node is this machine.
    let (_srv, client, _w) = start(|_| {}).await;
    let nodes: Api<Node> = Api::all(client);
    let node = eventually(|| async { nodes.get_opt(NODE_NAME).await.unwrap() }).await;
    let allocatable = node.status.unwrap().allocatable.unwrap();
    let bytes = pdfx_runtime::quantity::bytes(&allocatable["memory"]).unwrap();
    assert_eq!(Some(bytes), machine_memory());
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(allocatable["cpu"].0, cpus.to_string());
}

/// A pod asking more than the node has stays Pending with the scheduler's
/// reason and message (limits without requests count as requests), and does
/// not hold back a pod that fits.
#[tokio::test]
async fn a_pod_larger_than_the_node_stays_pending_unschedulable() {
    let (_srv, client, work) = start(|c| {
        c.node_memory = Some(GIB);
        c.node_cpu_millis = Some(2000);
    })
    .await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let marker = work.path().join("ran");
    let pp = PostParams::default();
    let touch = format!("touch {}", marker.display());
    jobs.create(&pp, &job("huge", "pdfx-ocr-runner", &touch, memory("2Gi")))
        .await
        .unwrap();
    let many_cpus = json!({"limits": {"cpu": "4", "memory": "64Mi"}});
    jobs.create(&pp, &job("wide", "pdfx-ocr-runner", &touch, many_cpus))
        .await
        .unwrap();

    let huge = pod_when(&client, "huge", |p| unschedulable(p).is_some()).await;
    assert_eq!(
        unschedulable(&huge).unwrap(),
        "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    );
    assert_eq!(phase(&huge), "Pending");
    assert!(scheduled(&huge).unwrap().last_transition_time.is_some());
    assert_eq!(huge.spec.as_ref().unwrap().node_name, None, "not bound");
    let events = events_of(&client, &huge.name_any()).await;
    assert_eq!(
        events,
        [(
            "Warning".to_string(),
            "FailedScheduling".to_string(),
            unschedulable(&huge).unwrap()
        )],
        "the scheduler says it once"
    );
    assert_eq!(
        huge.status.as_ref().unwrap().qos_class.as_deref(),
        Some("Burstable")
    );
    let wide = pod_when(&client, "wide", |p| unschedulable(p).is_some()).await;
    assert!(
        unschedulable(&wide)
            .unwrap()
            .starts_with("0/1 nodes are available: 1 Insufficient cpu."),
        "{:?}",
        unschedulable(&wide)
    );
    // The API server defaulted the requests to the limits.
    let requests = wide.spec.unwrap().containers[0]
        .resources
        .clone()
        .unwrap()
        .requests
        .unwrap();
    assert_eq!(requests["cpu"].0, "4");
    assert_eq!(requests["memory"].0, "64Mi");

    // A pod that fits runs beside them.
    jobs.create(
        &pp,
        &job("small", "pdfx-ocr-runner", "exit 0", memory("256Mi")),
    )
    .await
    .unwrap();
    assert_eq!(job_finished(&jobs, "small").await, "Complete");
    let huge = pod_of(&client, "huge").await.unwrap();
    assert_eq!(phase(&huge), "Pending");
    assert!(unschedulable(&huge).is_some());
    assert!(!marker.exists(), "an unschedulable pod ran");
    let status = jobs.get("huge").await.unwrap().status.unwrap();
    assert_eq!((status.active, status.ready), (Some(1), Some(0)));

    // Deleting the Job takes its never-started pod with it.
    jobs.delete("huge", &DeleteParams::foreground())
        .await
        .unwrap();
    eventually(|| async { pod_of(&client, "huge").await.is_none().then_some(()) }).await;
}

/// Two pods whose memory fits only one at a time: the second waits
/// Unschedulable while the first runs, then runs once it has ended.
#[tokio::test]
async fn pods_that_fit_only_one_at_a_time_run_one_after_the_other() {
    let (_srv, client, work) = start(|c| c.node_memory = Some(GIB)).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let gate = work.path().join("gate");
    let script = format!("while [ ! -e {} ]; do sleep 0.05; done", gate.display());
    let pp = PostParams::default();
    jobs.create(
        &pp,
        &job("first", "pdfx-ocr-runner", &script, memory("768Mi")),
    )
    .await
    .unwrap();
    pod_when(&client, "first", |p| phase(p) == "Running").await;
    jobs.create(
        &pp,
        &job("second", "pdfx-ocr-runner", &script, memory("768Mi")),
    )
    .await
    .unwrap();
    let waiting = pod_when(&client, "second", |p| unschedulable(p).is_some()).await;
    assert!(
        unschedulable(&waiting)
            .unwrap()
            .starts_with("0/1 nodes are available: 1 Insufficient memory."),
        "{:?}",
        unschedulable(&waiting)
    );
    // While the first runs (the gate is closed), the second cannot start.
    assert_eq!(phase(&pod_of(&client, "first").await.unwrap()), "Running");
    assert_eq!(phase(&waiting), "Pending");

    std::fs::write(&gate, "").unwrap();
    assert_eq!(job_finished(&jobs, "first").await, "Complete");
    assert_eq!(job_finished(&jobs, "second").await, "Complete");
    let times = |pod: Pod| {
        let t = pod.status.unwrap().container_statuses.unwrap()[0]
            .state
            .clone()
            .unwrap()
            .terminated
            .unwrap();
        (t.started_at.unwrap().0, t.finished_at.unwrap().0)
    };
    let (_, first_done) = times(pod_of(&client, "first").await.unwrap());
    let (second_started, _) = times(pod_of(&client, "second").await.unwrap());
    assert!(
        second_started >= first_done,
        "{second_started} < {first_done}"
    );
    let second = pod_of(&client, "second").await.unwrap();
    let bound = scheduled(&second).unwrap();
    assert_eq!(bound.status, "True", "{bound:?}");
    assert_eq!(
        second.spec.clone().unwrap().node_name.as_deref(),
        Some(NODE_NAME),
        "bound to the node"
    );
    let reasons: Vec<String> = events_of(&client, &second.name_any())
        .await
        .into_iter()
        .map(|(_, reason, _)| reason)
        .collect();
    assert_eq!(reasons, ["FailedScheduling", "Scheduled"]);
}

/// An image mapped to no program: the pod is bound and waits in
/// `ErrImagePull`, then `ImagePullBackOff`, holding its slot as a real pod
/// does; nothing runs and the Job does not fail.
#[tokio::test]
async fn an_unmapped_image_waits_in_err_image_pull_then_image_pull_back_off() {
    let (_srv, client, _w) = start(|c| c.slots = 1).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watch = tokio::spawn(async move {
        let stream = watcher(pods, watcher::Config::default().labels("job-name=pull"));
        futures::pin_mut!(stream);
        while let Some(Ok(event)) = stream.next().await {
            if let watcher::Event::Apply(p) | watcher::Event::InitApply(p) = event {
                let _ = tx.send(p);
            }
        }
    });
    let image = "registry.example/pdfx/missing:1.0";
    jobs.create(
        &PostParams::default(),
        &job("pull", image, "exit 0", memory("64Mi")),
    )
    .await
    .unwrap();

    let mut reasons: Vec<String> = Vec::new();
    let mut last = None;
    while reasons.last().map(String::as_str) != Some("ImagePullBackOff") {
        let pod = tokio::time::timeout(WAIT, rx.recv())
            .await
            .expect("no pod event in time")
            .expect("watch ended");
        let waiting = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|cs| cs[0].state.as_ref()?.waiting.clone());
        if let Some(w) = waiting {
            let reason = w.reason.unwrap_or_default();
            if reasons.last() != Some(&reason) {
                reasons.push(reason.clone());
            }
            let message = w.message.unwrap_or_default();
            assert!(message.contains(image), "{message}");
            assert_eq!(phase(&pod), "Pending");
            assert_eq!(scheduled(&pod).map(|c| c.status), Some("True".into()));
        }
        last = Some(pod);
    }
    watch.abort();
    assert_eq!(reasons, ["ErrImagePull", "ImagePullBackOff"]);
    let pod = last.unwrap();
    let status = pod.status.clone().unwrap();
    assert!(status.start_time.is_some());
    let message = status.container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .waiting
        .unwrap()
        .message
        .unwrap();
    assert_eq!(message, format!("Back-off pulling image {image:?}"));
    let events = events_of(&client, &pod.name_any()).await;
    let reasons: Vec<&str> = events.iter().map(|(_, r, _)| r.as_str()).collect();
    assert_eq!(
        reasons,
        ["Scheduled", "Failed", "Failed", "BackOff", "Failed"]
    );
    let notes: Vec<&str> = events.iter().map(|(_, _, n)| n.as_str()).collect();
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with(&format!("Failed to pull image {image:?}"))),
        "{notes:?}"
    );
    for note in ["Error: ErrImagePull", "Error: ImagePullBackOff"] {
        assert!(notes.contains(&note), "{notes:?}");
    }
    let job_status = jobs.get("pull").await.unwrap().status.unwrap();
    assert_eq!(job_status.active, Some(1));
    assert!(job_status.failed.unwrap_or(0) == 0);

    // It holds the node's one pod slot: another pod waits until it is deleted.
    jobs.create(
        &PostParams::default(),
        &job("next", "pdfx-ocr-runner", "exit 0", memory("64Mi")),
    )
    .await
    .unwrap();
    let next = pod_when(&client, "next", |p| unschedulable(p).is_some()).await;
    assert!(
        unschedulable(&next).unwrap().contains("1 Too many pods"),
        "{:?}",
        unschedulable(&next)
    );
    jobs.delete("pull", &DeleteParams::foreground())
        .await
        .unwrap();
    assert_eq!(job_finished(&jobs, "next").await, "Complete");
    assert!(
        pod_of(&client, "next")
            .await
            .unwrap()
            .name_any()
            .starts_with("next-")
    );
}
