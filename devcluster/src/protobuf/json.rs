//! A decoded message as the JSON its Go type marshals to.

use base64::Engine;
use prost_reflect::{DynamicMessage, MapKey, ReflectMessage, Value as PValue};
use serde_json::{Map, Number, Value, json};

use super::ProtoError;
use super::fields::Fields;
use super::wellknown;

/// The message as JSON: well-known types by their own rules, others field by field.
pub fn message_to_json(msg: &DynamicMessage) -> Result<Value, ProtoError> {
    if let Some(v) = wellknown::convert(msg)? {
        return Ok(v);
    }
    let desc = msg.descriptor();
    let name = desc.full_name();
    let fields = Fields::get();
    let mut out = Map::new();
    for (fd, value) in msg.fields() {
        let pname = fd.name();
        if fields.is_inline(name, pname) {
            if let PValue::Message(m) = value
                && let Value::Object(mut inner) = message_to_json(m)?
            {
                out.append(&mut inner);
            }
            continue;
        }
        if is_zero_scalar(value) && fields.omit_zero(name, pname) {
            continue;
        }
        out.insert(
            fields.json_name(name, pname).to_string(),
            value_to_json(value)?,
        );
    }
    Ok(Value::Object(out))
}

/// Whether the value is a scalar equal to its type's zero (what Go's `omitempty` drops).
fn is_zero_scalar(v: &PValue) -> bool {
    match v {
        PValue::Bool(b) => !b,
        PValue::I32(n) | PValue::EnumNumber(n) => *n == 0,
        PValue::I64(n) => *n == 0,
        PValue::U32(n) => *n == 0,
        PValue::U64(n) => *n == 0,
        PValue::F32(n) => *n == 0.0,
        PValue::F64(n) => *n == 0.0,
        PValue::String(s) => s.is_empty(),
        PValue::Bytes(b) => b.is_empty(),
        PValue::Message(_) | PValue::List(_) | PValue::Map(_) => false,
    }
}

fn float(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn map_key(k: &MapKey) -> String {
    match k {
        MapKey::String(s) => s.clone(),
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
    }
}

/// One field value. int64s stay JSON numbers (the Kubernetes convention, unlike proto3
/// JSON), bytes are base64 as Go's encoding/json writes `[]byte`.
fn value_to_json(v: &PValue) -> Result<Value, ProtoError> {
    Ok(match v {
        PValue::Bool(b) => json!(b),
        PValue::I32(n) | PValue::EnumNumber(n) => json!(n),
        PValue::I64(n) => json!(n),
        PValue::U32(n) => json!(n),
        PValue::U64(n) => json!(n),
        PValue::F32(n) => float(f64::from(*n)),
        PValue::F64(n) => float(*n),
        PValue::String(s) => json!(s),
        PValue::Bytes(b) => json!(base64::engine::general_purpose::STANDARD.encode(b)),
        PValue::Message(m) => message_to_json(m)?,
        PValue::List(items) => {
            Value::Array(items.iter().map(value_to_json).collect::<Result<_, _>>()?)
        }
        PValue::Map(entries) => {
            let mut sorted: Vec<(String, &PValue)> =
                entries.iter().map(|(k, v)| (map_key(k), v)).collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            let mut out = Map::new();
            for (k, v) in sorted {
                out.insert(k, value_to_json(v)?);
            }
            Value::Object(out)
        }
    })
}
