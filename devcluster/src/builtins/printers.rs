//! The Table columns of the built-in kinds, as the API server's printers
//! (`pkg/printers/internalversion/printers.go`) compute them. The server always
//! prints wide; kubectl hides priority-1 columns unless `-o wide`.

use serde_json::{Value, json};

use crate::registry::PrinterColumn;
use crate::table::human_duration;

type Cell = fn(&Value) -> Value;

fn c(name: &str, type_: &str, priority: i64, f: Cell) -> PrinterColumn {
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

fn s<'a>(o: &'a Value, p: &str) -> &'a str {
    o.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn i(o: &Value, p: &str) -> i64 {
    o.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

fn none_if_empty(v: String) -> Value {
    json!(if v.is_empty() { "<none>".into() } else { v })
}

fn since(t: &str) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(t).ok()?;
    Some((chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
}

/// `translateTimestampSince`: an age, or `<unknown>` for no time.
fn age_of(t: &str) -> String {
    since(t).map_or_else(|| "<unknown>".into(), human_duration)
}

fn name(o: &Value) -> Value {
    json!(s(o, "/metadata/name"))
}

fn age(o: &Value) -> Value {
    json!(age_of(s(o, "/metadata/creationTimestamp")))
}

fn created_at(o: &Value) -> Value {
    json!(s(o, "/metadata/creationTimestamp"))
}

fn join(o: &Value, list: &str, field: &str) -> String {
    o.pointer(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|x| x.get(field).and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(",")
}

fn containers(o: &Value) -> Value {
    json!(join(o, "/spec/template/spec/containers", "name"))
}

fn images(o: &Value) -> Value {
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

fn spec_selector(o: &Value) -> Value {
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

fn deployment() -> Vec<PrinterColumn> {
    vec![
        c("Name", "string", 0, name),
        c("Ready", "string", 0, |o| {
            json!(format!(
                "{}/{}",
                i(o, "/status/readyReplicas"),
                i(o, "/spec/replicas")
            ))
        }),
        c("Up-to-date", "integer", 0, |o| {
            json!(i(o, "/status/updatedReplicas"))
        }),
        c("Available", "integer", 0, |o| {
            json!(i(o, "/status/availableReplicas"))
        }),
        c("Age", "string", 0, age),
        c("Containers", "string", 1, containers),
        c("Images", "string", 1, images),
        c("Selector", "string", 1, spec_selector),
    ]
}

fn replica_set() -> Vec<PrinterColumn> {
    vec![
        c("Name", "string", 0, name),
        c("Desired", "integer", 0, |o| json!(i(o, "/spec/replicas"))),
        c("Current", "integer", 0, |o| json!(i(o, "/status/replicas"))),
        c("Ready", "integer", 0, |o| {
            json!(i(o, "/status/readyReplicas"))
        }),
        c("Age", "string", 0, age),
        c("Containers", "string", 1, containers),
        c("Images", "string", 1, images),
        c("Selector", "string", 1, spec_selector),
    ]
}

fn stateful_set() -> Vec<PrinterColumn> {
    vec![
        c("Name", "string", 0, name),
        c("Ready", "string", 0, |o| {
            json!(format!(
                "{}/{}",
                i(o, "/status/readyReplicas"),
                i(o, "/spec/replicas")
            ))
        }),
        c("Age", "string", 0, age),
        c("Containers", "string", 1, containers),
        c("Images", "string", 1, images),
    ]
}

fn daemon_set() -> Vec<PrinterColumn> {
    vec![
        c("Name", "string", 0, name),
        c("Desired", "integer", 0, |o| {
            json!(i(o, "/status/desiredNumberScheduled"))
        }),
        c("Current", "integer", 0, |o| {
            json!(i(o, "/status/currentNumberScheduled"))
        }),
        c("Ready", "integer", 0, |o| {
            json!(i(o, "/status/numberReady"))
        }),
        c("Up-to-date", "integer", 0, |o| {
            json!(i(o, "/status/updatedNumberScheduled"))
        }),
        c("Available", "integer", 0, |o| {
            json!(i(o, "/status/numberAvailable"))
        }),
        c("Node Selector", "string", 0, |o| {
            let mut kv: Vec<String> = o
                .pointer("/spec/template/spec/nodeSelector")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect();
            kv.sort();
            none_if_empty(kv.join(","))
        }),
        c("Age", "string", 0, age),
        c("Containers", "string", 1, containers),
        c("Images", "string", 1, images),
        c("Selector", "string", 1, spec_selector),
    ]
}

fn has_condition(o: &Value, t: &str) -> bool {
    o.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| s(c, "/type") == t && s(c, "/status") == "True")
}

fn job_status(o: &Value) -> Value {
    let deleting = o.pointer("/metadata/deletionTimestamp").is_some();
    let status = if has_condition(o, "Complete") {
        "Complete"
    } else if has_condition(o, "Failed") {
        "Failed"
    } else if deleting {
        "Terminating"
    } else if has_condition(o, "Suspended") {
        "Suspended"
    } else if has_condition(o, "FailureTarget") {
        "FailureTarget"
    } else if has_condition(o, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    json!(status)
}

fn job_completions(o: &Value) -> Value {
    let succeeded = i(o, "/status/succeeded");
    match o.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(n) => json!(format!("{succeeded}/{n}")),
        None => match i(o, "/spec/parallelism") {
            p if p > 1 => json!(format!("{succeeded}/1 of {p}")),
            _ => json!(format!("{succeeded}/1")),
        },
    }
}

fn job_duration(o: &Value) -> Value {
    let parse = |p: &str| chrono::DateTime::parse_from_rfc3339(s(o, p)).ok();
    let d = match (parse("/status/startTime"), parse("/status/completionTime")) {
        (None, _) => String::new(),
        (Some(_), None) => since(s(o, "/status/startTime")).map_or(String::new(), human_duration),
        (Some(start), Some(end)) => human_duration((end - start).num_seconds()),
    };
    json!(d)
}

fn job() -> Vec<PrinterColumn> {
    vec![
        c("Name", "string", 0, name),
        c("Status", "string", 0, job_status),
        c("Completions", "string", 0, job_completions),
        c("Duration", "string", 0, job_duration),
        c("Age", "string", 0, age),
        c("Containers", "string", 1, containers),
        c("Images", "string", 1, images),
        c("Selector", "string", 1, spec_selector),
    ]
}

fn cron_job() -> Vec<PrinterColumn> {
    vec![
        c("Name", "string", 0, name),
        c("Schedule", "string", 0, |o| json!(s(o, "/spec/schedule"))),
        c("Timezone", "string", 0, |o| {
            none_if_empty(s(o, "/spec/timeZone").into())
        }),
        c("Suspend", "boolean", 0, |o| {
            json!(
                o.pointer("/spec/suspend")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
            )
        }),
        c("Active", "integer", 0, |o| {
            json!(
                o.pointer("/status/active")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len)
            )
        }),
        c("Last Schedule", "string", 0, |o| {
            match s(o, "/status/lastScheduleTime") {
                "" => json!("<none>"),
                t => json!(age_of(t)),
            }
        }),
        c("Age", "string", 0, age),
        c("Containers", "string", 1, |o| {
            json!(join(
                o,
                "/spec/jobTemplate/spec/template/spec/containers",
                "name"
            ))
        }),
        c("Images", "string", 1, |o| {
            json!(join(
                o,
                "/spec/jobTemplate/spec/template/spec/containers",
                "image"
            ))
        }),
        c("Selector", "string", 1, |o| {
            json!(selector_string(
                o.pointer("/spec/jobTemplate/spec/selector")
            ))
        }),
    ]
}

fn service_external_ip(o: &Value) -> Value {
    let ext: Vec<&str> = o
        .pointer("/spec/externalIPs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let lb: Vec<&str> = o
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|x| {
            x.get("ip")
                .or_else(|| x.get("hostname"))
                .and_then(Value::as_str)
        })
        .collect();
    match s(o, "/spec/type") {
        "ExternalName" => json!(s(o, "/spec/externalName")),
        "LoadBalancer" => {
            let all: Vec<&str> = lb.iter().chain(ext.iter()).copied().collect();
            if all.is_empty() {
                json!("<pending>")
            } else {
                json!(all.join(","))
            }
        }
        _ => none_if_empty(ext.join(",")),
    }
}

fn service_ports(o: &Value) -> Value {
    let ports: Vec<String> = o
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP");
            match p.get("nodePort").and_then(Value::as_i64) {
                Some(np) if np != 0 => format!("{}:{np}/{proto}", i(p, "/port")),
                _ => format!("{}/{proto}", i(p, "/port")),
            }
        })
        .collect();
    none_if_empty(ports.join(","))
}

fn service() -> Vec<PrinterColumn> {
    vec![
        c("Name", "string", 0, name),
        c("Type", "string", 0, |o| json!(s(o, "/spec/type"))),
        c("Cluster-IP", "string", 0, |o| {
            none_if_empty(s(o, "/spec/clusterIP").into())
        }),
        c("External-IP", "string", 0, service_external_ip),
        c("Port(s)", "string", 0, service_ports),
        c("Age", "string", 0, age),
        c("Selector", "string", 1, |o| {
            let mut kv: Vec<String> = o
                .pointer("/spec/selector")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect();
            kv.sort();
            none_if_empty(kv.join(","))
        }),
    ]
}

fn ingress() -> Vec<PrinterColumn> {
    vec![
        c("Name", "string", 0, name),
        c("Class", "string", 0, |o| {
            none_if_empty(s(o, "/spec/ingressClassName").into())
        }),
        c("Hosts", "string", 0, |o| {
            let hosts = join(o, "/spec/rules", "host");
            json!(if hosts.is_empty() { "*".into() } else { hosts })
        }),
        c("Address", "string", 0, |o| {
            let ips: Vec<&str> = o
                .pointer("/status/loadBalancer/ingress")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|x| {
                    x.get("ip")
                        .or_else(|| x.get("hostname"))
                        .and_then(Value::as_str)
                })
                .collect();
            json!(ips.join(","))
        }),
        c("Ports", "string", 0, |o| {
            let tls = o
                .pointer("/spec/tls")
                .and_then(Value::as_array)
                .is_some_and(|t| !t.is_empty());
            json!(if tls { "80, 443" } else { "80" })
        }),
        c("Age", "string", 0, age),
    ]
}

