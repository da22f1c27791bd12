//! The two served forms of events: events.k8s.io/v1 (stored) and core/v1 (a view).

use serde_json::{Value, json};

/// events.k8s.io/v1 Event → core/v1 Event (the view `kubectl describe` reads).
pub fn event_to_core(ev: &Value) -> Value {
    let mut out = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": ev.get("metadata").cloned().unwrap_or(json!({})),
    });
    let copy = |out: &mut Value, from: &str, to: &str| {
        if let Some(v) = ev.get(from).filter(|v| !v.is_null()) {
            out[to] = v.clone();
        }
    };
    copy(&mut out, "regarding", "involvedObject");
    copy(&mut out, "note", "message");
    copy(&mut out, "reason", "reason");
    copy(&mut out, "type", "type");
    copy(&mut out, "action", "action");
    copy(&mut out, "related", "related");
    copy(&mut out, "eventTime", "eventTime");
    copy(&mut out, "reportingController", "reportingComponent");
    copy(&mut out, "reportingInstance", "reportingInstance");
    copy(&mut out, "deprecatedFirstTimestamp", "firstTimestamp");
    copy(&mut out, "deprecatedLastTimestamp", "lastTimestamp");
    copy(&mut out, "deprecatedCount", "count");
    if let Some(src) = ev.get("deprecatedSource").filter(|v| !v.is_null()) {
        out["source"] = src.clone();
    } else if let Some(c) = ev.get("reportingController").and_then(Value::as_str) {
        let mut src = json!({"component": c});
        if let Some(h) = ev.get("reportingInstance").and_then(Value::as_str) {
            src["host"] = json!(h);
        }
        out["source"] = src;
    }
    if let Some(series) = ev.get("series").filter(|v| v.is_object()) {
        out["series"] = json!({"count": series.get("count"), "lastObservedTime": series.get("lastObservedTime")});
        out["count"] = series.get("count").cloned().unwrap_or(json!(1));
        if let Some(t) = series.get("lastObservedTime") {
            out["lastTimestamp"] = t.clone();
        }
    }
    if out.get("count").is_none() {
        out["count"] = json!(1);
    }
    if out.get("firstTimestamp").is_none()
        && let Some(t) = ev.get("eventTime").filter(|v| v.is_string())
    {
        out["firstTimestamp"] = t.clone();
        if out.get("lastTimestamp").is_none() {
            out["lastTimestamp"] = t.clone();
        }
    }
    out
}

/// core/v1 Event → events.k8s.io/v1 Event (how a core write is stored).
pub fn core_to_event(ev: &Value) -> Value {
    let mut out = json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": ev.get("metadata").cloned().unwrap_or(json!({})),
    });
    let copy = |out: &mut Value, from: &str, to: &str| {
        if let Some(v) = ev.get(from).filter(|v| !v.is_null()) {
            out[to] = v.clone();
        }
    };
    copy(&mut out, "involvedObject", "regarding");
    copy(&mut out, "message", "note");
    copy(&mut out, "reason", "reason");
    copy(&mut out, "type", "type");
    copy(&mut out, "action", "action");
    copy(&mut out, "related", "related");
    copy(&mut out, "eventTime", "eventTime");
    copy(&mut out, "reportingComponent", "reportingController");
    copy(&mut out, "reportingInstance", "reportingInstance");
    copy(&mut out, "firstTimestamp", "deprecatedFirstTimestamp");
    copy(&mut out, "lastTimestamp", "deprecatedLastTimestamp");
    copy(&mut out, "count", "deprecatedCount");
    copy(&mut out, "source", "deprecatedSource");
    if out.get("reportingController").is_none()
        && let Some(c) = ev.pointer("/source/component")
    {
        out["reportingController"] = c.clone();
    }
    out
}
