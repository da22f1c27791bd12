//! The built-in kinds with server behaviour of their own: Namespace, Pod, Job,
//! events (both forms), Lease, Secret, ConfigMap, CRD, Node.

use super::kinds::printed;
use crate::registry::{Builtin, PrinterColumn, ResourceInfo, StorageKey};

#[allow(clippy::too_many_arguments)]
pub(super) fn builtin(
    group: &str,
    version: &str,
    plural: &str,
    singular: &str,
    kind: &str,
    namespaced: bool,
    short: &[&str],
    status: bool,
    b: Builtin,
    storage: (&str, &str),
) -> ResourceInfo {
    ResourceInfo {
        group: group.into(),
        version: version.into(),
        plural: plural.into(),
        singular: singular.into(),
        kind: kind.into(),
        namespaced,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: Vec::new(),
        status_subresource: status,
        columns: Vec::new(),
        full_columns: false,
        schema: None,
        has_cel: false,
        builtin: Some(b),
        storage: StorageKey::new(storage.0, storage.1),
        field_selectors: Vec::new(),
    }
}

fn col(name: &str, type_: &str, path: &str, priority: i64, description: &str) -> PrinterColumn {
    PrinterColumn {
        name: name.into(),
        type_: type_.into(),
        format: String::new(),
        description: description.into(),
        priority,
        json_path: path.into(),
        compute: None,
    }
}

/// The built-in resources with behaviour of their own (and their columns).
pub(super) fn special() -> Vec<ResourceInfo> {
    let mut ns = builtin(
        "",
        "v1",
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["ns"],
        true,
        Builtin::Namespace,
        ("", "namespaces"),
    );
    ns.columns = vec![col(
        "Status",
        "string",
        ".status.phase",
        0,
        "The phase of the namespace",
    )];
    ns.field_selectors = vec!["status.phase".into()];
    let mut job = builtin(
        "batch",
        "v1",
        "jobs",
        "job",
        "Job",
        true,
        &[],
        true,
        Builtin::Job,
        ("batch", "jobs"),
    );
    job.categories = vec!["all".into()];
    printed(&mut job);
    let mut pod = builtin(
        "",
        "v1",
        "pods",
        "pod",
        "Pod",
        true,
        &["po"],
        true,
        Builtin::Pod,
        ("", "pods"),
    );
    pod.categories = vec!["all".into()];
    pod.columns = vec![
        col("Status", "string", ".status.phase", 0, "Phase of the pod"),
        col(
            "Reason",
            "string",
            ".status.containerStatuses[0].state.terminated.reason",
            0,
            "Termination reason",
        ),
        col(
            "Exit",
            "integer",
            ".status.containerStatuses[0].state.terminated.exitCode",
            1,
            "Exit code",
        ),
    ];
    pod.field_selectors = vec![
        "status.phase".into(),
        "spec.nodeName".into(),
        "spec.restartPolicy".into(),
    ];
    let mut ev = builtin(
        "events.k8s.io",
        "v1",
        "events",
        "event",
        "Event",
        true,
        &["ev"],
        false,
        Builtin::Event,
        ("events.k8s.io", "events"),
    );
    printed(&mut ev);
    ev.field_selectors = [
        "regarding.kind",
        "regarding.name",
        "regarding.namespace",
        "regarding.uid",
        "reason",
        "type",
        "reportingController",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut core_ev = builtin(
        "",
        "v1",
        "events",
        "event",
        "Event",
        true,
        &["ev"],
        false,
        Builtin::CoreEvent,
        ("events.k8s.io", "events"),
    );
    printed(&mut core_ev);
    core_ev.field_selectors = [
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut lease = builtin(
        "coordination.k8s.io",
        "v1",
        "leases",
        "lease",
        "Lease",
        true,
        &[],
        false,
        Builtin::Lease,
        ("coordination.k8s.io", "leases"),
    );
    lease.columns = vec![col("Holder", "string", ".spec.holderIdentity", 0, "")];
    let mut secret = builtin(
        "",
        "v1",
        "secrets",
        "secret",
        "Secret",
        true,
        &[],
        false,
        Builtin::Secret,
        ("", "secrets"),
    );
    secret.field_selectors = vec!["type".into()];
    printed(&mut secret);
    let mut cm = builtin(
        "",
        "v1",
        "configmaps",
        "configmap",
        "ConfigMap",
        true,
        &["cm"],
        false,
        Builtin::ConfigMap,
        ("", "configmaps"),
    );
    let mut crd = builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "customresourcedefinition",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
        true,
        Builtin::Crd,
        ("apiextensions.k8s.io", "customresourcedefinitions"),
    );
    printed(&mut crd);
    let mut node = builtin(
        "",
        "v1",
        "nodes",
        "node",
        "Node",
        false,
        &["no"],
        true,
        Builtin::Node,
        ("", "nodes"),
    );
    node.columns = vec![
        col(
            "CPU",
            "string",
            ".status.allocatable.cpu",
            0,
            "Allocatable CPU",
        ),
        col(
            "Memory",
            "string",
            ".status.allocatable.memory",
            0,
            "Allocatable memory",
        ),
        col(
            "Pods",
            "string",
            ".status.allocatable.pods",
            0,
            "Allocatable pod count",
        ),
    ];
    printed(&mut cm);
    vec![ns, pod, core_ev, secret, cm, job, ev, lease, crd, node]
}
