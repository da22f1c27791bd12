//! The local executor (DESIGN.md §7): plays kubelet and Job controller for
//! batch/v1 Jobs on this machine.
//!
//! A reconcile loop (woken by store events and a short timer) creates a Pod for
//! each Job that needs one, starts Pending Pods as child processes when a slot is
//! free, and writes the truth back: Pod phase, times, exit code, `OOMKilled`, the
//! termination message, and the Job's counters and conditions (`Complete`,
//! `Failed` with `BackoffLimitExceeded` / `DeadlineExceeded` / `PodFailurePolicy`).
//!
//! Memory limits: a memory cgroup (v1 or v2) per pod where one can be created,
//! else `RLIMIT_AS` (via `sh -c 'ulimit -v'`); the method is recorded in the Pod
//! annotation `devcluster.pdfx.dev/memory-enforcement`. Processes are placed in
//! their cgroup by a `sh` wrapper that writes its own pid to `cgroup.procs` and
//! then `exec`s the program, so no unsafe `pre_exec` hook is needed.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::api::{ApiServer, DeleteOpts, ListOpts, PatchType, WriteOpts, now};
use crate::registry::ResourceInfo;
use crate::selectors::LabelSelector;

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
    /// Concurrent pod slots.
    pub slots: usize,
    /// Where pod scratch directories (emptyDir volumes, termination logs) are created.
    pub work_dir: PathBuf,
    /// Host environment variables passed through to every process.
    pub pass_env: Vec<String>,
    /// Disable cgroups (forces RLIMIT_AS), for tests and machines where cgroups misbehave.
    pub disable_cgroups: bool,
    /// Have the kernel kill each pod's process when the executor's process
    /// dies (through `setpriv --pdeathsig`, when it is installed).
    pub die_with_executor: bool,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            images: HashMap::new(),
            slots: 2,
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
        }
    }
}

/// How a memory limit is enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Enforcement {
    None,
    CgroupV1(PathBuf),
    CgroupV2(PathBuf),
    RlimitAs,
}

impl Enforcement {
    fn name(&self) -> &'static str {
        match self {
            Enforcement::None => "none",
            Enforcement::CgroupV1(_) => "cgroup-v1",
            Enforcement::CgroupV2(_) => "cgroup-v2",
            Enforcement::RlimitAs => "rlimit-as",
        }
    }
}

/// The outcome of one process.
#[derive(Debug)]
struct Exit {
    pod_uid: String,
    ns: String,
    name: String,
    code: i32,
    oom: bool,
    killed_by_us: bool,
    message: String,
    started: String,
    finished: String,
}

struct RunningPod {
    kill: Option<oneshot::Sender<()>>,
}

/// The executor.
pub struct Executor {
    server: ApiServer,
    config: ExecutorConfig,
    jobs: Arc<ResourceInfo>,
    pods: Arc<ResourceInfo>,
    running: HashMap<String, RunningPod>,
    exits_tx: mpsc::UnboundedSender<Exit>,
    exits_rx: mpsc::UnboundedReceiver<Exit>,
    /// Pods this executor failed for a Job deadline (their kill is not an ordinary failure).
    deadline_killed: HashSet<String>,
    /// `setpriv`, when pods die with the executor.
    setpriv: Option<PathBuf>,
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

fn own_cgroup(controller_line: impl Fn(&str) -> bool) -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines()
        .find(|l| controller_line(l))
        .and_then(|l| l.splitn(3, ':').nth(2))
        .map(str::to_string)
}

/// Create a memory cgroup for a pod with the given limit, v1 first, then v2.
fn make_cgroup(pod_uid: &str, limit: u64) -> Option<Enforcement> {
    let v1_root = Path::new("/sys/fs/cgroup/memory");
    if v1_root.join("memory.limit_in_bytes").exists() || v1_root.join("cgroup.procs").exists() {
        let own = own_cgroup(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|x| x == "memory"))
        })
        .unwrap_or_else(|| "/".into());
        let dir = v1_root
            .join(own.trim_start_matches('/'))
            .join(format!("devcluster-{pod_uid}"));
        if std::fs::create_dir_all(&dir).is_ok()
            && std::fs::write(dir.join("memory.limit_in_bytes"), limit.to_string()).is_ok()
        {
            // Also cap swap where accounted, so the process cannot escape the limit by swapping.
            let _ = std::fs::write(dir.join("memory.memsw.limit_in_bytes"), limit.to_string());
            return Some(Enforcement::CgroupV1(dir));
        }
        let _ = std::fs::remove_dir(&dir);
    }
    let v2_root = Path::new("/sys/fs/cgroup");
    if v2_root.join("cgroup.controllers").exists() {
        let own = own_cgroup(|l| l.starts_with("0::")).unwrap_or_else(|| "/".into());
        let parent = v2_root.join(own.trim_start_matches('/'));
        let _ = std::fs::write(parent.join("cgroup.subtree_control"), "+memory");
        let dir = parent.join(format!("devcluster-{pod_uid}"));
        if std::fs::create_dir_all(&dir).is_ok()
            && std::fs::write(dir.join("memory.max"), limit.to_string()).is_ok()
        {
            let _ = std::fs::write(dir.join("memory.swap.max"), "0");
            return Some(Enforcement::CgroupV2(dir));
        }
        let _ = std::fs::remove_dir(&dir);
    }
    None
}

