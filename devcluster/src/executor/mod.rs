//! The local executor (docs/architecture.md, "The emulator and the local
//! executor"): plays kubelet and Job controller for
//! batch/v1 Jobs on this machine.
//!
//! A reconcile loop (woken by store events and a short timer) plays three
//! parts, each in its own module:
//! - `jobs`: the Job controller creates a Pod for each Job that needs one and
//!   writes the Job's counters and conditions (`Complete`, `Failed` with
//!   `BackoffLimitExceeded` / `DeadlineExceeded` / `PodFailurePolicy`,
//!   `Suspended`);
//! - `scheduler`: one node with a capacity (the machine's, or `node_memory` /
//!   `node_cpu_millis`, and `slots` pods), served as the `Node` object
//!   `devcluster`; a Pending pod is bound only when its requests fit beside the
//!   bound pods', else it carries `PodScheduled=False` / `Unschedulable`;
//! - `kubelet`: a bound pod whose image maps to a program runs as a child
//!   process (an unmapped image waits in `ErrImagePull` / `ImagePullBackOff`),
//!   and its end is written back: phase, times, exit code, `OOMKilled`, the
//!   termination message.
//!
//! Memory limits: a memory cgroup (v1 or v2) per pod where one can be created,
//! else `RLIMIT_AS` (via `sh -c 'ulimit -v'`); the method is recorded in the Pod
//! annotation `devcluster.pdfx.dev/memory-enforcement`. Processes are placed in
//! their cgroup by a `sh` wrapper that writes its own pid to `cgroup.procs` and
//! then `exec`s the program, so no unsafe `pre_exec` hook is needed.

mod cgroup;
pub mod docker;
mod jobs;
mod kubelet;
pub mod logs;
mod process;
pub mod runtime;
mod scheduler;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::api::{ApiServer, ListOpts, PatchType, WriteOpts};
use crate::registry::ResourceInfo;
use crate::selectors::LabelSelector;
use kubelet::{Exit, Pulling, RunningPod, find_on_path};
pub use scheduler::{NODE_NAME, machine_cpu_millis, machine_memory};

/// Annotation naming how the memory limit was enforced.
pub const MEMORY_ANNOTATION: &str = "devcluster.pdfx.dev/memory-enforcement";
/// Finalizer the executor puts on the pods it runs: it removes it once a deleted
/// pod's process has exited.
pub const PROCESS_FINALIZER: &str = "devcluster.pdfx.dev/process";

/// Env var telling the process where to write its termination message (local mode
/// cannot give every pod its own `/dev/termination-log`).
pub const TERMINATION_ENV: &str = "TERMINATION_MESSAGE_PATH";

/// Executor settings.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Image (with or without tag) → local program.
    pub images: HashMap<String, PathBuf>,
    /// Concurrent pod slots: the node's allocatable pod count.
    pub slots: usize,
    /// The node's memory for pods, bytes (default: this machine's `MemTotal`).
    /// Pods are bound only while their memory requests fit in it.
    pub node_memory: Option<u64>,
    /// The node's CPU for pods, millicores. When set, pods are bound only
    /// while their CPU requests fit in it; unset, the node reports this
    /// machine's CPU count and CPU requests do not keep pods Pending.
    pub node_cpu_millis: Option<u64>,
    /// Where pod scratch directories (emptyDir volumes, termination logs) are created.
    pub work_dir: PathBuf,
    /// Host environment variables passed through to every process.
    pub pass_env: Vec<String>,
    /// Disable cgroups (forces RLIMIT_AS), for tests and machines where cgroups misbehave.
    pub disable_cgroups: bool,
    /// Have the kernel kill each pod's process when the executor's process
    /// dies (through `setpriv --pdeathsig`, when it is installed).
    pub die_with_executor: bool,
    /// Run pods as containers of their own image on a Docker engine instead
    /// of as local programs (`--runtime docker`).
    pub container_runtime: Option<docker::DockerRuntime>,
    /// The most output kept per container (`pods/log`), bytes: older output
    /// is rotated away. Logs live under `work_dir/logs`.
    pub log_max_bytes: u64,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            images: HashMap::new(),
            slots: 2,
            node_memory: None,
            node_cpu_millis: None,
            work_dir: std::env::temp_dir().join("pdfx-devcluster-pods"),
            pass_env: [
                "PATH",
                "HOME",
                "LANG",
                "RUST_LOG",
                "LD_LIBRARY_PATH",
                "PDFIUM_LIBRARY_PATH",
                "OMP_THREAD_LIMIT",
                "TESSDATA_PREFIX",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            disable_cgroups: false,
            die_with_executor: true,
            container_runtime: None,
            log_max_bytes: 10 * 1024 * 1024,
        }
    }
}

