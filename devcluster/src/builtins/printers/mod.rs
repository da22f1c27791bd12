//! The Table columns of the built-in kinds, as the API server's printers
//! (`pkg/printers/internalversion/printers.go`) compute them. The server always
//! prints wide; kubectl hides priority-1 columns unless `-o wide`.

use serde_json::{Value, json};

use crate::registry::PrinterColumn;
use crate::table::human_duration;

mod core;
mod network;
mod workloads;

use core::*;
use network::*;
use workloads::*;

pub(super) type Cell = fn(&Value) -> Value;

pub(super) fn c(name: &str, type_: &str, priority: i64, f: Cell) -> PrinterColumn {
    PrinterColumn {
        name: name.into(),
        type_: type_.into(),
        format: if name == "Name" {
            "name".into()
        } else {
            String::new()
        },
        description: String::new(),
        priority,
        json_path: String::new(),
        compute: Some(f),
    }
}

pub(super) fn s<'a>(o: &'a Value, p: &str) -> &'a str {
    o.pointer(p).and_then(Value::as_str).unwrap_or("")
}

pub(super) fn i(o: &Value, p: &str) -> i64 {
    o.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

pub(super) fn none_if_empty(v: String) -> Value {
    json!(if v.is_empty() { "<none>".into() } else { v })
}

pub(super) fn since(t: &str) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(t).ok()?;
    Some((chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
}

/// `translateTimestampSince`: an age, or `<unknown>` for no time.
pub(super) fn age_of(t: &str) -> String {
    since(t).map_or_else(|| "<unknown>".into(), human_duration)
}

pub(super) fn name(o: &Value) -> Value {
    json!(s(o, "/metadata/name"))
}

pub(super) fn age(o: &Value) -> Value {
    json!(age_of(s(o, "/metadata/creationTimestamp")))
}

pub(super) fn created_at(o: &Value) -> Value {
    json!(s(o, "/metadata/creationTimestamp"))
}

pub(super) fn join(o: &Value, list: &str, field: &str) -> String {
    o.pointer(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|x| x.get(field).and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(",")
}

pub(super) fn containers(o: &Value) -> Value {
    json!(join(o, "/spec/template/spec/containers", "name"))
}

pub(super) fn images(o: &Value) -> Value {
    json!(join(o, "/spec/template/spec/containers", "image"))
}

/// `metav1.LabelSelectorAsSelector(..).String()`.
pub fn selector_string(sel: Option<&Value>) -> String {
    let Some(sel) = sel else {
        return String::new();
    };
    let mut parts: Vec<String> = sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    for e in sel
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = s(e, "/key");
        let vals: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        parts.push(match s(e, "/operator") {
            "In" => format!("{key} in ({})", vals.join(",")),
            "NotIn" => format!("{key} notin ({})", vals.join(",")),
            "Exists" => key.to_string(),
            _ => format!("!{key}"),
        });
    }
    parts.sort();
    parts.join(",")
}

pub(super) fn spec_selector(o: &Value) -> Value {
    json!(selector_string(o.pointer("/spec/selector")))
}

/// The default columns of a type without a printer (and of CRDs without
/// printer columns): NAME and CREATED AT, a timestamp.
pub fn default_columns() -> Vec<PrinterColumn> {
    vec![
        c("Name", "string", 0, name),
        c("Created At", "date", 0, created_at),
    ]
}

/// The printer columns of a built-in kind (`None`: kind without its own printer).
pub fn columns(group: &str, kind: &str) -> Option<Vec<PrinterColumn>> {
    Some(match (group, kind) {
        ("apps", "Deployment") => deployment(),
        ("apps", "ReplicaSet") => replica_set(),
        ("apps", "StatefulSet") => stateful_set(),
        ("apps", "DaemonSet") => daemon_set(),
        ("apps", "ControllerRevision") => simple(&[
            ("Controller", "string", 0, |o| {
                let owner = o
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .and_then(|a| a.iter().find(|r| r["controller"] == json!(true)));
                match owner {
                    Some(r) => {
                        let group = s(r, "/apiVersion").split('/').rev().nth(1).unwrap_or("");
                        let kind = s(r, "/kind").to_lowercase();
                        let k = if group.is_empty() {
                            kind
                        } else {
                            format!("{kind}.{group}")
                        };
                        json!(format!("{k}/{}", s(r, "/name")))
                    }
                    None => json!("<none>"),
                }
            }),
            ("Revision", "integer", 0, |o| json!(i(o, "/revision"))),
            ("Age", "string", 0, age),
        ]),
        ("batch", "Job") => job(),
        ("batch", "CronJob") => cron_job(),
        ("", "Service") => service(),
        ("", "ServiceAccount") => simple(&[
            ("Secrets", "string", 0, |o| {
                json!(
                    o.pointer("/secrets")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len)
                )
            }),
            ("Age", "string", 0, age),
        ]),
        ("", "Event") | ("events.k8s.io", "Event") => event(),
        ("", "PersistentVolumeClaim") => pvc(),
        ("", "ResourceQuota") => simple(&[
            ("Age", "string", 0, age),
            ("Request", "string", 0, |o| quota_part(o, false)),
            ("Limit", "string", 0, |o| quota_part(o, true)),
        ]),
        ("", "Endpoints") => simple(&[
            ("Endpoints", "string", 0, |o| {
                let mut eps = Vec::new();
                for sub in o
                    .pointer("/subsets")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    for a in sub
                        .get("addresses")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        for p in sub
                            .get("ports")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                        {
                            eps.push(format!("{}:{}", s(a, "/ip"), i(p, "/port")));
                        }
                    }
                }
                none_if_empty(eps.join(","))
            }),
            ("Age", "string", 0, age),
        ]),
        ("", "ConfigMap") => simple(&[
            ("Data", "integer", 0, |o| {
                let n = |k: &str| o.get(k).and_then(Value::as_object).map_or(0, |m| m.len());
                json!(n("data") + n("binaryData"))
            }),
            ("Age", "string", 0, age),
        ]),
        ("", "Secret") => simple(&[
            ("Type", "string", 0, |o| json!(s(o, "/type"))),
            ("Data", "integer", 0, |o| {
                json!(
                    o.get("data")
                        .and_then(Value::as_object)
                        .map_or(0, |m| m.len())
                )
            }),
            ("Age", "string", 0, age),
        ]),
        ("discovery.k8s.io", "EndpointSlice") => simple(&[
            ("AddressType", "string", 0, |o| json!(s(o, "/addressType"))),
            ("Ports", "string", 0, |o| {
                let p: Vec<String> = o
                    .pointer("/ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|p| i(p, "/port").to_string())
                    .collect();
                none_if_empty(p.join(","))
            }),
            ("Endpoints", "string", 0, |o| {
                let a: Vec<&str> = o
                    .pointer("/endpoints")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .flat_map(|e| {
                        e.get("addresses")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                    })
                    .filter_map(Value::as_str)
                    .collect();
                none_if_empty(a.join(","))
            }),
            ("Age", "string", 0, age),
        ]),
        ("networking.k8s.io", "Ingress") => ingress(),
        ("networking.k8s.io", "IngressClass") => simple(&[
            ("Controller", "string", 0, |o| {
                json!(s(o, "/spec/controller"))
            }),
            ("Parameters", "string", 0, |o| {
                match o.pointer("/spec/parameters") {
                    Some(p) => json!(format!("{}/{}", s(p, "/kind"), s(p, "/name"))),
                    None => json!("<none>"),
                }
            }),
            ("Age", "string", 0, age),
        ]),
        ("networking.k8s.io", "NetworkPolicy") => simple(&[
            ("Pod-Selector", "string", 0, |o| {
                none_if_empty(selector_string(o.pointer("/spec/podSelector")))
            }),
            ("Age", "string", 0, age),
        ]),
        ("policy", "PodDisruptionBudget") => simple(&[
            ("Min Available", "string", 0, |o| {
                int_or_string(o, "/spec/minAvailable")
            }),
            ("Max Unavailable", "string", 0, |o| {
                int_or_string(o, "/spec/maxUnavailable")
            }),
            ("Allowed Disruptions", "integer", 0, |o| {
                json!(i(o, "/status/disruptionsAllowed"))
            }),
            ("Age", "string", 0, age),
        ]),
        ("autoscaling", "HorizontalPodAutoscaler") => hpa(),
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => role_binding(),
        ("scheduling.k8s.io", "PriorityClass") => simple(&[
            ("Value", "integer", 0, |o| json!(i(o, "/value"))),
            ("Global-Default", "boolean", 0, |o| {
                json!(
                    o.get("globalDefault")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                )
            }),
            ("Age", "string", 0, age),
            ("PreemptionPolicy", "string", 0, |o| {
                json!(s(o, "/preemptionPolicy"))
            }),
        ]),
        ("apiextensions.k8s.io", "CustomResourceDefinition")
        | ("rbac.authorization.k8s.io", "Role" | "ClusterRole")
        | ("", "LimitRange") => default_columns(),
        _ => return None,
    })
}
