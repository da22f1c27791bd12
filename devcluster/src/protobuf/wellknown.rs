//! Types whose JSON form is not their message's fields: times, durations, quantities,
//! int-or-string, embedded raw objects and string-slice aliases.

use prost_reflect::{DynamicMessage, ReflectMessage, Value as PValue};
use serde_json::{Value, json};

use super::ProtoError;

const META: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.";
/// CRD schema types live in `….apiextensions.v1.` and `….apiextensions.v1beta1.`.
const EXTENSIONS: &str = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.";

fn int(msg: &DynamicMessage, name: &str) -> i64 {
    match msg.get_field_by_name(name).as_deref() {
        Some(PValue::I64(n)) => *n,
        Some(PValue::I32(n)) => i64::from(*n),
        _ => 0,
    }
}

fn string(msg: &DynamicMessage, name: &str) -> String {
    match msg.get_field_by_name(name).as_deref() {
        Some(PValue::String(s)) => s.clone(),
        _ => String::new(),
    }
}

fn bytes(msg: &DynamicMessage, name: &str) -> Vec<u8> {
    match msg.get_field_by_name(name).as_deref() {
        Some(PValue::Bytes(b)) => b.to_vec(),
        _ => Vec::new(),
    }
}

/// The JSON of a well-known type, `None` for an ordinary message.
pub fn convert(msg: &DynamicMessage) -> Result<Option<Value>, ProtoError> {
    let desc = msg.descriptor();
    let name = desc.full_name();
    let empty = msg.fields().next().is_none();
    let v = match name.strip_prefix(META).unwrap_or(name) {
        // A zero Time marshals to an empty message and to JSON null.
        "Time" if empty => Value::Null,
        // Only seconds: the API's JSON form of Time has no fraction.
        "Time" => json!(rfc3339(int(msg, "seconds"), 0, false)),
        "MicroTime" if empty => Value::Null,
        "MicroTime" => json!(rfc3339(int(msg, "seconds"), int(msg, "nanos"), true)),
        "Duration" => json!(go_duration(int(msg, "duration"))),
        "FieldsV1" => raw_json(&bytes(msg, "Raw"), name)?,
        "k8s.io.apimachinery.pkg.runtime.RawExtension" => raw_json(&bytes(msg, "raw"), name)?,
        _ if name.starts_with(EXTENSIONS) => return schema_union(msg, &name[EXTENSIONS.len()..]),
        "k8s.io.apimachinery.pkg.api.resource.Quantity" => json!(string(msg, "string")),
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString" => match int(msg, "type") {
            1 => json!(string(msg, "strVal")),
            _ => json!(int(msg, "intVal")),
        },
        // `type ExtraValue []string` and the like: a message with one repeated `items`
        // field on the wire, a plain array in JSON (List kinds also have metadata).
        _ if desc.fields().len() == 1
            && desc.get_field_by_name("items").is_some_and(|f| f.is_list()) =>
        {
            match msg.get_field_by_name("items").as_deref() {
                Some(PValue::List(items)) => Value::Array(
                    items
                        .iter()
                        .map(|i| match i {
                            PValue::String(s) => json!(s),
                            _ => Value::Null,
                        })
                        .collect(),
                ),
                _ => json!([]),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(v))
}

/// The CRD schema's JSON-valued and union types, as their Go `MarshalJSON` writes them.
fn schema_union(msg: &DynamicMessage, versioned: &str) -> Result<Option<Value>, ProtoError> {
    let Some((_, name)) = versioned.split_once('.') else {
        return Ok(None);
    };
    let field = |f: &str| -> Result<Option<Value>, ProtoError> {
        match msg.get_field_by_name(f).as_deref() {
            Some(PValue::Message(m)) if msg.has_field_by_name(f) => {
                Ok(Some(super::json::message_to_json(m)?))
            }
            Some(PValue::List(items)) if !items.is_empty() => Ok(Some(Value::Array(
                items
                    .iter()
                    .map(|i| match i {
                        PValue::Message(m) => super::json::message_to_json(m),
                        PValue::String(s) => Ok(json!(s)),
                        _ => Ok(Value::Null),
                    })
                    .collect::<Result<_, _>>()?,
            ))),
            _ => Ok(None),
        }
    };
    let v = match name {
        "JSON" => raw_json(&bytes(msg, "raw"), versioned)?,
        // A list of schemas wins over one schema.
        "JSONSchemaPropsOrArray" => match field("jSONSchemas")? {
            Some(list) => list,
            None => field("schema")?.unwrap_or(Value::Null),
        },
        "JSONSchemaPropsOrBool" => match field("schema")? {
            Some(schema) => schema,
            None => json!(matches!(
                msg.get_field_by_name("allows").as_deref(),
                Some(PValue::Bool(true))
            )),
        },
        "JSONSchemaPropsOrStringArray" => match field("property")? {
            Some(list) => list,
            None => field("schema")?.unwrap_or(Value::Null),
        },
        _ => return Ok(None),
    };
    Ok(Some(v))
}

/// An embedded object: JSON as is, or a nested protobuf object decoded the same way.
fn raw_json(raw: &[u8], what: &str) -> Result<Value, ProtoError> {
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    if raw.starts_with(b"k8s\0") {
        return super::decode(raw);
    }
    serde_json::from_slice(raw).map_err(|_| ProtoError::RawNotJson(what.to_string()))
}

/// RFC 3339 in UTC, as metav1.Time (seconds) and metav1.MicroTime (microseconds) write it.
fn rfc3339(seconds: i64, nanos: i64, micro: bool) -> String {
    let nanos = u32::try_from(nanos.clamp(0, 999_999_999)).unwrap_or(0);
    let Some(t) = chrono::DateTime::from_timestamp(seconds, nanos) else {
        return String::new();
    };
    if micro {
        t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }
}

/// `digits` with trailing zeros trimmed, as the fraction after a '.' (empty if zero).
fn fraction(value: u64, width: usize) -> String {
    let s = format!("{value:0width$}");
    let s = s.trim_end_matches('0');
    if s.is_empty() {
        String::new()
    } else {
        format!(".{s}")
    }
}

/// Go's `time.Duration.String()`: "1h2m3.5s", "1.5ms", "0s".
pub fn go_duration(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    if u == 0 {
        return "0s".into();
    }
    if u < 1_000_000_000 {
        let (unit, div, width) = match u {
            0..1_000 => ("ns", 1, 0),
            1_000..1_000_000 => ("µs", 1_000, 3),
            _ => ("ms", 1_000_000, 6),
        };
        return format!("{sign}{}{}{unit}", u / div, fraction(u % div, width));
    }
    let secs = u / 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let mut out = sign.to_string();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{s}{}s", fraction(u % 1_000_000_000, 9)));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_go_prints_them() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(90_500_000_000), "1m30.5s");
        assert_eq!(go_duration(1_500_000), "1.5ms");
        assert_eq!(go_duration(-2_000), "-2µs");
        assert_eq!(go_duration(7), "7ns");
    }

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0, 0, false), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(1_700_000_000, 123_456_789, true),
            "2023-11-14T22:13:20.123456Z"
        );
    }
}