/// The executor.
pub struct Executor {
    server: ApiServer,
    config: ExecutorConfig,
    jobs: Arc<ResourceInfo>,
    pods: Arc<ResourceInfo>,
    running: HashMap<String, RunningPod>,
    /// Pods bound to the node whose image cannot be pulled: they hold their
    /// requests as a real pod in `ImagePullBackOff` does.
    pulling: HashMap<String, Pulling>,
    /// What the node offers pods.
    node: scheduler::Node,
    exits_tx: mpsc::UnboundedSender<Exit>,
    exits_rx: mpsc::UnboundedReceiver<Exit>,
    /// Pods this executor ended for their Job (a deadline, a suspension), with
    /// the reason: their kill is not an ordinary failure.
    deadline_killed: HashMap<String, String>,
    /// `setpriv`, when pods die with the executor.
    setpriv: Option<PathBuf>,
    /// With the container runtime: removes the containers when the executor goes.
    _reaper: Option<docker::Reaper>,
    /// Captured container output, served as `pods/log`.
    logs: Arc<logs::LogStore>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Parse a Kubernetes quantity (`512Mi`, `1G`, `1e6`, `100000`) into bytes.
pub fn parse_quantity(q: &str) -> Option<u64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "m" => 1e-3,
        s if s.starts_with(['e', 'E']) => 10f64.powi(s[1..].parse().ok()?),
        _ => return None,
    };
    Some((n * mult) as u64)
}

impl Executor {
    /// A new executor over a server.
    pub fn new(server: ApiServer, config: ExecutorConfig) -> Self {
        let jobs = server.resource("batch", "v1", "jobs");
        let pods = server.resource("", "v1", "pods");
        let (exits_tx, exits_rx) = mpsc::unbounded_channel();
        let setpriv = config
            .die_with_executor
            .then(|| find_on_path("setpriv"))
            .flatten();
        if config.die_with_executor && setpriv.is_none() {
            tracing::warn!("setpriv not found: pod processes may outlive a killed executor");
        }
        let logs = Arc::new(logs::LogStore::open(
            config.work_dir.join("logs"),
            config.log_max_bytes,
        ));
        server.0.pod_logs.set(logs.clone());
        let reaper = config.container_runtime.as_ref().map(|d| docker::Reaper {
            program: d.program.clone(),
            executor_id: config.work_dir.to_string_lossy().into_owned(),
        });
        match (jobs, pods) {
            (Some(jobs), Some(pods)) => Self {
                logs,
                node: scheduler::Node::new(&config),
                server,
                config,
                jobs,
                pods,
                running: HashMap::new(),
                pulling: HashMap::new(),
                exits_tx,
                exits_rx,
                deadline_killed: HashMap::new(),
                setpriv,
                _reaper: reaper,
            },
            _ => unreachable!("jobs and pods are built-in resources"),
        }
    }

