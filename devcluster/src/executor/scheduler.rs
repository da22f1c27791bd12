//! The scheduler part of the executor: one node (this machine, or the
//! capacity it is given), served as a `Node` object, and pods admitted only
//! when their requests fit beside those of the pods already bound to it.
//! A pod that does not fit stays `Pending` with `PodScheduled=False`,
//! `Unschedulable` and the real scheduler's message, and starts once it fits.

use std::ops::AddAssign;

use pdfx_runtime::quantity;
use serde_json::{Value, json};

use super::{Executor, ExecutorConfig};
use crate::api::{WriteOpts, now};

/// The name of the executor's one node (also the pods' `spec.nodeName`).
pub const NODE_NAME: &str = "devcluster";

/// What a pod asks of its node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Requests {
    /// Memory, bytes.
    pub(super) memory: u64,
    /// CPU, thousandths of a core.
    pub(super) cpu_millis: u64,
}

impl AddAssign for Requests {
    fn add_assign(&mut self, other: Self) {
        self.memory = self.memory.saturating_add(other.memory);
        self.cpu_millis = self.cpu_millis.saturating_add(other.cpu_millis);
    }
}

/// One container's requests; a resource with a limit but no request requests
/// its limit, as the API server defaults it.
fn container_requests(container: &Value) -> Requests {
    let amount = |resource: &str| {
        let q = container
            .pointer(&format!("/resources/requests/{resource}"))
            .or_else(|| container.pointer(&format!("/resources/limits/{resource}")))?;
        q.as_str()
            .map(str::to_owned)
            .or_else(|| q.as_u64().map(|n| n.to_string()))
    };
    let parse = |resource: &str, scale: fn(&str) -> Option<u64>| {
        amount(resource).and_then(|q| scale(&q)).unwrap_or(0)
    };
    Requests {
        memory: parse("memory", |q| quantity::parse_bytes(q).ok()),
        cpu_millis: parse("cpu", |q| {
            quantity::Amount::parse(q)
                .ok()
                .filter(|a| !a.is_negative())
                .and_then(|a| a.ceil_scaled(3))
                .and_then(|m| u64::try_from(m).ok())
        }),
    }
}

/// A pod's effective requests: the sum over its containers, or the largest
/// init container's when that is more (init containers run one at a time).
pub(super) fn pod_requests(pod: &Value) -> Requests {
    let containers = |list: &str| {
        pod.pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(container_requests)
            .collect::<Vec<_>>()
    };
    let mut sum = Requests::default();
    for r in containers("containers") {
        sum += r;
    }
    for r in containers("initContainers") {
        sum.memory = sum.memory.max(r.memory);
        sum.cpu_millis = sum.cpu_millis.max(r.cpu_millis);
    }
    sum
}

/// This machine's memory (`MemTotal` of `/proc/meminfo`), if it can be read.
pub fn machine_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// This machine's CPUs, in millicores.
pub fn machine_cpu_millis() -> u64 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u64)
        .unwrap_or(1)
        .saturating_mul(1000)
}

/// What the node offers pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Node {
    pub(super) memory: u64,
    pub(super) cpu_millis: u64,
    /// Whether CPU requests must fit: only when the CPU was given. The
    /// machine's own count is reported, but the default runner asks for 2
    /// CPUs, and `pdfx up --slots N` must run N runners on any machine (on one
    /// CPU none would ever start); local processes share the CPUs anyway.
    pub(super) cpu_enforced: bool,
    pub(super) pods: usize,
}

impl Node {
    pub(super) fn new(config: &ExecutorConfig) -> Self {
        Self {
            // Without /proc/meminfo memory does not limit scheduling.
            memory: config
                .node_memory
                .or_else(machine_memory)
                .unwrap_or(u64::MAX),
            cpu_millis: config.node_cpu_millis.unwrap_or_else(machine_cpu_millis),
            cpu_enforced: config.node_cpu_millis.is_some(),
            pods: config.slots,
        }
    }

