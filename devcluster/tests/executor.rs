//! The local executor with real processes: Complete, PodFailurePolicy, OOMKilled,
//! deadlines, backoff, deletion killing the process, termination messages, env,
//! suspend/resume and ttlSecondsAfterFinished.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::batch::v1::JobCondition;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use pdfx_devcluster::executor::{Executor, ExecutorConfig, MEMORY_ANNOTATION};
use pdfx_devcluster::{ApiServer, Running};
use serde_json::{Value, json};

async fn start_executor() -> (Running, Client, tempfile::TempDir) {
    let server = ApiServer::in_memory();
    let mut running = pdfx_devcluster::start(server.clone(), "127.0.0.1:0")
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut cfg = ExecutorConfig {
        slots: 2,
        work_dir: work.path().to_path_buf(),
        ..Default::default()
    };
    cfg.images
        .insert("pdfx-ocr-runner".into(), "/bin/sh".into());
    running.attach(tokio::spawn(Executor::new(server, cfg).run()));
    let client = client_for(&running.url());
    (running, client, work)
}

fn job(name: &str, script: &str, extra_spec: Value, container_extra: Value) -> Job {
    let mut container =
        json!({"name": "runner", "image": "pdfx-ocr-runner:latest", "args": ["-c", script]});
    if let (Some(c), Some(e)) = (container.as_object_mut(), container_extra.as_object()) {
        c.extend(e.clone());
    }
    let mut spec = json!({"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [container]}}});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra_spec.as_object()) {
        s.extend(e.clone());
    }
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
}

async fn wait_finished(jobs: &Api<Job>, name: &str) -> (String, String) {
    eventually(|| {
        let jobs = jobs.clone();
        let name = name.to_string();
        async move {
            let j = jobs.get(&name).await.unwrap();
            j.status.and_then(|s| s.conditions).and_then(|cs| {
                cs.into_iter()
                    .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
                    .map(|c| (c.type_, c.reason.unwrap_or_default()))
            })
        }
    })
    .await
}

async fn pods_of(client: &Client, job: &str) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.list(&ListParams::default().labels(&format!("job-name={job}")))
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn exit_zero_completes_with_termination_message_and_env() {
    let (_srv, client, _w) = start_executor().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let j = job(
        "ok",
        "echo \"{\\\"pod\\\":\\\"$POD_NAME\\\",\\\"ns\\\":\\\"$POD_NS\\\",\\\"x\\\":\\\"$X\\\"}\" > \"$TERMINATION_MESSAGE_PATH\"",
        json!({}),
        json!({"env": [
            {"name": "X", "value": "y"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}
        ]}),
    );
    jobs.create(&PostParams::default(), &j).await.unwrap();
    assert_eq!(wait_finished(&jobs, "ok").await.0, "Complete");
    let done = jobs.get("ok").await.unwrap().status.unwrap();
    assert_eq!(done.succeeded, Some(1));
    assert!(done.completion_time.is_some() && done.start_time.is_some());
    let pods = pods_of(&client, "ok").await;
    assert_eq!(pods.len(), 1);
    let p = &pods[0];
    assert_eq!(
        p.status.clone().unwrap().phase.as_deref(),
        Some("Succeeded")
    );
    let t = terminated(p);
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    let msg: Value = serde_json::from_str(t.message.as_deref().unwrap().trim()).unwrap();
    assert_eq!(msg, json!({"pod": p.name_any(), "ns": "default", "x": "y"}));
    assert_eq!(p.owner_references()[0].kind, "Job");
}

#[tokio::test]
async fn pod_failure_policy_fails_job_without_retry_and_backoff_limit() {
    let (_srv, client, _w) = start_executor().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let pfp = json!({"backoffLimit": 3, "podFailurePolicy": {"rules": [
        {"action": "FailJob", "onExitCodes": {"containerName": "runner", "operator": "In", "values": [2, 3]}}
    ]}});
    jobs.create(
        &PostParams::default(),
        &job("invalid", "exit 2", pfp, json!({})),
    )
    .await
    .unwrap();
    assert_eq!(
        wait_finished(&jobs, "invalid").await,
        ("Failed".to_string(), "PodFailurePolicy".to_string())
    );
    let pods = pods_of(&client, "invalid").await;
    assert_eq!(pods.len(), 1, "no retry after a FailJob rule");
    let t = terminated(&pods[0]);
    assert_eq!((t.exit_code, t.reason.as_deref()), (2, Some("Error")));

    // Exit 1 is retried up to backoffLimit, then BackoffLimitExceeded.
    jobs.create(
        &PostParams::default(),
        &job("transient", "exit 1", json!({"backoffLimit": 1}), json!({})),
    )
    .await
    .unwrap();
    assert_eq!(
        wait_finished(&jobs, "transient").await,
        ("Failed".to_string(), "BackoffLimitExceeded".to_string())
    );
    assert_eq!(pods_of(&client, "transient").await.len(), 2);
}

#[tokio::test]
async fn memory_hog_is_oom_killed() {
    let (_srv, client, _w) = start_executor().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    // `tail` keeps a newline-free input in memory: ~400 MB against a 64 MiB limit.
    let hog = job(
        "hog",
        "head -c 400000000 /dev/zero | tail > /dev/null",
        json!({}),
        json!({"resources": {"limits": {"memory": "64Mi"}, "requests": {"memory": "64Mi"}}}),
    );
    jobs.create(&PostParams::default(), &hog).await.unwrap();
    wait_finished(&jobs, "hog").await;
    let pods = pods_of(&client, "hog").await;
    let method = pods[0]
        .annotations()
        .get(MEMORY_ANNOTATION)
        .cloned()
        .unwrap_or_default();
    let t = terminated(&pods[0]);
    println!(
        "memory enforcement: {method}; exit {} {:?}",
        t.exit_code, t.reason
    );
    if method.starts_with("cgroup") {
        assert_eq!(
            (t.exit_code, t.reason.as_deref()),
            (137, Some("OOMKilled")),
            "enforced by {method}"
        );
    } else {
        println!(
            "no memory cgroup could be created here (enforcement: {method}); exit {} {:?}",
            t.exit_code, t.reason
        );
        assert_ne!(t.exit_code, 0);
    }
}

#[tokio::test]
async fn active_deadline_and_deletion_kill_the_process() {
    let (_srv, client, work) = start_executor().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    jobs.create(
        &PostParams::default(),
        &job(
            "slow",
            "exec sleep 300",
            json!({"activeDeadlineSeconds": 1}),
            json!({}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        wait_finished(&jobs, "slow").await,
        ("Failed".to_string(), "DeadlineExceeded".to_string())
    );
    eventually(|| {
        let client = client.clone();
        async move {
            let pods = pods_of(&client, "slow").await;
            (pods[0].status.clone().unwrap().phase.as_deref() == Some("Failed")).then_some(())
        }
    })
    .await;

    // Deleting the Job kills its process.
    let pidfile = work.path().join("pid");
    let script = format!("echo $$ > {} && exec sleep 300", pidfile.display());
    jobs.create(
        &PostParams::default(),
        &job("victim", &script, json!({}), json!({})),
    )
    .await
    .unwrap();
    let pid: String = eventually(|| {
        let pidfile = pidfile.clone();
        async move {
            std::fs::read_to_string(&pidfile)
                .ok()
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().to_string())
        }
    })
    .await;
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    jobs.delete("victim", &DeleteParams::background())
        .await
        .unwrap();
    eventually(|| {
        let pid = pid.clone();
        async move {
            // Gone, or a zombie already reaped by tokio's child handling.
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            (stat.is_empty() || stat.contains(") Z ")).then_some(())
        }
    })
    .await;
}

/// The next watch event, within the generous timeout.
async fn next_event<T>(rx: &mut tokio::sync::mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("no watch event in time")
        .expect("watch ended")
}

fn job_condition(j: &Job, type_: &str) -> Option<JobCondition> {
    j.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == type_).cloned())
}