    /// Run until aborted.
    pub async fn run(mut self) {
        let _ = std::fs::create_dir_all(&self.config.work_dir);
        self.register_node().await;
        if let Some(docker) = &self.config.container_runtime {
            docker
                .remove_leftovers(&self.config.work_dir.to_string_lossy())
                .await;
        }
        self.fail_orphaned_pods().await;
        let mut events = self.server.0.store.subscribe();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                ev = events.recv() => {
                    if let Ok(ev) = &ev && !(ev.key == self.jobs.storage || ev.key == self.pods.storage) {
                        continue;
                    }
                }
                Some(exit) = self.exits_rx.recv() => self.on_exit(exit).await,
            }
            while let Ok(exit) = self.exits_rx.try_recv() {
                self.on_exit(exit).await;
            }
            self.reconcile().await;
        }
    }

    fn list(&self, ri: &ResourceInfo, labels: &str) -> Vec<Value> {
        let opts = ListOpts {
            labels: LabelSelector::parse(labels).unwrap_or_default(),
            ..ListOpts::default()
        };
        self.server
            .list(ri, None, &opts)
            .map(|p| p.items)
            .unwrap_or_default()
    }

    /// Records an event about `pod`, as the scheduler or kubelet `controller` does.
    async fn record(&self, pod: &Value, type_: &str, reason: &str, controller: &str, note: &str) {
        let Some(events) = self.server.resource("events.k8s.io", "v1", "events") else {
            return;
        };
        let ns = crate::api::meta_str(pod, "namespace").unwrap_or_default();
        let name = crate::api::meta_str(pod, "name").unwrap_or_default();
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let action = if controller == "default-scheduler" {
            "Scheduling"
        } else {
            "Pulling"
        };
        let event = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": format!("{name}.{}", &suffix[..16]), "namespace": ns},
            "eventTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "reportingController": controller,
            "reportingInstance": format!("{controller}-{}", scheduler::NODE_NAME),
            "action": action, "reason": reason, "type": type_, "note": note,
            "regarding": {"apiVersion": "v1", "kind": "Pod", "namespace": ns, "name": name,
                          "uid": crate::api::meta_str(pod, "uid").unwrap_or_default()},
        });
        if let Err(e) = self
            .server
            .create(&events, Some(ns), event, &WriteOpts::default())
            .await
        {
            tracing::debug!(pod = name, error = %e, "recording an event failed");
        }
    }

    async fn patch_status(&self, ri: &ResourceInfo, obj: &Value, status: Value) {
        let ns = crate::api::meta_str(obj, "namespace").unwrap_or_default();
        let name = crate::api::meta_str(obj, "name").unwrap_or_default();
        let body = serde_json::to_vec(&json!({"status": status})).unwrap_or_default();
        if let Err(e) = self
            .server
            .patch(
                ri,
                ns,
                name,
                PatchType::Merge,
                &body,
                true,
                &WriteOpts::default(),
            )
            .await
        {
            tracing::debug!(error = %e, name, "status update failed (object gone?)");
        }
    }

    async fn reconcile(&mut self) {
        let jobs = self.list(&self.jobs.clone(), "");
        let live_jobs: HashSet<String> = jobs
            .iter()
            .filter(|j| j.pointer("/metadata/deletionTimestamp").is_none())
            .filter_map(|j| {
                j.pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        // Pods whose object or Job is gone (or deleting) are killed.
        let pods = self.list(&self.pods.clone(), "");
        // Logs go with their pod (also those an earlier executor left).
        self.logs.retain(
            &pods
                .iter()
                .map(|p| crate::api::meta_string(p, "uid"))
                .collect(),
        );
        let pod_uids: HashSet<String> = pods
            .iter()
            .filter(|p| p.pointer("/metadata/deletionTimestamp").is_none())
            .filter(|p| {
                p.pointer("/metadata/labels/batch.kubernetes.io~1controller-uid")
                    .and_then(Value::as_str)
                    .is_none_or(|u| live_jobs.contains(u))
            })
            .filter_map(|p| {
                p.pointer("/metadata/uid")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        for (uid, rp) in self.running.iter_mut() {
            if !pod_uids.contains(uid)
                && let Some(k) = rp.kill.take()
            {
                tracing::info!(pod_uid = %uid, "pod or job deleted: killing its process");
                let _ = k.send(());
            }
        }
        // Deleted pods whose process is gone (or never ran) may go now.
        for pod in &pods {
            let uid = crate::api::meta_str(pod, "uid").unwrap_or_default();
            if pod.pointer("/metadata/deletionTimestamp").is_some()
                && !self.running.contains_key(uid)
            {
                self.release_pod(pod).await;
            }
        }
        for job in &jobs {
            self.reconcile_job(job, &pods).await;
        }
        self.schedule(&pods, &pod_uids).await;
    }

    /// Binds Pending pods, oldest first, while they fit the node; marks the
    /// others Unschedulable. A pod that does not fit does not hold back the
    /// ones behind it, as with the real scheduler.
    async fn schedule(&mut self, pods: &[Value], live: &HashSet<String>) {
        let pending =
            |p: &Value| p.pointer("/status/phase").and_then(Value::as_str) == Some("Pending");
        // Bound pods that are gone, deleting, or no longer Pending free their room.
        let still_pulling: HashSet<String> = pods
            .iter()
            .filter(|p| pending(p))
            .map(|p| crate::api::meta_string(p, "uid"))
            .filter(|uid| live.contains(uid))
            .collect();
        self.pulling.retain(|uid, _| still_pulling.contains(uid));
        self.keep_node().await;
        let mut queue: Vec<&Value> = pods
            .iter()
            .filter(|p| pending(p))
            .filter(|p| {
                let uid = crate::api::meta_str(p, "uid").unwrap_or_default();
                // A pod the Job controller just ended is still Pending in this list.
                live.contains(uid)
                    && !self.running.contains_key(uid)
                    && !self.pulling.contains_key(uid)
                    && !self.deadline_killed.contains_key(uid)
            })
            .collect();
        queue.sort_by_key(|p| {
            (
                crate::api::meta_string(p, "creationTimestamp"),
                crate::api::meta_string(p, "name"),
            )
        });
        let (mut used, mut bound) = self.node_usage();
        for pod in queue {
            let want = scheduler::pod_requests(pod);
            let misfit = self.node.misfit(used, bound, want);
            if misfit.is_empty() {
                used += want;
                bound += 1;
                self.bind(pod).await;
                self.start_pod(pod, want).await;
            } else {
                self.mark_unschedulable(pod, &misfit).await;
            }
        }
        for pod in pods {
            let uid = crate::api::meta_str(pod, "uid").unwrap_or_default();
            if self.pulling.contains_key(uid) {
                self.back_off_pull(pod).await;
            }
        }
    }
}