    /// The scheduler's reasons why a pod asking `want` does not fit beside
    /// `bound` pods asking `used` in all, sorted as it prints them; empty when
    /// it fits.
    pub(super) fn misfit(&self, used: Requests, bound: usize, want: Requests) -> Vec<&'static str> {
        let mut reasons = Vec::new();
        if self.cpu_enforced && want.cpu_millis > self.cpu_millis.saturating_sub(used.cpu_millis) {
            reasons.push("Insufficient cpu");
        }
        if want.memory > self.memory.saturating_sub(used.memory) {
            reasons.push("Insufficient memory");
        }
        if bound >= self.pods {
            reasons.push("Too many pods");
        }
        reasons
    }

    /// Capacity and allocatable (the same: nothing is reserved for the system).
    fn resources(&self) -> Value {
        json!({
            "cpu": quantity_of_millis(self.cpu_millis),
            "memory": quantity::from_bytes(self.memory).0,
            "pods": self.pods.to_string(),
        })
    }

    /// The Node object, as a kubelet registers it.
    fn object(&self) -> Value {
        let t = now();
        json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE_NAME,
                "labels": {
                    "kubernetes.io/hostname": NODE_NAME,
                    "kubernetes.io/os": std::env::consts::OS,
                    "kubernetes.io/arch": arch(),
                    "node-role.kubernetes.io/control-plane": "",
                },
            },
            "spec": {},
            "status": self.status(&t),
        })
    }

    fn status(&self, t: &str) -> Value {
        json!({
            "capacity": self.resources(),
            "allocatable": self.resources(),
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
                "lastHeartbeatTime": t, "lastTransitionTime": t,
            }],
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": NODE_NAME},
            ],
            "nodeInfo": {
                "operatingSystem": std::env::consts::OS,
                "architecture": arch(),
                "kubeletVersion": "devcluster",
                "containerRuntimeVersion": "devcluster://local-processes",
            },
        })
    }
}