#[tokio::test]
async fn suspended_job_starts_no_pod_until_resumed() {
    let (_srv, client, work) = start_executor().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let marker = work.path().join("ran");
    let script = format!("touch {}", marker.display());
    jobs.create(
        &PostParams::default(),
        &job("held", &script, json!({"suspend": true}), json!({})),
    )
    .await
    .unwrap();

    // The executor has seen the Job once it carries Suspended=True.
    let suspended = eventually(|| {
        let jobs = jobs.clone();
        async move {
            let j = jobs.get("held").await.unwrap();
            job_condition(&j, "Suspended").filter(|c| c.status == "True")
        }
    })
    .await;
    assert_eq!(
        (suspended.reason.as_deref(), suspended.message.as_deref()),
        (Some("JobSuspended"), Some("Job suspended"))
    );
    assert!(suspended.last_transition_time.is_some());

    // For a few seconds (many reconcile rounds) nothing starts. Slowness can only
    // hide a bug here, never fail a correct executor.
    let quiet_until = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
    while tokio::time::Instant::now() < quiet_until {
        assert!(
            pods_of(&client, "held").await.is_empty(),
            "a suspended job started a pod"
        );
        let status = jobs.get("held").await.unwrap().status.unwrap();
        assert_eq!(status.active.unwrap_or(0), 0);
        assert!(
            status.start_time.is_none(),
            "a suspended job has not started"
        );
        assert!(job_condition(&jobs.get("held").await.unwrap(), "Complete").is_none());
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(!marker.exists(), "the program ran while suspended");

    // Resume with a JSON merge patch: the pod runs and the Job completes.
    jobs.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"suspend": false}})),
    )
    .await
    .unwrap();
    assert_eq!(
        wait_finished(&jobs, "held").await,
        ("Complete".to_string(), "CompletionsReached".to_string())
    );
    assert!(marker.exists(), "the program ran after resuming");
    let done = jobs.get("held").await.unwrap();
    let status = done.status.clone().unwrap();
    assert_eq!(status.succeeded, Some(1));
    assert!(status.start_time.is_some());
    // Resuming turns the condition False (JobResumed) rather than removing it.
    let resumed = job_condition(&done, "Suspended").unwrap();
    assert_eq!(
        (
            resumed.status.as_str(),
            resumed.reason.as_deref(),
            resumed.message.as_deref()
        ),
        ("False", Some("JobResumed"), Some("Job resumed"))
    );
    let pods = pods_of(&client, "held").await;
    assert_eq!(pods.len(), 1);
    assert_eq!(
        pods[0].status.clone().unwrap().phase.as_deref(),
        Some("Succeeded")
    );
}