fn role_binding() -> Vec<PrinterColumn> {
    vec![
        c("Name", "string", 0, name),
        c("Role", "string", 0, |o| {
            json!(format!(
                "{}/{}",
                s(o, "/roleRef/kind"),
                s(o, "/roleRef/name")
            ))
        }),
        c("Age", "string", 0, age),
        c("Users", "string", 1, |o| subjects_of(o, "User")),
        c("Groups", "string", 1, |o| subjects_of(o, "Group")),
        c("ServiceAccounts", "string", 1, |o| {
            subjects_of(o, "ServiceAccount")
        }),
    ]
}

fn subjects_of(o: &Value, kind: &str) -> Value {
    let v: Vec<String> = o
        .pointer("/subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|x| s(x, "/kind") == kind)
        .map(|x| match kind {
            "ServiceAccount" => format!("{}/{}", s(x, "/namespace"), s(x, "/name")),
            _ => s(x, "/name").to_string(),
        })
        .collect();
    json!(v.join(", "))
}

fn int_or_string(o: &Value, p: &str) -> Value {
    match o.pointer(p) {
        Some(Value::Number(n)) => json!(n.to_string()),
        Some(Value::String(x)) => json!(x),
        _ => json!("N/A"),
    }
}

fn hpa_targets(o: &Value) -> Value {
    let metrics = o.pointer("/spec/metrics").and_then(Value::as_array);
    let parts: Vec<String> = metrics
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let r = m.get("resource")?;
            let target = match r
                .pointer("/target/averageUtilization")
                .and_then(Value::as_i64)
            {
                Some(u) => format!("{u}%"),
                None => r
                    .pointer("/target/averageValue")
                    .or_else(|| r.pointer("/target/value"))
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .unwrap_or_default(),
            };
            Some(format!("{}: <unknown>/{target}", s(r, "/name")))
        })
        .collect();
    if parts.is_empty() {
        if let Some(u) = o
            .pointer("/spec/targetCPUUtilizationPercentage")
            .and_then(Value::as_i64)
        {
            return json!(format!("cpu: <unknown>/{u}%"));
        }
        return json!("<none>");
    }
    json!(parts.join(", "))
}