/// A CPU quantity as a node reports it: whole cores, or millicores.
fn quantity_of_millis(millis: u64) -> String {
    if millis.is_multiple_of(1000) {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

/// `kubernetes.io/arch`: Go's architecture names.
fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// The scheduler's `PodScheduled=False` message for one node's reasons.
pub(super) fn unschedulable_message(reasons: &[&str]) -> String {
    let listed: Vec<String> = reasons.iter().map(|r| format!("1 {r}")).collect();
    format!(
        "0/1 nodes are available: {}. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
        listed.join(", ")
    )
}

impl Executor {
    /// Registers the node, or brings a stored one (from an earlier run with
    /// other settings) up to this run's capacity.
    pub(super) async fn register_node(&self) {
        let Some(nodes) = self.server.resource("", "v1", "nodes") else {
            return;
        };
        let result = match self.server.get(&nodes, "", NODE_NAME) {
            Ok(_) => {
                let body = serde_json::to_vec(&json!({"status": self.node.status(&now())}))
                    .unwrap_or_default();
                self.server
                    .patch(
                        &nodes,
                        "",
                        NODE_NAME,
                        crate::api::PatchType::Merge,
                        &body,
                        true,
                        &WriteOpts::default(),
                    )
                    .await
            }
            Err(_) => {
                self.server
                    .create(&nodes, None, self.node.object(), &WriteOpts::default())
                    .await
            }
        };
        match result {
            Ok(_) => tracing::info!(
                node = NODE_NAME,
                memory = self.node.memory,
                cpu_millis = self.node.cpu_millis,
                cpu_enforced = self.node.cpu_enforced,
                pods = self.node.pods,
                "node registered"
            ),
            Err(e) => tracing::warn!(error = %e, "registering the node failed"),
        }
    }

    /// The node is re-registered when someone deleted it.
    pub(super) async fn keep_node(&self) {
        let missing = self
            .server
            .resource("", "v1", "nodes")
            .is_some_and(|nodes| self.server.get(&nodes, "", NODE_NAME).is_err());
        if missing {
            self.register_node().await;
        }
    }

    /// What the pods bound to the node ask in all, and how many they are.
    pub(super) fn node_usage(&self) -> (Requests, usize) {
        let mut used = Requests::default();
        for r in self.running.values().map(|r| r.requests) {
            used += r;
        }
        for r in self.pulling.values().map(|p| p.requests) {
            used += r;
        }
        (used, self.running.len() + self.pulling.len())
    }

    /// Binds `pod` to the node (`spec.nodeName`, which the real scheduler
    /// sets through the binding subresource).
    pub(super) async fn bind(&self, pod: &Value) {
        let ns = crate::api::meta_str(pod, "namespace").unwrap_or_default();
        let name = crate::api::meta_str(pod, "name").unwrap_or_default();
        let body =
            serde_json::to_vec(&json!({"spec": {"nodeName": NODE_NAME}})).unwrap_or_default();
        if let Err(e) = self
            .server
            .patch(
                &self.pods,
                ns,
                name,
                crate::api::PatchType::Merge,
                &body,
                false,
                &WriteOpts::default(),
            )
            .await
        {
            tracing::debug!(pod = name, error = %e, "binding the pod failed");
            return;
        }
        let note = format!("Successfully assigned {ns}/{name} to {NODE_NAME}");
        self.record(pod, "Normal", "Scheduled", "default-scheduler", &note)
            .await;
    }

    /// Records that `pod` fits nowhere (once per distinct message, as the
    /// scheduler updates the condition only when it changes).
    pub(super) async fn mark_unschedulable(&self, pod: &Value, reasons: &[&str]) {
        let message = unschedulable_message(reasons);
        let current = pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c["type"] == "PodScheduled"));
        if current.is_some_and(|c| {
            c["status"] == "False" && c["reason"] == "Unschedulable" && c["message"] == message
        }) {
            return;
        }
        let name = crate::api::meta_str(pod, "name").unwrap_or_default();
        tracing::info!(pod = name, %message, "pod does not fit the node");
        self.record(
            pod,
            "Warning",
            "FailedScheduling",
            "default-scheduler",
            &message,
        )
        .await;
        self.patch_status(
            &self.pods,
            pod,
            json!({"phase": "Pending", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": message, "lastProbeTime": null, "lastTransitionTime": now()
            }]}),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_default_to_limits_and_sum_over_containers() {
        let pod = json!({"spec": {"containers": [
            {"resources": {"limits": {"memory": "1Gi", "cpu": "2"}}},
            {"resources": {"requests": {"memory": "512Mi", "cpu": "500m"}, "limits": {"memory": "1Gi"}}},
            {}
        ], "initContainers": [{"resources": {"requests": {"memory": "4Gi", "cpu": "100m"}}}]}});
        assert_eq!(
            pod_requests(&pod),
            Requests {
                memory: 4 << 30,
                cpu_millis: 2500
            }
        );
    }

    #[test]
    fn misfits_read_like_the_scheduler() {
        let mut node = Node {
            memory: 2 << 30,
            cpu_millis: 2000,
            cpu_enforced: true,
            pods: 2,
        };
        let gib = Requests {
            memory: 1 << 30,
            cpu_millis: 1000,
        };
        assert!(node.misfit(Requests::default(), 0, gib).is_empty());
        assert!(node.misfit(gib, 1, gib).is_empty());
        let mut two = gib;
        two += gib;
        assert_eq!(
            node.misfit(two, 2, gib),
            ["Insufficient cpu", "Insufficient memory", "Too many pods"]
        );
        assert_eq!(
            unschedulable_message(&["Insufficient memory"]),
            "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
        );
        node.cpu_enforced = false;
        assert_eq!(
            node.misfit(two, 1, gib),
            ["Insufficient memory"],
            "CPU given by default only informs"
        );
        assert_eq!(node.resources()["memory"], "2Gi");
        assert_eq!(node.resources()["cpu"], "2");
        assert_eq!(quantity_of_millis(1500), "1500m");
    }

    #[test]
    fn the_machine_has_memory_and_cpus() {
        assert!(machine_memory().is_some_and(|m| m > 0));
        assert!(machine_cpu_millis() >= 1000);
    }
}
