//! The kubelet part of the executor: a bound pod's container becomes a local
//! process (image mapped to a program, env, emptyDir volumes, memory limit),
//! and its end becomes the pod's status (exit code, `OOMKilled`, termination
//! message).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::jobs::condition;
use super::scheduler::Requests;
use super::{Executor, PROCESS_FINALIZER};
use crate::api::{PatchType, WriteOpts, now};

/// How long a failed pull shows `ErrImagePull` before the kubelet's back-off
/// (`ImagePullBackOff`) takes over.
const PULL_BACK_OFF_AFTER: Duration = Duration::from_secs(1);

/// The outcome of one process.
#[derive(Debug)]
pub(super) struct Exit {
    pub(super) pod_uid: String,
    pub(super) ns: String,
    pub(super) name: String,
    pub(super) code: i32,
    pub(super) oom: bool,
    pub(super) killed_by_us: bool,
    pub(super) message: String,
    pub(super) started: String,
    pub(super) finished: String,
}

pub(super) struct RunningPod {
    pub(super) kill: Option<oneshot::Sender<()>>,
    /// What the pod holds of the node until its process has exited.
    pub(super) requests: Requests,
}

/// Why a bound pod's container waits, and the kubelet's events for it.
struct Waiting<'a> {
    reason: &'a str,
    message: &'a str,
    events: &'a [&'a str],
    /// Whether `ImagePullBackOff` follows (a failed pull).
    backs_off: bool,
}

/// A bound pod whose image cannot be pulled.
pub(super) struct Pulling {
    /// What the pod holds of the node while it waits.
    pub(super) requests: Requests,
    /// When the pull failed.
    failed_at: Instant,
    /// Whether `ImagePullBackOff` is already reported.
    backing_off: bool,
}