fn cgroup_oom(e: &Enforcement) -> bool {
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    let count = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(key)
                    .map(|v| v.trim().parse::<u64>().unwrap_or(0))
            })
            .unwrap_or(0)
    };
    match e {
        Enforcement::CgroupV1(d) => {
            let oc = read(d.join("memory.oom_control"));
            count(&oc, "oom_kill ") > 0 || count(&oc, "under_oom ") > 0
        }
        Enforcement::CgroupV2(d) => count(&read(d.join("memory.events")), "oom_kill ") > 0,
        _ => false,
    }
}

async fn kill_cgroup(e: &Enforcement) {
    let dir = match e {
        Enforcement::CgroupV1(d) | Enforcement::CgroupV2(d) => d,
        _ => return,
    };
    if let Enforcement::CgroupV2(d) = e
        && std::fs::write(d.join("cgroup.kill"), "1").is_ok()
    {
        return;
    }
    let pids: Vec<String> = std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if !pids.is_empty() {
        let _ = tokio::process::Command::new("kill")
            .arg("-9")
            .args(&pids)
            .status()
            .await;
    }
}

async fn remove_cgroup(e: &Enforcement) {
    if let Enforcement::CgroupV1(d) | Enforcement::CgroupV2(d) = e {
        // The kernel refuses rmdir until the last task is gone; retry briefly.
        for _ in 0..50 {
            if std::fs::remove_dir(d).is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tracing::warn!(dir = %d.display(), "could not remove pod cgroup");
    }
}

fn has_condition(status: &Value, type_: &str) -> bool {
    status["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == type_ && c["status"] == "True")
    })
}

fn condition(type_: &str, reason: &str, message: &str, t: &str) -> Value {
    json!({"type": type_, "status": "True", "reason": reason, "message": message,
           "lastProbeTime": t, "lastTransitionTime": t})
}

/// Set condition `type_` to the given status, reason and message (the Job
/// controller's `ensureJobConditionStatus`): an existing condition of that type is
/// replaced when any of them differs; a missing one is added only when True.
/// Returns whether the conditions changed.
fn ensure_condition(
    conditions: &mut Vec<Value>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    t: &str,
) -> bool {
    let mut new = condition(type_, reason, message, t);
    if !status {
        new["status"] = json!("False");
    }
    match conditions.iter_mut().find(|c| c["type"] == type_) {
        Some(c)
            if c["status"] != new["status"] || c["reason"] != reason || c["message"] != message =>
        {
            *c = new;
            true
        }
        Some(_) => false,
        None if status => {
            conditions.push(new);
            true
        }
        None => false,
    }
}

/// The container exit code a pod ended with (None while it has not terminated).
fn pod_exit(pod: &Value) -> Option<(String, i64)> {
    let cs = pod.pointer("/status/containerStatuses/0")?;
    let t = cs.pointer("/state/terminated")?;
    Some((
        cs["name"].as_str().unwrap_or_default().to_string(),
        t["exitCode"].as_i64().unwrap_or(0),
    ))
}

