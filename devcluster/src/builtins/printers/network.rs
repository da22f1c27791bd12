//! Service, Ingress, RBAC binding and autoscaling printers.

use serde_json::{Value, json};

use super::*;
use crate::registry::PrinterColumn;

pub(super) fn service_external_ip(o: &Value) -> Value {
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

pub(super) fn service_ports(o: &Value) -> Value {
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

pub(super) fn service() -> Vec<PrinterColumn> {
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

pub(super) fn ingress() -> Vec<PrinterColumn> {
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

pub(super) fn role_binding() -> Vec<PrinterColumn> {
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

pub(super) fn subjects_of(o: &Value, kind: &str) -> Value {
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

pub(super) fn int_or_string(o: &Value, p: &str) -> Value {
    match o.pointer(p) {
        Some(Value::Number(n)) => json!(n.to_string()),
        Some(Value::String(x)) => json!(x),
        _ => json!("N/A"),
    }
}

pub(super) fn hpa_targets(o: &Value) -> Value {
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

pub(super) fn hpa() -> Vec<PrinterColumn> {
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
