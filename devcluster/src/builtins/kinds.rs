//! The built-in kinds the emulator serves: what discovery says of each (group,
//! version, plural, scope, short names, categories, status subresource) and
//! their printer columns. Schemas come from `k8s_schema`; only the few kinds
//! with server behaviour a client can see have a `Builtin` of their own.

use crate::registry::{Builtin, PrinterColumn, ResourceInfo, StorageKey};

/// One row of the generic table.
struct Kind {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    /// In the `all` category (`kubectl get all`), as on a real server.
    all: bool,
    status: bool,
    builtin: Builtin,
}

const fn k(
    group: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    status: bool,
) -> Kind {
    Kind {
        group,
        version: "v1",
        plural,
        kind,
        namespaced,
        short,
        all,
        status,
        builtin: Builtin::Kubernetes,
    }
}

const RBAC: &str = "rbac.authorization.k8s.io";
const NET: &str = "networking.k8s.io";
const AUTHZ: &str = "authorization.k8s.io";

/// The kinds a Helm chart installs (and their neighbours), as a 1.33 server lists them.
const KINDS: &[Kind] = &[
    Kind {
        builtin: Builtin::Service,
        ..k("", "services", "Service", true, &["svc"], true, true)
    },
    k(
        "",
        "serviceaccounts",
        "ServiceAccount",
        true,
        &["sa"],
        false,
        false,
    ),
    k("", "endpoints", "Endpoints", true, &["ep"], false, false),
    k(
        "",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
        false,
        true,
    ),
    k(
        "",
        "resourcequotas",
        "ResourceQuota",
        true,
        &["quota"],
        false,
        true,
    ),
    k(
        "",
        "limitranges",
        "LimitRange",
        true,
        &["limits"],
        false,
        false,
    ),
    k(
        "",
        "replicationcontrollers",
        "ReplicationController",
        true,
        &["rc"],
        true,
        true,
    ),
    k(
        "apps",
        "deployments",
        "Deployment",
        true,
        &["deploy"],
        true,
        true,
    ),
    k(
        "apps",
        "replicasets",
        "ReplicaSet",
        true,
        &["rs"],
        true,
        true,
    ),
    k(
        "apps",
        "statefulsets",
        "StatefulSet",
        true,
        &["sts"],
        true,
        true,
    ),
    k("apps", "daemonsets", "DaemonSet", true, &["ds"], true, true),
    k(
        "apps",
        "controllerrevisions",
        "ControllerRevision",
        true,
        &[],
        false,
        false,
    ),
    k("batch", "cronjobs", "CronJob", true, &["cj"], true, true),
    Kind {
        version: "v2",
        ..k(
            "autoscaling",
            "horizontalpodautoscalers",
            "HorizontalPodAutoscaler",
            true,
            &["hpa"],
            true,
            true,
        )
    },
    k(
        "policy",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        false,
        true,
    ),
    k(NET, "ingresses", "Ingress", true, &["ing"], false, true),
    k(
        NET,
        "ingressclasses",
        "IngressClass",
        false,
        &[],
        false,
        false,
    ),
    k(
        NET,
        "networkpolicies",
        "NetworkPolicy",
        true,
        &["netpol"],
        false,
        false,
    ),
    k(RBAC, "roles", "Role", true, &[], false, false),
    k(
        RBAC,
        "clusterroles",
        "ClusterRole",
        false,
        &[],
        false,
        false,
    ),
    Kind {
        builtin: Builtin::RoleBinding,
        ..k(RBAC, "rolebindings", "RoleBinding", true, &[], false, false)
    },
    Kind {
        builtin: Builtin::RoleBinding,
        ..k(
            RBAC,
            "clusterrolebindings",
            "ClusterRoleBinding",
            false,
            &[],
            false,
            false,
        )
    },
    k(
        "scheduling.k8s.io",
        "priorityclasses",
        "PriorityClass",
        false,
        &["pc"],
        false,
        false,
    ),
    k(
        "discovery.k8s.io",
        "endpointslices",
        "EndpointSlice",
        true,
        &[],
        false,
        false,
    ),
    Kind {
        builtin: Builtin::Review,
        ..k(
            AUTHZ,
            "selfsubjectaccessreviews",
            "SelfSubjectAccessReview",
            false,
            &[],
            false,
            false,
        )
    },
    Kind {
        builtin: Builtin::Review,
        ..k(
            AUTHZ,
            "selfsubjectrulesreviews",
            "SelfSubjectRulesReview",
            false,
            &[],
            false,
            false,
        )
    },
    Kind {
        builtin: Builtin::Review,
        ..k(
            AUTHZ,
            "subjectaccessreviews",
            "SubjectAccessReview",
            false,
            &[],
            false,
            false,
        )
    },
    Kind {
        builtin: Builtin::Review,
        ..k(
            "authentication.k8s.io",
            "selfsubjectreviews",
            "SelfSubjectReview",
            false,
            &[],
            false,
            false,
        )
    },
];

impl Kind {
    fn info(&self) -> ResourceInfo {
        let mut ri = builtin(
            self.group,
            self.version,
            self.plural,
            &self.kind.to_lowercase(),
            self.kind,
            self.namespaced,
            self.short,
            self.status,
            self.builtin,
            (self.group, self.plural),
        );
        if self.all {
            ri.categories = vec!["all".into()];
        }
        printed(&mut ri);
        ri
    }
}

/// Use the kind's server-side printer, or the default NAME / CREATED AT.
fn printed(ri: &mut ResourceInfo) {
    ri.columns = super::printers::columns(&ri.group, &ri.kind)
        .unwrap_or_else(super::printers::default_columns);
    ri.full_columns = true;
}

#[allow(clippy::too_many_arguments)]
fn builtin(
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

/// Every built-in resource the emulator serves: the ones with their own
/// behaviour first, then the generic table.
pub fn builtins() -> Vec<ResourceInfo> {
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
    let mut out = vec![ns, pod, core_ev, secret, cm, job, ev, lease, crd, node];
    out.extend(KINDS.iter().map(Kind::info));
    out
}
