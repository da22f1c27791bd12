//! `kubectl logs` (1.27 and 1.33) against the emulator with the executor
//! running Jobs whose container is a shell script: the whole log of a Job,
//! `--tail`, `--timestamps`, `--limit-bytes`, `--since`/`--since-time`,
//! `-f` while the process runs, the API server's errors (`--previous`, a wrong
//! container, a pod waiting on its image), the size bound, and logs going with
//! their pod.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use common::*;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::{Client, ResourceExt};
use pdfx_devcluster::executor::{Executor, ExecutorConfig};
use pdfx_devcluster::{ApiServer, Running};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

const KUBECTLS: [&str; 2] = [
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.27",
    "/usr/lib/google-cloud-sdk/bin/kubectl.1.33",
];

struct Cluster {
    _srv: Running,
    client: Client,
    work: tempfile::TempDir,
    kubeconfig: PathBuf,
}

async fn cluster(log_max_bytes: u64) -> Cluster {
    let server = ApiServer::in_memory();
    let mut srv = pdfx_devcluster::start(server.clone(), "127.0.0.1:0")
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut cfg = ExecutorConfig {
        slots: 4,
        work_dir: work.path().join("pods"),
        log_max_bytes,
        ..Default::default()
    };
    cfg.images.insert("shell".into(), "/bin/sh".into());
    srv.attach(tokio::spawn(Executor::new(server, cfg).run()));
    let kubeconfig = work.path().join("kubeconfig");
    std::fs::write(&kubeconfig, pdfx_devcluster::kubeconfig(&srv.url())).unwrap();
    Cluster {
        client: client_for(&srv.url()),
        _srv: srv,
        work,
        kubeconfig,
    }
}

