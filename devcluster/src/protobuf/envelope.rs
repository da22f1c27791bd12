//! The `k8s\0` + `runtime.Unknown` envelope, and which message a `typeMeta` names.

use prost_reflect::{DynamicMessage, MessageDescriptor, Value as PValue};
use serde_json::{Value, json};

use super::{ProtoError, json::message_to_json, pool};

const MAGIC: &[u8] = b"k8s\0";
const UNKNOWN: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";
const META_V1: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";

/// The proto package holding a built-in API group's types, `None` for groups that are not
/// Kubernetes built-ins (custom resources, aggregated APIs).
fn package(group: &str, version: &str) -> Option<String> {
    let pkg = match group {
        "" => "core",
        "meta.k8s.io" => return Some(format!("k8s.io.apimachinery.pkg.apis.meta.{version}")),
        "internal.apiserver.k8s.io" => "apiserverinternal",
        "apiextensions.k8s.io" => {
            return Some(format!(
                "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.{version}"
            ));
        }
        g if !g.contains('.') => g,
        g => g.strip_suffix(".k8s.io")?.split('.').next()?,
    };
    Some(format!("k8s.io.api.{pkg}.{version}"))
}

/// The message of `kind` in `api_version`: the group's own type, or a meta/v1 type such
/// as DeleteOptions, which every built-in group version also serves.
pub fn message_for(api_version: &str, kind: &str) -> Option<MessageDescriptor> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    if kind.is_empty() || version.is_empty() || kind.contains('.') {
        return None;
    }
    let pool = pool()?;
    let pkg = package(group, version)?;
    pool.get_message_by_name(&format!("{pkg}.{kind}"))
        .or_else(|| pool.get_message_by_name(&format!("{META_V1}.{kind}")))
}

fn string_field(msg: &DynamicMessage, name: &str) -> String {
    match msg.get_field_by_name(name).as_deref() {
        Some(PValue::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// Decodes a whole protobuf body (magic, envelope, object) into the object's JSON, with
/// `apiVersion` and `kind` from the envelope's `typeMeta`.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let rest = body.strip_prefix(MAGIC).ok_or(ProtoError::NoMagic)?;
    let unknown_desc = pool()
        .and_then(|p| p.get_message_by_name(UNKNOWN))
        .ok_or(ProtoError::NoTypeMeta)?;
    let unknown =
        DynamicMessage::decode(unknown_desc, rest).map_err(|source| ProtoError::Malformed {
            what: "runtime.Unknown".into(),
            source,
        })?;
    let (api_version, kind) = match unknown.get_field_by_name("typeMeta").as_deref() {
        Some(PValue::Message(tm)) => (string_field(tm, "apiVersion"), string_field(tm, "kind")),
        _ => (String::new(), String::new()),
    };
    if api_version.is_empty() || kind.is_empty() {
        return Err(ProtoError::NoTypeMeta);
    }
    let encoding = string_field(&unknown, "contentEncoding");
    if !encoding.is_empty() {
        return Err(ProtoError::ContentEncoding(encoding));
    }
    let desc = message_for(&api_version, &kind).ok_or_else(|| ProtoError::UnknownKind {
        api_version: api_version.clone(),
        kind: kind.clone(),
    })?;
    let raw = match unknown.get_field_by_name("raw").as_deref() {
        Some(PValue::Bytes(b)) => b.clone(),
        _ => Default::default(),
    };
    let msg = DynamicMessage::decode(desc, raw).map_err(|source| ProtoError::Malformed {
        what: format!("{api_version}, Kind={kind}"),
        source,
    })?;
    let mut obj = match message_to_json(&msg)? {
        Value::Object(m) => m,
        _ => Default::default(),
    };
    // TypeMeta first, as Go's JSON encoder writes it.
    let mut out = serde_json::Map::new();
    out.insert("kind".into(), json!(kind));
    out.insert("apiVersion".into(), json!(api_version));
    out.append(&mut obj);
    Ok(Value::Object(out))
}
