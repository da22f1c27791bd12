//! Structural-schema handling of custom resources, in the API server's order:
//! prune unknown fields, drop nulls of non-nullable fields, apply defaults,
//! validate against the OpenAPI v3 schema, then evaluate CEL rules.
//!
//! The validation keywords covered are those a structural CRD schema may use:
//! type, required, properties, additionalProperties, items, enum, pattern,
//! minLength/maxLength, minimum/maximum (+exclusive), minItems/maxItems,
//! minProperties/maxProperties, nullable, format date-time, oneOf/anyOf/allOf/not,
//! x-kubernetes-int-or-string, x-kubernetes-preserve-unknown-fields,
//! x-kubernetes-embedded-resource. CEL (`x-kubernetes-validations`) runs on
//! `kube-cel`, the evaluator kube-core's `cel` feature builds on.

use std::collections::HashMap;
use std::sync::Mutex;

use regex::Regex;
use serde_json::{Map, Value};

use crate::error::Cause;

/// Compiled-regex cache shared by every validation (patterns repeat per object).
#[derive(Default)]
pub struct PatternCache(Mutex<HashMap<String, Option<Regex>>>);

impl PatternCache {
    fn is_match(&self, pattern: &str, s: &str) -> Option<bool> {
        let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let re = cache
            .entry(pattern.to_string())
            .or_insert_with(|| Regex::new(pattern).ok());
        re.as_ref().map(|r| r.is_match(s))
    }
}

fn preserves_unknown(schema: &Value) -> bool {
    schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn is_nullable(schema: &Value) -> bool {
    schema
        .get("nullable")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// Remove every field the schema does not declare (unless it preserves unknown
/// fields), and nulls of non-nullable fields. Returns the removed paths, which
/// `fieldValidation=Strict` turns into errors.
pub fn prune(schema: &Value, value: &mut Value, path: &str, pruned: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let embedded = schema
                .get("x-kubernetes-embedded-resource")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            let keep_unknown = preserves_unknown(schema)
                || schema.get("additionalProperties").and_then(Value::as_bool) == Some(true);
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let child_path = join(path, &key);
                // apiVersion/kind/metadata are always allowed at the root and in embedded resources.
                if (path.is_empty() || embedded)
                    && matches!(key.as_str(), "apiVersion" | "kind" | "metadata")
                {
                    continue;
                }
                let child_schema = props.and_then(|p| p.get(&key)).or(additional);
                match child_schema {
                    Some(cs) => {
                        if map.get(&key).is_some_and(Value::is_null) && !is_nullable(cs) {
                            map.remove(&key);
                            continue;
                        }
                        if let Some(child) = map.get_mut(&key) {
                            prune(cs, child, &child_path, pruned);
                        }
                    }
                    None if keep_unknown => {}
                    None => {
                        map.remove(&key);
                        pruned.push(child_path);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(item_schema, item, &format!("{path}[{i}]"), pruned);
                }
            }
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Apply `default` values of absent properties, recursively (defaults are themselves defaulted).
pub fn apply_defaults(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (key, ps) in props {
                    if !map.contains_key(key)
                        && let Some(d) = ps.get("default")
                    {
                        map.insert(key.clone(), d.clone());
                    }
                    if let Some(child) = map.get_mut(key) {
                        apply_defaults(ps, child);
                    }
                }
            }
            if let Some(ap) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for child in map.values_mut() {
                    apply_defaults(ap, child);
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = schema.get("items") {
                for item in items {
                    apply_defaults(is, item);
                }
            }
        }
        _ => {}
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Render a value the way apimachinery's field errors do (`"abc"`, `1000`, `"object"`).
fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Object(_) => "\"object\"".to_string(),
        Value::Array(_) => "\"array\"".to_string(),
        other => other.to_string(),
    }
}

fn invalid(path: &str, v: &Value, detail: String) -> Cause {
    Cause::new(
        "FieldValueInvalid",
        format!("Invalid value: {}: {detail}", render_value(v)),
        path,
    )
}

/// Validate `value` against `schema`, appending causes (field paths are dotted).
pub fn validate(
    schema: &Value,
    value: &Value,
    path: &str,
    patterns: &PatternCache,
    causes: &mut Vec<Cause>,
) {
    let shown = if path.is_empty() { "<root>" } else { path };
    if value.is_null() {
        if !is_nullable(schema) && schema.get("type").is_some() {
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                format!(
                    "Invalid value: \"null\": {shown} in body must be of type {}: \"null\"",
                    schema
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("object")
                ),
                path,
            ));
        }
        return;
    }
    let int_or_string = schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if int_or_string {
        if !matches!(type_name(value), "integer" | "string") {
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                format!(
                    "Invalid value: {}: {shown} in body must be of type integer,string: {:?}",
                    render_value(value),
                    type_name(value)
                ),
                path,
            ));
            return;
        }
    } else if let Some(t) = schema.get("type").and_then(Value::as_str) {
        let actual = type_name(value);
        let ok = actual == t || (t == "number" && actual == "integer");
        if !ok {
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                format!(
                    "Invalid value: {}: {shown} in body must be of type {t}: {actual:?}",
                    render_value(value)
                ),
                path,
            ));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(render_value).collect();
        causes.push(Cause::new(
            "FieldValueNotSupported",
            format!(
                "Unsupported value: {}: supported values: {}",
                render_value(value),
                list.join(", ")
            ),
            path,
        ));
    }
    match value {
        Value::String(s) => validate_string(schema, value, s, path, shown, patterns, causes),
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            let excl_min = schema
                .get("exclusiveMinimum")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let excl_max = schema
                .get("exclusiveMaximum")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                && (x < min || (excl_min && x == min))
            {
                let rel = if excl_min {
                    "greater than"
                } else {
                    "greater than or equal to"
                };
                causes.push(invalid(
                    path,
                    value,
                    format!("{shown} in body should be {rel} {}", fmt_num(min)),
                ));
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                && (x > max || (excl_max && x == max))
            {
                let rel = if excl_max {
                    "less than"
                } else {
                    "less than or equal to"
                };
                causes.push(invalid(
                    path,
                    value,
                    format!("{shown} in body should be {rel} {}", fmt_num(max)),
                ));
            }
        }
        Value::Array(items) => {
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                causes.push(invalid(
                    path,
                    value,
                    format!("{shown} in body should have at least {min} items"),
                ));
            }
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && (items.len() as u64) > max
            {
                causes.push(Cause::new(
                    "FieldValueTooMany",
                    format!("Too many: {}: must have at most {max} items", items.len()),
                    path,
                ));
            }
            if let Some(is) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate(is, item, &format!("{path}[{i}]"), patterns, causes);
                }
            }
        }
        Value::Object(map) => validate_object(schema, value, map, path, shown, patterns, causes),
        _ => {}
    }
    validate_combinators(schema, value, path, shown, patterns, causes);
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn validate_string(
    schema: &Value,
    value: &Value,
    s: &str,
    path: &str,
    shown: &str,
    patterns: &PatternCache,
    causes: &mut Vec<Cause>,
) {
    let len = s.chars().count() as u64;
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        causes.push(invalid(
            path,
            value,
            format!("{shown} in body should be at least {min} chars long"),
        ));
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        causes.push(Cause::new(
            "FieldValueTooLong",
            format!("Too long: may not be more than {max} bytes"),
            path,
        ));
    }
    if let Some(p) = schema.get("pattern").and_then(Value::as_str)
        && patterns.is_match(p, s) == Some(false)
    {
        causes.push(invalid(
            path,
            value,
            format!("{shown} in body should match '{p}'"),
        ));
    }
    if schema.get("format").and_then(Value::as_str) == Some("date-time")
        && chrono::DateTime::parse_from_rfc3339(s).is_err()
    {
        causes.push(invalid(
            path,
            value,
            format!("{shown} in body must be of type date-time: {s:?}"),
        ));
    }
}

