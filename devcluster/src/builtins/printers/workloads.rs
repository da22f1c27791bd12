//! Workload printers: Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs.

use serde_json::{Value, json};

use super::*;
use crate::registry::PrinterColumn;

pub(super) fn deployment() -> Vec<PrinterColumn> {
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

pub(super) fn replica_set() -> Vec<PrinterColumn> {
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

pub(super) fn stateful_set() -> Vec<PrinterColumn> {
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

pub(super) fn daemon_set() -> Vec<PrinterColumn> {
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

pub(super) fn has_condition(o: &Value, t: &str) -> bool {
    o.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| s(c, "/type") == t && s(c, "/status") == "True")
}

pub(super) fn job_status(o: &Value) -> Value {
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

pub(super) fn job_completions(o: &Value) -> Value {
    let succeeded = i(o, "/status/succeeded");
    match o.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(n) => json!(format!("{succeeded}/{n}")),
        None => match i(o, "/spec/parallelism") {
            p if p > 1 => json!(format!("{succeeded}/1 of {p}")),
            _ => json!(format!("{succeeded}/1")),
        },
    }
}

pub(super) fn job_duration(o: &Value) -> Value {
    let parse = |p: &str| chrono::DateTime::parse_from_rfc3339(s(o, p)).ok();
    let d = match (parse("/status/startTime"), parse("/status/completionTime")) {
        (None, _) => String::new(),
        (Some(_), None) => since(s(o, "/status/startTime")).map_or(String::new(), human_duration),
        (Some(start), Some(end)) => human_duration((end - start).num_seconds()),
    };
    json!(d)
}

pub(super) fn job() -> Vec<PrinterColumn> {
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

pub(super) fn cron_job() -> Vec<PrinterColumn> {
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
