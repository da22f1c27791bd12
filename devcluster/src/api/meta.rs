//! Object metadata accessors and the naming and generation rules writes share.

use serde_json::{Map, Value, json};

/// Current time as the API server writes timestamps (RFC 3339, seconds, `Z`).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(super) fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata").and_then(Value::as_object)
}

/// A metadata field as an owned string, empty when absent.
pub(crate) fn meta_string(obj: &Value, key: &str) -> String {
    meta_str(obj, key).unwrap_or_default().to_owned()
}

pub(crate) fn meta_str<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    meta(obj).and_then(|m| m.get(key)).and_then(Value::as_str)
}

pub(super) fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    let m = match obj {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    };
    let entry = m.entry("metadata").or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    match entry {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

pub(crate) fn finalizers(obj: &Value) -> Vec<String> {
    meta(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

const NAME_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

pub(super) fn random_suffix() -> String {
    (0..5)
        .map(|_| NAME_CHARS[fastrand::usize(..NAME_CHARS.len())] as char)
        .collect()
}

/// RFC 1123 subdomain (most names) or label (namespaces).
pub(super) fn name_errors(name: &str, label_only: bool) -> Option<String> {
    let max = if label_only { 63 } else { 253 };
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 63
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && p.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
            && p.as_bytes().last().is_some_and(u8::is_ascii_alphanumeric)
    };
    let ok = name.len() <= max
        && if label_only {
            part_ok(name)
        } else {
            name.split('.').all(part_ok)
        };
    if ok {
        None
    } else if label_only {
        Some("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')".into())
    } else {
        Some("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".into())
    }
}

/// Everything outside `metadata` (and `status` when it is a subresource): what bumps `generation`.
pub(super) fn generation_view(obj: &Value, status_is_sub: bool) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("metadata");
        m.remove("apiVersion");
        m.remove("kind");
        if status_is_sub {
            m.remove("status");
        }
    }
    v
}

/// The owner uids of an object.
pub(crate) fn owner_uids(obj: &Value) -> Vec<String> {
    meta(obj)
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r["uid"].as_str())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}