#[tokio::test]
async fn ttl_after_finished_deletes_the_job_and_its_pods() {
    let (_srv, client, _w) = start_executor().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");

    // A Job without the field stays after finishing.
    jobs.create(
        &PostParams::default(),
        &job("keeper", "exit 0", json!({}), json!({})),
    )
    .await
    .unwrap();
    assert_eq!(wait_finished(&jobs, "keeper").await.0, "Complete");

    // Watch Jobs (forwarded through a channel) before creating the TTL one, so
    // that every state it goes through is seen, however fast it goes.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stream = watcher(jobs.clone(), watcher::Config::default());
    let forward = tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            if tx.send(ev).is_err() {
                break;
            }
        }
    });
    loop {
        if let watcher::Event::InitDone = next_event(&mut rx).await.unwrap() {
            break;
        }
    }

    jobs.create(
        &PostParams::default(),
        &job(
            "ephemeral",
            "exit 0",
            json!({"ttlSecondsAfterFinished": 1}),
            json!({}),
        ),
    )
    .await
    .unwrap();
    let mut completed: Option<JobCondition> = None;
    loop {
        match next_event(&mut rx).await.unwrap() {
            watcher::Event::Apply(j) if j.name_any() == "ephemeral" => {
                if let Some(c) = job_condition(&j, "Complete").filter(|c| c.status == "True") {
                    completed = Some(c);
                }
            }
            watcher::Event::Delete(j) if j.name_any() == "ephemeral" => break,
            _ => {}
        }
    }
    forward.abort();
    assert!(
        completed.is_some(),
        "the TTL Job was deleted only after completing"
    );
    assert!(jobs.get_opt("ephemeral").await.unwrap().is_none());
    // Foreground deletion: the pods went before the Job did.
    assert!(pods_of(&client, "ephemeral").await.is_empty());

    // The keeper finished before the TTL Job even started, so its own (absent)
    // TTL had every chance to act: it is still there, with its pod.
    let keeper = jobs.get("keeper").await.unwrap();
    assert!(keeper.metadata.deletion_timestamp.is_none());
    assert!(job_condition(&keeper, "Complete").is_some());
    assert_eq!(pods_of(&client, "keeper").await.len(), 1);
}

