//! The built-in kinds the emulator serves: what discovery says of each (group,
//! version, plural, scope, short names, categories, status subresource) and
//! their printer columns. Schemas come from `k8s_schema`; only the few kinds
//! with server behaviour a client can see have a `Builtin` of their own.

use super::special_kinds::{builtin, special};
use crate::registry::{Builtin, ResourceInfo};

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
pub(super) fn printed(ri: &mut ResourceInfo) {
    ri.columns = super::printers::columns(&ri.group, &ri.kind)
        .unwrap_or_else(super::printers::default_columns);
    ri.full_columns = true;
}

/// Every built-in resource the emulator serves: the ones with their own
/// behaviour first, then the generic table.
pub fn builtins() -> Vec<ResourceInfo> {
    let mut out = special();
    out.extend(KINDS.iter().map(Kind::info));
    out
}