pub(super) fn find_on_path(program: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

impl Executor {
    /// Pods left `Running` by an executor that is gone (a restarted `pdfx up`)
    /// have no process any more. Like a node that disappeared, they are marked
    /// Failed with a `DisruptionTarget` condition, which the Job's
    /// `podFailurePolicy` can ignore so the Job replaces the pod instead of
    /// counting a failure.
    pub(super) async fn fail_orphaned_pods(&mut self) {
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
                    // Kept so that what the process wrote stays readable (`pods/log`).
                    "containerID": pod.pointer("/status/containerStatuses/0/containerID").cloned().unwrap_or(json!("")),
                    "reason": "ContainerStatusUnknown", "message": "The container could not be located when the pod was terminated",
                    "startedAt": started, "finishedAt": t}}}]
            });
            self.patch_status(&self.pods, &pod, status).await;
        }
    }

    /// Runs a pod just bound to the node: its program when its image maps to
    /// one (or it names a `command`), else it waits for an image pull that
    /// cannot succeed, as a kubelet reports it.
    pub(super) async fn start_pod(&mut self, pod: &Value, requests: Requests) {
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
        if let Some(docker) = self.config.container_runtime.clone() {
            // The image itself runs: it must be in the engine (nothing is pulled).
            let Some(image_user) = docker.image_user(&image).await else {
                let message = format!(
                    "rpc error: code = NotFound desc = failed to pull and unpack image {image:?}: the image is not in the local Docker engine and devcluster never pulls"
                );
                self.pull_failed(pod, &cname, &image, &message, requests)
                    .await;
                return;
            };
            let pod_name = crate::api::meta_string(pod, "name");
            let security = super::docker::Security::of(pod, &container);
            if let Err(message) = security.check_non_root(&image_user, &pod_name, &cname) {
                self.config_error(pod, &cname, &image, &message, requests)
                    .await;
                return;
            }
            let spec = super::process::Program::Container {
                command,
                args,
                security,
            };
            self.launch(pod, &container, spec, requests).await;
            return;
        }
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
            let message = format!(
                "rpc error: code = NotFound desc = failed to pull and unpack image {image:?}: no local program is mapped to this image (devcluster: --image {image}=PATH)"
            );
            self.pull_failed(pod, &cname, &image, &message, requests)
                .await;
            return;
        };
        argv.extend(args);
        self.launch(
            pod,
            &container,
            super::process::Program::Process(argv),
            requests,
        )
        .await;
    }

    /// The kubelet refuses to create the container (`runAsNonRoot` against a
    /// root user): the pod stays Pending with `CreateContainerConfigError`,
    /// holding its requests, as a real node keeps it.
    async fn config_error(
        &mut self,
        pod: &Value,
        container: &str,
        image: &str,
        message: &str,
        requests: Requests,
    ) {
        tracing::info!(pod = %crate::api::meta_string(pod, "name"), message, "CreateContainerConfigError");
        let event = format!("Error: {message}");
        // Not a pull: no back-off follows.
        let waiting = Waiting {
            reason: "CreateContainerConfigError",
            message,
            events: &[&event],
            backs_off: false,
        };
        self.hold_waiting(pod, container, image, waiting, requests)
            .await;
    }

    /// The image cannot be run: like a kubelet whose pull failed, the pod is
    /// bound (`PodScheduled=True`) and its container waits in `ErrImagePull`,
    /// then `ImagePullBackOff`, until the pod is deleted.
    async fn pull_failed(
        &mut self,
        pod: &Value,
        container: &str,
        image: &str,
        message: &str,
        requests: Requests,
    ) {
        let name = crate::api::meta_str(pod, "name").unwrap_or_default();
        tracing::info!(pod = name, image, "image cannot be run: ErrImagePull");
        let pull = format!("Failed to pull image {image:?}: {message}");
        let waiting = Waiting {
            reason: "ErrImagePull",
            message,
            events: &[&pull, "Error: ErrImagePull"],
            backs_off: true,
        };
        self.hold_waiting(pod, container, image, waiting, requests)
            .await;
    }

    /// A bound pod whose container cannot start: its waiting state and the
    /// kubelet's Warning events are written, and it keeps its requests.
    async fn hold_waiting(
        &mut self,
        pod: &Value,
        container: &str,
        image: &str,
        waiting: Waiting<'_>,
        requests: Requests,
    ) {
        let uid = crate::api::meta_string(pod, "uid");
        self.patch_status(
            &self.pods,
            pod,
            waiting_status(container, image, waiting.reason, waiting.message, &now()),
        )
        .await;
        for event in waiting.events {
            self.record(pod, "Warning", "Failed", "kubelet", event)
                .await;
        }
        self.pulling.insert(
            uid,
            Pulling {
                requests,
                failed_at: Instant::now(),
                backing_off: !waiting.backs_off,
            },
        );
    }

    /// A failed pull turns into the kubelet's back-off.
    pub(super) async fn back_off_pull(&mut self, pod: &Value) {
        let uid = crate::api::meta_str(pod, "uid").unwrap_or_default();
        let Some(pulling) = self.pulling.get_mut(uid) else {
            return;
        };
        if pulling.backing_off || pulling.failed_at.elapsed() < PULL_BACK_OFF_AFTER {
            return;
        }
        pulling.backing_off = true;
        let container = pod
            .pointer("/spec/containers/0")
            .cloned()
            .unwrap_or(json!({}));
        let cname = container["name"].as_str().unwrap_or("main");
        let image = container["image"].as_str().unwrap_or_default();
        let message = format!("Back-off pulling image {image:?}");
        let since = pod
            .pointer("/status/startTime")
            .and_then(Value::as_str)
            .map_or_else(now, str::to_owned);
        self.patch_status(
            &self.pods,
            pod,
            waiting_status(cname, image, "ImagePullBackOff", &message, &since),
        )
        .await;
        self.record(pod, "Normal", "BackOff", "kubelet", &message)
            .await;
        self.record(
            pod,
            "Warning",
            "Failed",
            "kubelet",
            "Error: ImagePullBackOff",
        )
        .await;
    }

    /// Removes the process finalizer from a deleted pod, letting the deletion finish.
    pub(super) async fn release_pod(&self, pod: &Value) {
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

    pub(super) async fn on_exit(&mut self, exit: Exit) {
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
            "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": exit.started},
                           {"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": exit.finished}],
            "containerStatuses": [{"name": container["name"], "image": container["image"], "imageID": "", "ready": false, "started": false,
                "restartCount": 0, "state": {"terminated": terminated}}]
        });
        match self.deadline_killed.get(&exit.pod_uid).map(String::as_str) {
            Some("DeadlineExceeded") => {
                status["reason"] = json!("DeadlineExceeded");
                status["message"] =
                    json!("Pod was active on the node longer than the specified deadline");
            }
            Some(reason) => {
                status["reason"] = json!(reason);
                status["message"] = json!(format!("Pod was terminated: {reason}"));
            }
            None => {}
        }
        self.patch_status(&self.pods, &pod, status).await;
    }
}

/// A Pending pod's status while its container waits (bound, not ready).
fn waiting_status(container: &str, image: &str, reason: &str, message: &str, since: &str) -> Value {
    let not_ready = format!("containers with unready status: [{container}]");
    json!({
        "phase": "Pending", "hostIP": "127.0.0.1", "startTime": since,
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": since},
            {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": since},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "message": not_ready,
             "lastProbeTime": null, "lastTransitionTime": since},
            {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady", "message": not_ready,
             "lastProbeTime": null, "lastTransitionTime": since},
        ],
        "containerStatuses": [{"name": container, "image": image, "imageID": "", "ready": false, "started": false,
            "restartCount": 0, "state": {"waiting": {"reason": reason, "message": message}}}]
    })
}