/// A restarted executor (a `pdfx up` killed and started again) finds the pod
/// its predecessor ran still `Running` with no process behind it. It marks the
/// pod Failed with a `DisruptionTarget` condition, as a real cluster does for
/// the pods of a vanished node, and a Job whose `podFailurePolicy` ignores that
/// condition replaces the pod without counting a failure; one that does not
/// fails on its backoff limit.
#[tokio::test]
async fn a_restarted_executor_fails_orphaned_pods_as_disrupted() {
    let server = ApiServer::in_memory();
    let mut running = pdfx_devcluster::start(server.clone(), "127.0.0.1:0")
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut cfg = ExecutorConfig {
        slots: 2,
        work_dir: work.path().join("pods"),
        ..Default::default()
    };
    cfg.images
        .insert("pdfx-ocr-runner".into(), "/bin/sh".into());
    let client = client_for(&running.url());
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let marks = work.path().display().to_string();
    // The first run of each Job blocks; a replacement finds its mark and succeeds.
    let script = |name: &str| {
        format!("m={marks}/{name}; if [ -e $m ]; then exit 0; fi; touch $m; exec sleep 600")
    };
    let ignore = json!({"podFailurePolicy": {"rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
    ]}});
    let pp = PostParams::default();
    jobs.create(
        &pp,
        &job("tolerant", &script("tolerant"), ignore, json!({})),
    )
    .await
    .unwrap();
    jobs.create(&pp, &job("strict", &script("strict"), json!({}), json!({})))
        .await
        .unwrap();

    let first = tokio::spawn(Executor::new(server.clone(), cfg.clone()).run());
    for name in ["tolerant", "strict"] {
        eventually(|| {
            let client = client.clone();
            let mark = work.path().join(name);
            async move {
                let pods = pods_of(&client, name).await;
                let running = pods
                    .iter()
                    .any(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"));
                (running && mark.exists()).then_some(())
            }
        })
        .await;
    }
    // The executor goes away; its processes die with it.
    first.abort();
    let _ = first.await;

    running.attach(tokio::spawn(Executor::new(server, cfg).run()));
    assert_eq!(wait_finished(&jobs, "tolerant").await.0, "Complete");
    assert_eq!(
        wait_finished(&jobs, "strict").await,
        ("Failed".to_string(), "BackoffLimitExceeded".to_string())
    );
    let tolerant = pods_of(&client, "tolerant").await;
    assert_eq!(tolerant.len(), 2, "the orphan and its replacement");
    let orphan = tolerant
        .iter()
        .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed"))
        .expect("the orphaned pod is Failed");
    let conditions = orphan.status.clone().unwrap().conditions.unwrap();
    let disruption = conditions
        .iter()
        .find(|c| c.type_ == "DisruptionTarget")
        .expect("a DisruptionTarget condition");
    assert_eq!(disruption.status, "True");
    assert_eq!(disruption.reason.as_deref(), Some("DeletionByPodGC"));
    assert_eq!(terminated(orphan).exit_code, 137);
    let status = jobs.get("tolerant").await.unwrap().status.unwrap();
    assert_eq!(status.succeeded, Some(1));
    assert_eq!(
        pods_of(&client, "strict").await.len(),
        1,
        "no retry past backoffLimit 0"
    );
}
