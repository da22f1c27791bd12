//! Access and identity reviews (`kubectl auth can-i`, `kubectl auth whoami`):
//! create-only, never stored, answered truthfully — the emulator enforces no
//! authorization, so everything is allowed, for the one user it knows.

use serde_json::{Value, json};

use crate::registry::ResourceInfo;

/// The user every request is made as.
pub const USER: &str = "devcluster";
const GROUPS: [&str; 2] = ["system:masters", "system:authenticated"];
const REASON: &str = "pdfx devcluster enforces no authorization: every request is allowed";

/// The answered review: the request's `spec` with a `status`.
pub fn answer(ri: &ResourceInfo, body: &Value) -> Value {
    let mut meta = body.get("metadata").cloned().unwrap_or_else(|| json!({}));
    if let Some(m) = meta.as_object_mut() {
        m.insert("creationTimestamp".into(), Value::Null);
    }
    let mut out = json!({
        "apiVersion": ri.api_version(),
        "kind": ri.kind,
        "metadata": meta,
    });
    if let Some(spec) = body.get("spec") {
        out["spec"] = spec.clone();
    }
    out["status"] = match ri.kind.as_str() {
        "SelfSubjectReview" => json!({"userInfo": {"username": USER, "groups": GROUPS}}),
        "SelfSubjectRulesReview" => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
        _ => json!({"allowed": true, "reason": REASON}),
    };
    out
}