fn validate_object(
    schema: &Value,
    value: &Value,
    map: &Map<String, Value>,
    path: &str,
    shown: &str,
    patterns: &PatternCache,
    causes: &mut Vec<Cause>,
) {
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for r in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(r) {
                causes.push(Cause::new(
                    "FieldValueRequired",
                    "Required value",
                    join(path, r),
                ));
            }
        }
    }
    if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
        && (map.len() as u64) < min
    {
        causes.push(invalid(
            path,
            value,
            format!("{shown} in body should have at least {min} properties"),
        ));
    }
    if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
        && (map.len() as u64) > max
    {
        causes.push(invalid(
            path,
            value,
            format!("{shown} in body should have at most {max} properties"),
        ));
    }
    let props = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    let embedded = schema
        .get("x-kubernetes-embedded-resource")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    for (k, v) in map {
        if (path.is_empty() || embedded)
            && props.is_none_or(|p| !p.contains_key(k))
            && (k == "metadata" || k == "apiVersion" || k == "kind")
        {
            continue;
        }
        if let Some(cs) = props.and_then(|p| p.get(k)).or(additional) {
            validate(cs, v, &join(path, k), patterns, causes);
        }
    }
}

/// oneOf/anyOf/allOf/not. Branches are validated on their own keywords only
/// (structural schemas put types in the parent), which is how the API server
/// evaluates the `required`-only branches CRDs use to express "exactly one of".
fn validate_combinators(
    schema: &Value,
    value: &Value,
    path: &str,
    shown: &str,
    patterns: &PatternCache,
    causes: &mut Vec<Cause>,
) {
    let branch_ok = |b: &Value| {
        let mut c = Vec::new();
        validate(b, value, path, patterns, &mut c);
        c.is_empty()
    };
    if let Some(branches) = schema.get("oneOf").and_then(Value::as_array) {
        let n = branches.iter().filter(|b| branch_ok(b)).count();
        if n != 1 {
            causes.push(invalid(
                path,
                value,
                format!("{shown} in body must match exactly one schema in oneOf"),
            ));
        }
    }
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array)
        && !branches.iter().any(branch_ok)
    {
        causes.push(invalid(
            path,
            value,
            format!("{shown} in body must match at least one schema in anyOf"),
        ));
    }
    if let Some(branches) = schema.get("allOf").and_then(Value::as_array) {
        for b in branches {
            validate(b, value, path, patterns, causes);
        }
    }
    if let Some(not) = schema.get("not")
        && branch_ok(not)
    {
        causes.push(invalid(
            path,
            value,
            format!("{shown} in body must not match the schema in not"),
        ));
    }
}