/// Evaluate `podFailurePolicy` over a failed pod: (action, rule index) of the
/// first rule that matches, in order, as the Job controller does. A rule matches
/// on the container's exit code (`onExitCodes`, only when the container
/// terminated) or on a pod condition (`onPodConditions`).
fn match_failure_policy(job: &Value, pod: &Value) -> Option<(String, usize)> {
    let rules = job.pointer("/spec/podFailurePolicy/rules")?.as_array()?;
    let exit = pod_exit(pod);
    let action = |r: &Value| r["action"].as_str().unwrap_or("Count").to_string();
    for (i, r) in rules.iter().enumerate() {
        if let Some(on) = r.get("onExitCodes") {
            let Some((container, code)) = &exit else {
                continue;
            };
            if on["containerName"].as_str().is_some_and(|c| c != container) {
                continue;
            }
            let values: Vec<i64> = on["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_i64)
                .collect();
            let hit = match on["operator"].as_str() {
                Some("In") => values.contains(code),
                Some("NotIn") => !values.contains(code),
                _ => false,
            };
            if hit {
                return Some((action(r), i));
            }
        } else if let Some(patterns) = r.get("onPodConditions").and_then(Value::as_array) {
            let conditions = pod.pointer("/status/conditions").and_then(Value::as_array);
            let hit = patterns.iter().any(|want| {
                conditions.into_iter().flatten().any(|c| {
                    c["type"] == want["type"]
                        && c["status"] == want.get("status").cloned().unwrap_or(json!("True"))
                })
            });
            if hit {
                return Some((action(r), i));
            }
        }
    }
    None
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn elapsed_since(ts: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
}

impl Executor {
    /// Variables of one `envFrom` entry: every key of the named Secret (base64
    /// `data` decoded, `stringData` as is) or ConfigMap, with the optional prefix.
    /// A missing optional source contributes nothing; a missing required one too,
    /// with a warning (a kubelet would keep the pod from starting).
    fn env_from(&self, ns: &str, source: &Value) -> Vec<(String, String)> {
        use base64::Engine as _;
        let prefix = source["prefix"].as_str().unwrap_or("");
        let (resource, reference, decode) = if source.get("secretRef").is_some() {
            ("secrets", &source["secretRef"], true)
        } else if source.get("configMapRef").is_some() {
            ("configmaps", &source["configMapRef"], false)
        } else {
            return Vec::new();
        };
        let Some(name) = reference["name"].as_str() else {
            return Vec::new();
        };
        let object = self
            .server
            .resource("", "v1", resource)
            .and_then(|ri| self.server.get(&ri, ns, name).ok());
        let Some(object) = object else {
            if reference["optional"].as_bool() != Some(true) {
                tracing::warn!(ns, name, resource, "envFrom source not found");
            }
            return Vec::new();
        };
        let mut vars = Vec::new();
        for (key, value) in object["data"].as_object().into_iter().flatten() {
            let Some(text) = value.as_str() else { continue };
            let value = if decode {
                match base64::engine::general_purpose::STANDARD.decode(text) {
                    Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    Err(_) => continue,
                }
            } else {
                text.to_owned()
            };
            vars.push((format!("{prefix}{key}"), value));
        }
        for (key, value) in object["stringData"].as_object().into_iter().flatten() {
            if let Some(text) = value.as_str() {
                vars.push((format!("{prefix}{key}"), text.to_owned()));
            }
        }
        vars
    }

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
        match (jobs, pods) {
            (Some(jobs), Some(pods)) => Self {
                server,
                config,
                jobs,
                pods,
                running: HashMap::new(),
                exits_tx,
                exits_rx,
                deadline_killed: HashSet::new(),
                setpriv,
            },
            _ => unreachable!("jobs and pods are built-in resources"),
        }
    }

    /// Run until aborted.
    pub async fn run(mut self) {
        let _ = std::fs::create_dir_all(&self.config.work_dir);
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

    /// Pods left `Running` by an executor that is gone (a restarted `pdfx up`)
    /// have no process any more. Like a node that disappeared, they are marked
    /// Failed with a `DisruptionTarget` condition, which the Job's
    /// `podFailurePolicy` can ignore so the Job replaces the pod instead of
    /// counting a failure.
    async fn fail_orphaned_pods(&mut self) {
        let t = now();
        for pod in self.list(&self.pods.clone(), "") {
            let uid = crate::api::meta_string(&pod, "uid");
            let running = pod.pointer("/status/phase").and_then(Value::as_str) == Some("Running");
            if !running || self.running.contains_key(&uid) {
                continue;
            }
            let name = crate::api::meta_string(&pod, "name");
            tracing::info!(pod = %name, "pod's process did not survive the executor: marking it Failed");
            let mut conditions: Vec<Value> = pod
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            conditions.retain(|c| c["type"] != "DisruptionTarget" && c["type"] != "Ready");
            let message = "the executor restarted while the pod ran; its process is gone";
            let mut disruption = condition("DisruptionTarget", "DeletionByPodGC", message, &t);
            if let Some(obj) = disruption.as_object_mut() {
                obj.remove("lastProbeTime");
            }
            conditions.push(disruption);
            conditions.push(json!({"type": "Ready", "status": "False", "reason": "PodFailed", "lastTransitionTime": t}));
            let container = pod
                .pointer("/spec/containers/0")
                .cloned()
                .unwrap_or(json!({}));
            let started = pod
                .pointer("/status/startTime")
                .cloned()
                .unwrap_or(json!(t));
            let status = json!({
                "phase": "Failed",
                "reason": "NodeRestart",
                "message": message,
                "conditions": conditions,
                "containerStatuses": [{"name": container["name"], "image": container["image"], "imageID": "", "ready": false,
                    "started": false, "restartCount": 0, "state": {"terminated": {"exitCode": 137,
                    "reason": "ContainerStatusUnknown", "message": "The container could not be located when the pod was terminated",
                    "startedAt": started, "finishedAt": t}}}]
            });
            self.patch_status(&self.pods, &pod, status).await;
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
        // Start pending pods while slots are free.
        for pod in &pods {
            if self.running.len() >= self.config.slots {
                break;
            }
            let uid = crate::api::meta_string(pod, "uid");
            let pending = pod.pointer("/status/phase").and_then(Value::as_str) == Some("Pending");
            if pending && pod_uids.contains(&uid) && !self.running.contains_key(&uid) {
                self.start_pod(pod).await;
            }
        }
    }

    async fn reconcile_job(&mut self, job: &Value, all_pods: &[Value]) {
        let status = job.get("status").cloned().unwrap_or(json!({}));
        let spec = job.get("spec").cloned().unwrap_or(json!({}));
        let uid = crate::api::meta_str(job, "uid").unwrap_or_default();
        let ns = crate::api::meta_str(job, "namespace").unwrap_or_default();
        let name = crate::api::meta_str(job, "name").unwrap_or_default();
        if job.pointer("/metadata/deletionTimestamp").is_some() {
            return;
        }
        let finished = has_condition(&status, "Complete") || has_condition(&status, "Failed");
        if finished {
            // ttlSecondsAfterFinished (the TTL-after-finished controller): once the
            // finishing condition's lastTransitionTime is `ttl` seconds old, delete the
            // Job in the foreground (its pods first) with a UID precondition.
            let finished_at = status["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| {
                    (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True"
                })
                .and_then(|c| c["lastTransitionTime"].as_str());
            if let (Some(ttl), Some(done)) = (spec["ttlSecondsAfterFinished"].as_i64(), finished_at)
                && elapsed_since(done).is_some_and(|e| e >= ttl)
            {
                let opts = DeleteOpts {
                    propagation: Some("Foreground".into()),
                    uid: Some(uid.to_string()),
                    ..DeleteOpts::default()
                };
                match self.server.delete(&self.jobs, ns, name, &opts).await {
                    Ok(_) => tracing::info!(
                        job = name,
                        ttl,
                        "ttlSecondsAfterFinished expired: deleted the job"
                    ),
                    Err(e) => tracing::debug!(job = name, error = %e, "TTL deletion failed"),
                }
            }
            return;
        }
        let pods: Vec<&Value> = all_pods
            .iter()
            .filter(|p| {
                p.pointer("/metadata/labels/batch.kubernetes.io~1controller-uid")
                    .and_then(Value::as_str)
                    == Some(uid)
            })
            .collect();
        let phase = |p: &Value| {
            p.pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("Pending")
                .to_string()
        };
        let active: Vec<&&Value> = pods
            .iter()
            .filter(|p| matches!(phase(p).as_str(), "Pending" | "Running"))
            .collect();
        let succeeded = pods.iter().filter(|p| phase(p) == "Succeeded").count() as i64;
        let failed_pods: Vec<&&Value> = pods.iter().filter(|p| phase(p) == "Failed").collect();
        let suspended = spec["suspend"].as_bool().unwrap_or(false);
        let t = now();
        let mut new_status = json!({
            "active": active.len(), "succeeded": succeeded, "failed": failed_pods.len(),
            "ready": active.iter().filter(|p| phase(p) == "Running").count(), "terminating": 0,
            "uncountedTerminatedPods": {}
        });
        let mut conditions: Vec<Value> =
            status["conditions"].as_array().cloned().unwrap_or_default();
        // The `Suspended` condition: True/JobSuspended while suspended; on resume an
        // existing one turns False/JobResumed and startTime restarts (activeDeadlineSeconds
        // counts continuous activity), as the Job controller does.
        let resumed = if suspended {
            ensure_condition(
                &mut conditions,
                "Suspended",
                true,
                "JobSuspended",
                "Job suspended",
                &t,
            );
            false
        } else {
            ensure_condition(
                &mut conditions,
                "Suspended",
                false,
                "JobResumed",
                "Job resumed",
                &t,
            )
        };
        match status.get("startTime") {
            Some(st) if !resumed => new_status["startTime"] = st.clone(),
            _ if !suspended => new_status["startTime"] = json!(t),
            _ => {}
        }
        let completions = spec["completions"].as_i64().unwrap_or(1);
        let mut fail: Option<(String, String)> = None;
        // podFailurePolicy and backoffLimit over failed pods.
        let mut counted = 0i64;
        for p in &failed_pods {
            let puid = crate::api::meta_str(p, "uid").unwrap_or_default();
            if self.deadline_killed.contains(puid) {
                continue;
            }
            match match_failure_policy(job, p) {
                Some((action, idx)) if action == "FailJob" => {
                    let pname = crate::api::meta_str(p, "name").unwrap_or_default();
                    let what = match pod_exit(p) {
                        Some((container, code)) => {
                            format!(
                                "Container {container} for pod {ns}/{pname} failed with exit code {code}"
                            )
                        }
                        None => format!("Pod {ns}/{pname} has a condition"),
                    };
                    fail = Some((
                        "PodFailurePolicy".into(),
                        format!("{what} matching FailJob rule at index {idx}"),
                    ));
                }
                Some((action, _)) if action == "Ignore" => {}
                _ => counted += 1,
            }
        }
        let backoff = spec["backoffLimit"].as_i64().unwrap_or(6);
        if fail.is_none() && counted > backoff {
            fail = Some((
                "BackoffLimitExceeded".into(),
                "Job has reached the specified backoff limit".into(),
            ));
        }
        // A suspended Job is never past its deadline.
        if fail.is_none()
            && !suspended
            && let (Some(ads), Some(st)) = (
                spec["activeDeadlineSeconds"].as_i64(),
                new_status["startTime"].as_str(),
            )
            && elapsed_since(st).is_some_and(|e| e >= ads)
        {
            fail = Some((
                "DeadlineExceeded".into(),
                "Job was active longer than specified deadline".into(),
            ));
        }
        if let Some((reason, message)) = fail {
            for p in &active {
                self.fail_active_pod(p, &reason).await;
            }
            conditions.push(condition("FailureTarget", &reason, &message, &t));
            conditions.push(condition("Failed", &reason, &message, &t));
            new_status["conditions"] = json!(conditions);
            new_status["active"] = json!(0);
            new_status["ready"] = json!(0);
            self.patch_status(&self.jobs, job, new_status).await;
            return;
        }
        if succeeded >= completions {
            conditions.push(condition(
                "SuccessCriteriaMet",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                &t,
            ));
            conditions.push(condition(
                "Complete",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                &t,
            ));
            new_status["conditions"] = json!(conditions);
            new_status["completionTime"] = json!(t);
            self.patch_status(&self.jobs, job, new_status).await;
            return;
        }
        if suspended {
            for p in &active {
                self.fail_active_pod(p, "JobSuspended").await;
            }
            new_status["conditions"] = json!(conditions);
            new_status["active"] = json!(0);
            new_status["ready"] = json!(0);
            self.patch_status(&self.jobs, job, new_status).await;
            return;
        }
        if !conditions.is_empty() {
            new_status["conditions"] = json!(conditions);
        }
        if active.is_empty() {
            self.create_pod(job).await;
        }
        // Merge patches with identical content are no-ops (no RV bump, no event).
        self.patch_status(&self.jobs, job, new_status).await;
    }

    async fn fail_active_pod(&mut self, pod: &Value, reason: &str) {
        let uid = crate::api::meta_string(pod, "uid");
        self.deadline_killed.insert(uid.clone());
        if let Some(rp) = self.running.get_mut(&uid)
            && let Some(k) = rp.kill.take()
        {
            let _ = k.send(());
        } else if !self.running.contains_key(&uid) {
            self.patch_status(&self.pods, pod, json!({"phase": "Failed", "reason": reason, "message": format!("Pod was terminated: {reason}")}))
                .await;
        }
    }

    async fn create_pod(&self, job: &Value) {
        let ns = crate::api::meta_str(job, "namespace").unwrap_or_default();
        let name = crate::api::meta_str(job, "name").unwrap_or_default();
        let uid = crate::api::meta_str(job, "uid").unwrap_or_default();
        let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let mut meta = template.get("metadata").cloned().unwrap_or(json!({}));
        meta["generateName"] = json!(format!("{name}-"));
        meta["ownerReferences"] = json!([{
            "apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid,
            "controller": true, "blockOwnerDeletion": true
        }]);
        // Like a kubelet's graceful deletion: a deleted pod stays (Terminating)
        // until its process has exited, so nobody sees it gone while it still runs.
        meta["finalizers"] = json!([PROCESS_FINALIZER]);
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec").cloned().unwrap_or(json!({}))});
        match self
            .server
            .create(&self.pods, Some(ns), pod, &WriteOpts::default())
            .await
        {
            Ok(p) => {
                let pod = p
                    .pointer("/metadata/name")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default();
                tracing::info!(job = name, pod, "created pod");
            }
            Err(e) => tracing::warn!(job = name, error = %e, "creating a pod failed"),
        }
    }

    async fn start_pod(&mut self, pod: &Value) {
        let uid = crate::api::meta_string(pod, "uid");
        let ns = crate::api::meta_string(pod, "namespace");
        let name = crate::api::meta_string(pod, "name");
        let container = pod
            .pointer("/spec/containers/0")
            .cloned()
            .unwrap_or(json!({}));
        let cname = container["name"].as_str().unwrap_or("main").to_string();
        let image = container["image"].as_str().unwrap_or_default().to_string();
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        };
        let command = strings(&container["command"]);
        let args = strings(&container["args"]);
        let untagged = image
            .rsplit_once(':')
            .filter(|(_, tag)| !tag.contains('/'))
            .map(|(i, _)| i.to_string());
        let mapped = self
            .config
            .images
            .get(&image)
            .or_else(|| untagged.as_ref().and_then(|u| self.config.images.get(u)))
            .cloned();
        let mut argv: Vec<String> = if !command.is_empty() {
            command
        } else if let Some(bin) = mapped {
            vec![bin.to_string_lossy().to_string()]
        } else {
            let t = now();
            self.patch_status(&self.pods, pod, json!({
                "phase": "Failed", "reason": "ImageNotMapped",
                "message": format!("image {image:?} is not mapped to a local program (use --image IMAGE=PATH)"),
                "containerStatuses": [{"name": cname, "image": image, "imageID": "", "ready": false, "restartCount": 0, "started": false,
                    "state": {"terminated": {"exitCode": 128, "reason": "ImageNotMapped", "startedAt": t, "finishedAt": t}}}]
            }))
            .await;
            return;
        };
        argv.extend(args);

        let pod_dir = self.config.work_dir.join(&uid);
        let _ = std::fs::create_dir_all(&pod_dir);
        let term_path = pod_dir.join("termination-log");
        let mut env: Vec<(String, String)> = self
            .config
            .pass_env
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k.clone(), v)))
            .collect();
        env.push((
            TERMINATION_ENV.into(),
            term_path.to_string_lossy().to_string(),
        ));
        // envFrom first, so that `env` entries override them, as the kubelet does.
        for source in container["envFrom"].as_array().into_iter().flatten() {
            env.extend(self.env_from(&ns, source));
        }
        for e in container["env"].as_array().into_iter().flatten() {
            let Some(k) = e["name"].as_str() else {
                continue;
            };
            let v = if let Some(v) = e["value"].as_str() {
                Some(v.to_string())
            } else if let Some(fp) = e
                .pointer("/valueFrom/fieldRef/fieldPath")
                .and_then(Value::as_str)
            {
                match fp {
                    "metadata.name" => Some(name.clone()),
                    "metadata.namespace" => Some(ns.clone()),
                    "metadata.uid" => Some(uid.clone()),
                    "spec.nodeName" => Some("devcluster".into()),
                    "status.podIP" | "status.hostIP" => Some("127.0.0.1".into()),
                    other => other
                        .strip_prefix("metadata.labels['")
                        .and_then(|l| l.strip_suffix("']"))
                        .and_then(|l| {
                            pod.pointer(&format!("/metadata/labels/{}", l.replace('/', "~1")))
                        })
                        .and_then(Value::as_str)
                        .map(str::to_string),
                }
            } else {
                None
            };
            if let Some(v) = v {
                env.push((k.to_string(), v));
            }
        }
        // emptyDir volumes become directories; a mount at /tmp becomes TMPDIR, and a
        // workingDir on a mount resolves to its directory.
        let mut mounts: HashMap<String, PathBuf> = HashMap::new();
        for v in pod
            .pointer("/spec/volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if v.get("emptyDir").is_some()
                && let Some(vn) = v["name"].as_str()
            {
                let d = pod_dir.join("volumes").join(vn);
                let _ = std::fs::create_dir_all(&d);
                mounts.insert(vn.to_string(), d);
            }
        }
        let mut workdir = pod_dir.clone();
        for m in container["volumeMounts"].as_array().into_iter().flatten() {
            let (Some(vn), Some(mp)) = (m["name"].as_str(), m["mountPath"].as_str()) else {
                continue;
            };
            let Some(d) = mounts.get(vn) else { continue };
            if mp == "/tmp" {
                env.push(("TMPDIR".into(), d.to_string_lossy().to_string()));
            }
            if container["workingDir"].as_str() == Some(mp) {
                workdir = d.clone();
            }
            env.push((
                format!("DEVCLUSTER_MOUNT_{}", vn.to_uppercase().replace('-', "_")),
                d.to_string_lossy().to_string(),
            ));
        }
        let limit = container
            .pointer("/resources/limits/memory")
            .and_then(|q| {
                q.as_str()
                    .map(str::to_string)
                    .or_else(|| q.as_u64().map(|n| n.to_string()))
            })
            .and_then(|q| parse_quantity(&q));
        let enforcement = match limit {
            None => Enforcement::None,
            Some(l) if !self.config.disable_cgroups => {
                make_cgroup(&uid, l).unwrap_or(Enforcement::RlimitAs)
            }
            Some(_) => Enforcement::RlimitAs,
        };
        let program = argv[0].clone();
        let mut argv: Vec<std::ffi::OsString> = match (&enforcement, limit) {
            (Enforcement::CgroupV1(d) | Enforcement::CgroupV2(d), _) => {
                let mut a: Vec<std::ffi::OsString> = vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    "echo $$ > \"$0/cgroup.procs\" && exec \"$@\"".into(),
                    d.into(),
                ];
                a.extend(argv.iter().map(Into::into));
                a
            }
            (Enforcement::RlimitAs, Some(l)) => {
                let mut a: Vec<std::ffi::OsString> = vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    "ulimit -v \"$0\" && exec \"$@\"".into(),
                    (l / 1024).max(1).to_string().into(),
                ];
                a.extend(argv.iter().map(Into::into));
                a
            }
            _ => argv.iter().map(Into::into).collect(),
        };
        // A pod's process must not outlive the executor (a kill -9 of `pdfx up`
        // would leave runners writing to storage): the kernel sends it SIGKILL
        // when its parent goes. setpriv sets that and execs, so no unsafe
        // pre_exec is needed; the setting survives the exec chain.
        if let Some(setpriv) = &self.setpriv {
            let mut wrapped: Vec<std::ffi::OsString> = vec![
                setpriv.into(),
                "--pdeathsig".into(),
                "KILL".into(),
                "--".into(),
            ];
            wrapped.append(&mut argv);
            argv = wrapped;
        }
        let mut cmd = tokio::process::Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        cmd.env_clear()
            .envs(env)
            .current_dir(&workdir)
            .stdin(std::process::Stdio::null())
            .stdout(
                std::fs::File::create(pod_dir.join("stdout.log"))
                    .map(std::process::Stdio::from)
                    .unwrap_or(std::process::Stdio::null()),
            )
            .stderr(
                std::fs::File::create(pod_dir.join("stderr.log"))
                    .map(std::process::Stdio::from)
                    .unwrap_or(std::process::Stdio::null()),
            )
            .kill_on_drop(true);
        let started = now();
        let spawned = cmd.spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                remove_cgroup(&enforcement).await;
                self.patch_status(&self.pods, pod, json!({
                    "phase": "Failed", "reason": "StartError", "message": format!("starting {program:?}: {e}"),
                    "containerStatuses": [{"name": cname, "image": image, "imageID": "", "ready": false, "restartCount": 0, "started": false,
                        "state": {"terminated": {"exitCode": 128, "reason": "StartError", "message": e.to_string(), "startedAt": started, "finishedAt": now()}}}]
                }))
                .await;
                return;
            }
        };
        let pid = child.id().unwrap_or(0);
        tracing::info!(pod = %name, pid, enforcement = enforcement.name(), "started pod process");
        // Record the running state and the enforcement method.
        let meta_patch = serde_json::to_vec(
            &json!({"metadata": {"annotations": {MEMORY_ANNOTATION: enforcement.name()}}}),
        )
        .unwrap_or_default();
        let _ = self
            .server
            .patch(
                &self.pods,
                &ns,
                &name,
                PatchType::Merge,
                &meta_patch,
                false,
                &WriteOpts::default(),
            )
            .await;
        self.patch_status(&self.pods, pod, json!({
            "phase": "Running", "startTime": started, "hostIP": "127.0.0.1", "podIP": "127.0.0.1",
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": started},
                           {"type": "PodScheduled", "status": "True", "lastTransitionTime": started}],
            "containerStatuses": [{"name": cname, "image": image, "imageID": "", "ready": true, "started": true, "restartCount": 0,
                "containerID": format!("devcluster://{pid}"), "state": {"running": {"startedAt": started}}}]
        }))
        .await;
        let (kill_tx, mut kill_rx) = oneshot::channel();
        self.running.insert(
            uid.clone(),
            RunningPod {
                kill: Some(kill_tx),
            },
        );
        let tx = self.exits_tx.clone();
        let term_decl = container["terminationMessagePath"]
            .as_str()
            .map(PathBuf::from);
        tokio::spawn(async move {
            let mut killed_by_us = false;
            let status = tokio::select! {
                s = child.wait() => s,
                _ = &mut kill_rx => {
                    killed_by_us = true;
                    kill_cgroup(&enforcement).await;
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            let (mut code, signal) = match status {
                Ok(s) => {
                    use std::os::unix::process::ExitStatusExt;
                    (
                        s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(9)),
                        s.signal(),
                    )
                }
                Err(_) => (137, Some(9)),
            };
            // A cgroup OOM kill, or (under RLIMIT_AS) a process dying of a signal after failing to allocate.
            let oom = !killed_by_us
                && (cgroup_oom(&enforcement)
                    || (enforcement == Enforcement::RlimitAs
                        && matches!(signal, Some(6 | 9 | 11))));
            if oom {
                code = 137;
            }
            kill_cgroup(&enforcement).await;
            remove_cgroup(&enforcement).await;
            let mut message = std::fs::read_to_string(&term_path).unwrap_or_default();
            if message.is_empty()
                && let Some(p) = term_decl.filter(|p| !p.starts_with("/dev"))
            {
                message = std::fs::read_to_string(p).unwrap_or_default();
            }
            message.truncate(4096);
            let _ = tx.send(Exit {
                pod_uid: uid,
                ns,
                name,
                code,
                oom,
                killed_by_us,
                message,
                started,
                finished: now(),
            });
        });
    }

    /// Removes the process finalizer from a deleted pod, letting the deletion finish.
    async fn release_pod(&self, pod: &Value) {
        let finalizers: Vec<Value> = pod
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|f| f.as_str() != Some(PROCESS_FINALIZER))
            .cloned()
            .collect();
        if finalizers.len()
            == pod
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        {
            return;
        }
        let ns = crate::api::meta_str(pod, "namespace").unwrap_or_default();
        let name = crate::api::meta_str(pod, "name").unwrap_or_default();
        let body = serde_json::to_vec(&json!({"metadata": {"finalizers": finalizers}}))
            .unwrap_or_default();
        if let Err(e) = self
            .server
            .patch(
                &self.pods,
                ns,
                name,
                PatchType::Merge,
                &body,
                false,
                &WriteOpts::default(),
            )
            .await
        {
            tracing::debug!(pod = name, error = %e, "releasing a deleted pod failed");
        }
    }

    async fn on_exit(&mut self, exit: Exit) {
        self.running.remove(&exit.pod_uid);
        let Ok(pod) = self.server.get(&self.pods, &exit.ns, &exit.name) else {
            return;
        };
        let container = pod
            .pointer("/spec/containers/0")
            .cloned()
            .unwrap_or(json!({}));
        let reason = if exit.oom {
            "OOMKilled"
        } else if exit.code == 0 {
            "Completed"
        } else {
            "Error"
        };
        let phase = if exit.code == 0 && !exit.killed_by_us {
            "Succeeded"
        } else {
            "Failed"
        };
        tracing::info!(pod = %exit.name, code = exit.code, reason, "pod process exited");
        let mut terminated = json!({"exitCode": exit.code, "reason": reason, "startedAt": exit.started, "finishedAt": exit.finished,
            "containerID": pod.pointer("/status/containerStatuses/0/containerID").cloned().unwrap_or(json!(""))});
        if !exit.message.is_empty() {
            terminated["message"] = json!(exit.message);
        }
        let mut status = json!({
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": exit.finished}],
            "containerStatuses": [{"name": container["name"], "image": container["image"], "imageID": "", "ready": false, "started": false,
                "restartCount": 0, "state": {"terminated": terminated}}]
        });
        if self.deadline_killed.contains(&exit.pod_uid) {
            status["reason"] = json!("DeadlineExceeded");
            status["message"] =
                json!("Pod was active on the node longer than the specified deadline");
        }
        self.patch_status(&self.pods, &pod, status).await;
    }
}
