//! Storage, quota and event printers.

use serde_json::{Value, json};

use super::*;
use crate::registry::PrinterColumn;

pub(super) fn access_modes(o: &Value, p: &str) -> String {
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

pub(super) fn pvc() -> Vec<PrinterColumn> {
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

pub(super) fn quota_part(o: &Value, limits: bool) -> Value {
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

pub(super) fn simple(cols: &[(&str, &str, i64, Cell)]) -> Vec<PrinterColumn> {
    let mut v = vec![c("Name", "string", 0, name)];
    v.extend(cols.iter().map(|(n, t, p, f)| c(n, t, *p, *f)));
    v
}

pub(super) fn event() -> Vec<PrinterColumn> {
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
pub(super) fn as_core(o: &Value) -> Value {
    if o.get("regarding").is_some() || o.get("note").is_some() {
        crate::builtins::event_to_core(o)
    } else {
        o.clone()
    }
}

/// (first seen, last seen) as ages, as `printEvent` picks them.
pub(super) fn event_times(o: &Value) -> (String, String) {
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