fn hpa() -> Vec<PrinterColumn> {
    vec![
        c("Name", "string", 0, name),
        c("Reference", "string", 0, |o| {
            json!(format!(
                "{}/{}",
                s(o, "/spec/scaleTargetRef/kind"),
                s(o, "/spec/scaleTargetRef/name")
            ))
        }),
        c("Targets", "string", 0, hpa_targets),
        c("MinPods", "string", 0, |o| {
            match o.pointer("/spec/minReplicas") {
                Some(v) if v.is_i64() => json!(v.to_string()),
                _ => json!("<unset>"),
            }
        }),
        c("MaxPods", "string", 0, |o| {
            json!(i(o, "/spec/maxReplicas").to_string())
        }),
        c("Replicas", "string", 0, |o| {
            json!(i(o, "/status/currentReplicas").to_string())
        }),
        c("Age", "string", 0, age),
    ]
}

fn access_modes(o: &Value, p: &str) -> String {
    o.pointer(p)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|m| match m {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn pvc() -> Vec<PrinterColumn> {
    vec![
        c("Name", "string", 0, name),
        c("Status", "string", 0, |o| {
            match o.pointer("/metadata/deletionTimestamp") {
                Some(_) => json!("Terminating"),
                None => json!(s(o, "/status/phase")),
            }
        }),
        c("Volume", "string", 0, |o| json!(s(o, "/spec/volumeName"))),
        c("Capacity", "string", 0, |o| {
            json!(s(o, "/status/capacity/storage"))
        }),
        c("Access Modes", "string", 0, |o| {
            json!(access_modes(o, "/status/accessModes"))
        }),
        c("StorageClass", "string", 0, |o| {
            json!(s(o, "/spec/storageClassName"))
        }),
        c("VolumeAttributesClass", "string", 0, |o| {
            none_if_empty(s(o, "/spec/volumeAttributesClassName").into())
        }),
        c("Age", "string", 0, age),
        c("VolumeMode", "string", 1, |o| {
            json!(s(o, "/spec/volumeMode"))
        }),
    ]
}

fn quota_part(o: &Value, limits: bool) -> Value {
    let hard = o.pointer("/spec/hard").and_then(Value::as_object);
    let mut parts: Vec<String> = hard
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("limits.") == limits)
        .map(|(k, v)| {
            let used = o
                .pointer(&format!("/status/used/{}", k.replace('/', "~1")))
                .and_then(Value::as_str)
                .unwrap_or("0");
            format!(
                "{k}: {used}/{}",
                v.as_str().map_or_else(|| v.to_string(), str::to_string)
            )
        })
        .collect();
    parts.sort();
    json!(parts.join(", "))
}

fn simple(cols: &[(&str, &str, i64, Cell)]) -> Vec<PrinterColumn> {
    let mut v = vec![c("Name", "string", 0, name)];
    v.extend(cols.iter().map(|(n, t, p, f)| c(n, t, *p, *f)));
    v
}

fn event() -> Vec<PrinterColumn> {
    vec![
        c("Last Seen", "string", 0, |o| json!(event_times(o).1)),
        c("Type", "string", 0, |o| json!(s(&as_core(o), "/type"))),
        c("Reason", "string", 0, |o| json!(s(&as_core(o), "/reason"))),
        c("Object", "string", 0, |o| {
            let e = as_core(o);
            let kind = s(&e, "/involvedObject/kind").to_lowercase();
            match s(&e, "/involvedObject/name") {
                "" => json!(kind),
                n => json!(format!("{kind}/{n}")),
            }
        }),
        c("Subobject", "string", 1, |o| {
            json!(s(&as_core(o), "/involvedObject/fieldPath"))
        }),
        c("Source", "string", 1, |o| {
            let e = as_core(o);
            let comp = match s(&e, "/source/component") {
                "" => s(&e, "/reportingComponent"),
                x => x,
            };
            match s(&e, "/source/host") {
                "" => json!(comp),
                h => json!(format!("{comp}, {h}")),
            }
        }),
        c("Message", "string", 0, |o| {
            json!(s(&as_core(o), "/message").trim())
        }),
        c("First Seen", "string", 1, |o| json!(event_times(o).0)),
        c("Count", "string", 1, |o| {
            let e = as_core(o);
            json!(e.pointer("/count").and_then(Value::as_i64).unwrap_or(1))
        }),
        c("Name", "string", 1, name),
    ]
}

/// The core/v1 view of an event row (rows of events.k8s.io/v1 are stored form).
fn as_core(o: &Value) -> Value {
    if o.get("regarding").is_some() || o.get("note").is_some() {
        super::event_to_core(o)
    } else {
        o.clone()
    }
}

/// (first seen, last seen) as ages, as `printEvent` picks them.
fn event_times(o: &Value) -> (String, String) {
    let e = as_core(o);
    let first = match s(&e, "/firstTimestamp") {
        "" => age_of(s(&e, "/eventTime")),
        t => age_of(t),
    };
    let last = match (s(&e, "/series/lastObservedTime"), s(&e, "/lastTimestamp")) {
        (t, _) if !t.is_empty() => age_of(t),
        (_, "") => first.clone(),
        (_, t) => age_of(t),
    };
    (first, last)
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