impl Cluster {
    async fn kubectl(&self, kubectl: &str, args: &[&str]) -> Output {
        tokio::process::Command::new(kubectl)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.work.path())
            .args(args)
            .output()
            .await
            .unwrap()
    }

    /// kubectl's stdout, asserting it succeeded.
    async fn ok(&self, kubectl: &str, args: &[&str]) -> String {
        let out = self.kubectl(kubectl, args).await;
        assert!(
            out.status.success(),
            "{kubectl} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// kubectl's stderr, asserting it failed.
    async fn fails(&self, kubectl: &str, args: &[&str]) -> String {
        let out = self.kubectl(kubectl, args).await;
        assert!(
            !out.status.success(),
            "{kubectl} {args:?} succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    async fn run_job(&self, name: &str, image: &str, script: &str) {
        let job: Job = serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "main", "image": image, "args": ["-c", script]}]}}}
        }))
        .unwrap();
        let jobs: Api<Job> = Api::namespaced(self.client.clone(), "default");
        jobs.create(&PostParams::default(), &job).await.unwrap();
    }

    /// The Job's pod, once it is in `phase` (any phase with None).
    async fn pod(&self, job: &str, phase: Option<&str>) -> Pod {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), "default");
        let lp = ListParams::default().labels(&format!("job-name={job}"));
        eventually(|| {
            let (pods, lp) = (pods.clone(), lp.clone());
            async move {
                let pod = pods.list(&lp).await.unwrap().items.into_iter().next()?;
                let now = pod.status.as_ref().and_then(|s| s.phase.clone());
                (phase.is_none() || now.as_deref() == phase).then_some(pod)
            }
        })
        .await
    }

    fn log_dirs(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.work.path().join("pods/logs"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

/// `RFC3339Nano` as the kubelet writes it: fraction without trailing zeros.
fn split_timestamp(line: &str) -> (chrono::DateTime<chrono::Utc>, &str) {
    let (ts, rest) = line.split_once(' ').unwrap();
    assert!(ts.ends_with('Z') && !ts.contains(".Z"), "{ts}");
    if let Some((_, frac)) = ts.trim_end_matches('Z').split_once('.') {
        assert!(frac.len() <= 9 && !frac.ends_with('0'), "{ts}");
    }
    (ts.parse().unwrap(), rest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_of_a_finished_job_with_tail_timestamps_limit_and_since() {
    let c = cluster(10 << 20).await;
    c.run_job(
        "mixed",
        "shell",
        "echo out1; echo err1 >&2; echo out2; echo err2 >&2; echo out3",
    )
    .await;
    // stdout only: one pipe, so the order of the lines is the order written.
    c.run_job(
        "ordered",
        "shell",
        "echo early; sleep 2; echo one; echo two; echo three",
    )
    .await;
    let mixed = c.pod("mixed", Some("Succeeded")).await.name_any();
    let ordered = c.pod("ordered", Some("Succeeded")).await.name_any();
    for k in KUBECTLS {
        // Both streams, each in its order.
        let out = c.ok(k, &["logs", "job/mixed"]).await;
        let got = lines(&out);
        let of = |p: &str| {
            got.iter()
                .filter(|l| l.starts_with(p))
                .copied()
                .collect::<Vec<_>>()
        };
        assert_eq!(of("out"), ["out1", "out2", "out3"], "{k}: {out}");
        assert_eq!(of("err"), ["err1", "err2"], "{k}: {out}");
        assert_eq!(got.len(), 5, "{k}: {out}");
        assert_eq!(c.ok(k, &["logs", &mixed]).await, out, "{k}");

        let all = c.ok(k, &["logs", &ordered]).await;
        assert_eq!(all, "early\none\ntwo\nthree\n", "{k}");
        assert_eq!(
            c.ok(k, &["logs", &ordered, "--tail=2"]).await,
            "two\nthree\n",
            "{k}"
        );
        assert_eq!(c.ok(k, &["logs", &ordered, "--tail=0"]).await, "", "{k}");
        assert_eq!(
            c.ok(k, &["logs", &ordered, "--limit-bytes=8"]).await,
            "early\non",
            "{k}"
        );

        let stamped = c.ok(k, &["logs", &ordered, "--timestamps"]).await;
        let stamped: Vec<_> = stamped.lines().map(split_timestamp).collect();
        let texts: Vec<&str> = stamped.iter().map(|(_, t)| *t).collect();
        assert_eq!(texts, ["early", "one", "two", "three"], "{k}");
        assert!(
            stamped.windows(2).all(|w| w[0].0 <= w[1].0),
            "{k}: {stamped:?}"
        );

        assert_eq!(c.ok(k, &["logs", &ordered, "--since=1h"]).await, all, "{k}");
        // `one` came at least two seconds after `early`: its second excludes `early`.
        let one = stamped[1].0.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let since = format!("--since-time={one}");
        assert_eq!(
            c.ok(k, &["logs", &ordered, &since]).await,
            "one\ntwo\nthree\n",
            "{k}"
        );
        let future = "--since-time=2999-01-01T00:00:00Z";
        assert_eq!(c.ok(k, &["logs", &ordered, future]).await, "", "{k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_as_a_real_server_words_them() {
    let c = cluster(10 << 20).await;
    c.run_job("done", "shell", "echo hi").await;
    c.run_job("unpulled", "registry.example/nothing:1", "echo never")
        .await;
    let done = c.pod("done", Some("Succeeded")).await.name_any();
    let pending = c.pod("unpulled", Some("Pending")).await;
    // Bound, its container waiting on the image.
    eventually(|| {
        let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
        let name = pending.name_any();
        async move {
            let p = pods.get(&name).await.unwrap();
            let waiting = p
                .status?
                .container_statuses?
                .first()?
                .state
                .clone()?
                .waiting?;
            waiting.reason.filter(|r| r.contains("ImagePull"))
        }
    })
    .await;
    let pending = pending.name_any();
    for k in KUBECTLS {
        let err = c.fails(k, &["logs", &done, "--previous"]).await;
        let want = format!("previous terminated container \"main\" in pod \"{done}\" not found");
        assert!(
            err.contains(&format!("Error from server (BadRequest): {want}")),
            "{k}: {err}"
        );

        let err = c.fails(k, &["logs", &done, "-c", "sidecar"]).await;
        let want = format!("container sidecar is not valid for pod {done}");
        assert!(err.contains(&want), "{k}: {err}");

        let err = c.fails(k, &["logs", &pending]).await;
        let prefix = format!(
            "Error from server (BadRequest): container \"main\" in pod \"{pending}\" is waiting to start: "
        );
        assert!(
            err.contains(&format!("{prefix}image can't be pulled"))
                || err.contains(&format!("{prefix}trying and failing to pull image")),
            "{k}: {err}"
        );

        let err = c.fails(k, &["logs", "nosuchpod"]).await;
        assert!(err.contains("pods \"nosuchpod\" not found"), "{k}: {err}");
    }
    // Discovery lists the subresource; the body is plain text.
    let url = c._srv.url();
    let (code, _, list) = raw(&url, "GET", "/api/v1", &[], None).await;
    assert_eq!(code, 200);
    let log = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pods/log")
        .cloned();
    assert_eq!(
        log,
        Some(
            json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]})
        )
    );
    let path = format!("/api/v1/namespaces/default/pods/{done}/log?timestamps=false");
    let (code, ct, body) = raw(&url, "GET", &path, &[], None).await;
    assert_eq!(
        (code, ct.as_str(), body),
        (200, "text/plain", json!("hi\n"))
    );
    let path = format!("/api/v1/namespaces/default/pods/{done}/log?tailLines=-1");
    let (code, _, body) = raw(&url, "GET", &path, &[], None).await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (422, Some("Invalid")),
        "{body}"
    );
}

/// Reads kubectl's next output line, within the bounded wait.
async fn next_line(lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>) -> String {
    tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("no output from kubectl logs -f")
        .unwrap()
        .expect("kubectl logs -f ended early")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_streams_while_the_process_runs_and_ends_with_it() {
    let c = cluster(10 << 20).await;
    for (i, k) in KUBECTLS.iter().enumerate() {
        // The process prints, then waits for the test to have seen the line.
        let gate = c.work.path().join(format!("gate{i}"));
        let script = format!(
            "echo first; echo to-err >&2; while [ ! -e {} ]; do sleep 0.05; done; echo second",
            gate.display()
        );
        let job = format!("follow{i}");
        c.run_job(&job, "shell", &script).await;
        let pod = c.pod(&job, Some("Running")).await.name_any();
        let mut child = tokio::process::Command::new(k)
            .env("KUBECONFIG", &c.kubeconfig)
            .env("HOME", c.work.path())
            .args(["logs", "-f", &pod])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut seen = vec![next_line(&mut out).await, next_line(&mut out).await];
        seen.sort();
        assert_eq!(seen, ["first", "to-err"], "{k}");
        // The process cannot have ended: it waits for the gate.
        let p = c.pod(&job, None).await;
        assert_eq!(p.status.unwrap().phase.as_deref(), Some("Running"), "{k}");
        std::fs::write(&gate, "").unwrap();
        assert_eq!(next_line(&mut out).await, "second", "{k}");
        let status = tokio::time::timeout(WAIT, child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "{k}: {status}");
        assert_eq!(
            tokio::time::timeout(WAIT, out.next_line())
                .await
                .unwrap()
                .unwrap(),
            None
        );
    }

    // A deleted pod ends the stream.
    c.run_job(
        "forever",
        "shell",
        "while true; do echo tick; sleep 0.05; done",
    )
    .await;
    let pod = c.pod("forever", Some("Running")).await.name_any();
    let mut child = tokio::process::Command::new(KUBECTLS[1])
        .env("KUBECONFIG", &c.kubeconfig)
        .env("HOME", c.work.path())
        .args(["logs", "-f", &pod, "--tail=1"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(next_line(&mut out).await, "tick");
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), "default");
    pods.delete(&pod, &DeleteParams::default()).await.unwrap();
    tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_bounded_and_go_with_the_pod() {
    let c = cluster(64 * 1024).await;
    // 4000 lines of 48 bytes: about 192 KiB through a 64 KiB bound.
    c.run_job(
        "chatty",
        "shell",
        "i=0; while [ $i -lt 4000 ]; do printf 'line-%05d-%037d\\n' $i 0; i=$((i+1)); done",
    )
    .await;
    let pod = c.pod("chatty", Some("Succeeded")).await.name_any();
    for k in KUBECTLS {
        let out = c.ok(k, &["logs", &pod]).await;
        let got = lines(&out);
        assert!(
            out.len() <= 64 * 1024 && out.len() >= 16 * 1024,
            "{k}: {} bytes",
            out.len()
        );
        assert_eq!(
            got.last().copied(),
            Some(format!("line-03999-{:037}", 0).as_str()),
            "{k}"
        );
        // The newest part, contiguous.
        let first: usize = got[0][5..10].parse().unwrap();
        println!("{k}: {} bytes kept, from line {first}", out.len());
        assert!(first > 0, "{k}: the oldest lines were kept");
        for (n, line) in got.iter().enumerate() {
            assert_eq!(*line, format!("line-{:05}-{:037}", first + n, 0), "{k}");
        }
    }
    let on_disk: u64 = c
        .log_dirs()
        .iter()
        .flat_map(|d| walk(d))
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    println!("{on_disk} bytes on disk");
    assert!(on_disk <= 64 * 1024, "{on_disk} bytes kept on disk");

    // Deleting the Job deletes its pod, and the pod its log.
    assert_eq!(c.log_dirs().len(), 1);
    let jobs: Api<Job> = Api::namespaced(c.client.clone(), "default");
    jobs.delete("chatty", &DeleteParams::foreground())
        .await
        .unwrap();
    eventually(|| async { c.log_dirs().is_empty().then_some(()) }).await;
    let err = c.fails(KUBECTLS[1], &["logs", &pod]).await;
    assert!(err.contains(&format!("pods \"{pod}\" not found")), "{err}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

/// A server and executor on `dir` (persistent), as `pdfx up` runs them.
async fn persistent_with_executor(dir: &Path) -> Running {
    let server = ApiServer::persistent(&dir.join("data")).unwrap();
    let mut srv = pdfx_devcluster::start(server.clone(), "127.0.0.1:0")
        .await
        .unwrap();
    let mut cfg = ExecutorConfig {
        work_dir: dir.join("pods"),
        ..Default::default()
    };
    cfg.images.insert("shell".into(), "/bin/sh".into());
    srv.attach(tokio::spawn(Executor::new(server, cfg).run()));
    srv
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_executor_keeps_logs_of_existing_pods_and_drops_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let srv = persistent_with_executor(dir.path()).await;
    let client = client_for(&srv.url());
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": "kept"},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "main", "image": "shell", "args": ["-c", "echo kept"]}]}}}
    }))
    .unwrap();
    Api::<Job>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &job)
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let pod = eventually(|| {
        let pods = pods.clone();
        async move {
            let p = pods
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .pop()?;
            (p.status.as_ref()?.phase.as_deref() == Some("Succeeded")).then(|| p.name_any())
        }
    })
    .await;
    srv.shutdown();

    // A log of a pod that is gone (deleted while no executor ran).
    let stray = dir
        .path()
        .join("pods/logs/default_gone-abcde_6c4b7f0e-0000-4000-8000-000000000000/main");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::write(stray.join("0.log"), "2024-01-01T00:00:00Z stdout F old\n").unwrap();
    let srv = persistent_with_executor(dir.path()).await;
    eventually(|| async { (!stray.exists()).then_some(()) }).await;
    let path = format!("/api/v1/namespaces/default/pods/{pod}/log");
    let (code, ct, body) = raw(&srv.url(), "GET", &path, &[], None).await;
    assert_eq!(
        (code, ct.as_str(), body),
        (200, "text/plain", json!("kept\n"))
    );
}