/// Whether a schema (anywhere) carries `x-kubernetes-validations`, so CEL is only
/// started for resources that need it.
pub fn has_cel_rules(schema: &Value) -> bool {
    match schema {
        Value::Object(m) => {
            m.contains_key("x-kubernetes-validations") || m.values().any(has_cel_rules)
        }
        Value::Array(a) => a.iter().any(has_cel_rules),
        _ => false,
    }
}

/// Evaluate the CEL rules of `schema` on `obj` (and `old` for transition rules such
/// as `self == oldSelf`, which only run on updates, as in the API server).
pub fn validate_cel(
    validator: &kube_cel::Validator,
    schema: &Value,
    obj: &Value,
    old: Option<&Value>,
) -> Vec<Cause> {
    match validator.validate(schema, obj, old) {
        Ok(()) => Vec::new(),
        Err(errors) => errors
            .into_vec()
            .into_iter()
            .map(|e| {
                let reason = e
                    .reason
                    .clone()
                    .unwrap_or_else(|| "FieldValueInvalid".to_string());
                let field = e.field_path.trim_start_matches('.').to_string();
                let shown = obj_at(obj, &field)
                    .map(render_value)
                    .unwrap_or_else(|| "\"object\"".into());
                Cause::new(
                    &reason,
                    format!("Invalid value: {shown}: {}", e.message),
                    field,
                )
            })
            .collect(),
    }
}

fn obj_at<'a>(obj: &'a Value, dotted: &str) -> Option<&'a Value> {
    if dotted.is_empty() {
        return Some(obj);
    }
    let mut cur = obj;
    for part in dotted.split('.') {
        cur = cur.get(part)?;
    }
    Some(cur)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["source"],
                    "properties": {
                        "source": {
                            "type": "object",
                            "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
                            "properties": {"a": {"type": "string"}, "b": {"type": "string", "pattern": "^https://"}}
                        },
                        "dpi": {"type": "integer", "minimum": 72.0, "maximum": 600.0, "default": 300},
                        "mode": {"type": "string", "enum": ["auto", "never"]},
                        "mem": {"x-kubernetes-int-or-string": true, "nullable": true}
                    },
                    "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "spec is immutable"}]
                }
            }
        })
    }

    #[test]
    fn prune_default_validate() {
        let s = schema();
        let mut obj = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"},
            "spec": {"source": {"a": "x"}, "bogus": 1, "mode": null}, "status": {"x": 1}});
        let mut pruned = Vec::new();
        prune(&s, &mut obj, "", &mut pruned);
        assert_eq!(pruned, vec!["spec.bogus".to_string(), "status".to_string()]);
        assert!(obj["spec"].get("mode").is_none());
        apply_defaults(&s, &mut obj);
        assert_eq!(obj["spec"]["dpi"], json!(300));
        let mut causes = Vec::new();
        validate(&s, &obj, "", &PatternCache::default(), &mut causes);
        assert!(causes.is_empty(), "{causes:?}");

        let bad = json!({"spec": {"source": {"a": "x", "b": "http://"}, "dpi": 1000, "mode": "x", "mem": [1]}});
        let mut causes = Vec::new();
        validate(&s, &bad, "", &PatternCache::default(), &mut causes);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert!(fields.contains(&"spec.dpi"), "{causes:?}");
        assert!(fields.contains(&"spec.mode"));
        assert!(fields.contains(&"spec.source"));
        assert!(fields.contains(&"spec.source.b"));
        assert!(fields.contains(&"spec.mem"));
        let mut causes = Vec::new();
        validate(
            &s,
            &json!({"spec": {}}),
            "",
            &PatternCache::default(),
            &mut causes,
        );
        assert_eq!(causes[0].reason, "FieldValueRequired");
        assert_eq!(causes[0].field, "spec.source");
    }

    #[test]
    fn cel_transition_rule() {
        let v = kube_cel::Validator::new();
        let s = schema();
        let old = json!({"spec": {"source": {"a": "x"}}});
        let new = json!({"spec": {"source": {"a": "y"}}});
        assert!(validate_cel(&v, &s, &new, None).is_empty());
        assert!(validate_cel(&v, &s, &old, Some(&old)).is_empty());
        let causes = validate_cel(&v, &s, &new, Some(&old));
        assert_eq!(causes.len(), 1, "{causes:?}");
        assert!(
            causes[0].message.contains("spec is immutable"),
            "{causes:?}"
        );
        assert_eq!(causes[0].field, "spec");
    }
}
