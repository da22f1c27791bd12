//! What the API server's decoder does to a built-in object before anything else
//! sees it: fields its Go type lacks are dropped (and named, for
//! `fieldValidation=Strict|Warn`), nulls vanish, and a value of the wrong JSON
//! type fails decoding with `encoding/json`'s wording. Walks the type's
//! published schema (`k8s_schema`), so every built-in kind is covered alike.

use serde_json::{Map, Value};

use crate::k8s_schema::Schema;

const REF_PREFIX: &str = "#/components/schemas/";

/// What decoding found.
#[derive(Debug, Default, PartialEq)]
pub struct Decoded {
    /// Paths of the fields the type lacks (`spec.template.spec.containers[0].imagee`), dropped.
    pub unknown: Vec<String>,
    /// The first type mismatch, as `encoding/json` reports it (decoding stops there).
    pub type_error: Option<String>,
}

/// Decode `obj` (a `kind` object of definition `def_name`) against its schema, in place.
pub fn decode(schema: Schema<'_>, def_name: &str, obj: &mut Value) -> Decoded {
    let mut out = Decoded::default();
    let walker = Walker {
        struct_name: short_type(def_name),
        strict_path: String::new(),
        go_path: String::new(),
    };
    walker.value(schema, obj, &mut out);
    out
}

/// `io.k8s.api.apps.v1.DeploymentSpec` → `DeploymentSpec`.
fn short_type(def_name: &str) -> String {
    def_name.rsplit('.').next().unwrap_or(def_name).to_string()
}

/// `io.k8s.api.core.v1.Container` → `v1.Container` (Go's `%v` of a type).
fn package_type(def_name: &str) -> String {
    let mut parts = def_name.rsplit('.');
    match (parts.next(), parts.next()) {
        (Some(t), Some(pkg)) => format!("{pkg}.{t}"),
        _ => def_name.to_string(),
    }
}

/// The definition a schema node refers to (`$ref` or `allOf: [{$ref}]`).
fn ref_name(s: &Schema<'_>) -> Option<String> {
    let raw = s.raw();
    let r = raw.get("$ref").and_then(Value::as_str).or_else(|| {
        raw.get("allOf")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(|x| x.get("$ref"))
            .and_then(Value::as_str)
    })?;
    r.strip_prefix(REF_PREFIX).map(str::to_string)
}

/// The Go type of a schema node, as `json: ... of type T` names it.
fn go_type(s: &Schema<'_>) -> String {
    if s.is_int_or_string() {
        return ref_name(s)
            .map(|n| package_type(&n))
            .unwrap_or_else(|| "intstr.IntOrString".into());
    }
    match s.type_name() {
        Some("integer") => match s.raw().get("format").and_then(Value::as_str) {
            Some("int32") => "int32".into(),
            _ => "int64".into(),
        },
        Some("number") => "float64".into(),
        Some("boolean") => "bool".into(),
        Some("string") => match s.raw().get("format").and_then(Value::as_str) {
            Some("byte") => "[]uint8".into(),
            _ => ref_name(s)
                .map(|n| package_type(&n))
                .unwrap_or_else(|| "string".into()),
        },
        Some("array") => format!("[]{}", s.items().map(|i| go_type(&i)).unwrap_or_default()),
        _ if s.has_properties() => ref_name(s)
            .map(|n| package_type(&n))
            .unwrap_or_else(|| "struct".into()),
        _ => match s.additional_properties() {
            Some(v) => format!("map[string]{}", go_type(&v)),
            None => "interface {}".into(),
        },
    }
}

/// `encoding/json`'s name of a JSON value's kind.
fn json_kind(v: &Value) -> String {
    match v {
        Value::String(_) => "string".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(n) => format!("number {n}"),
        Value::Array(_) => "array".into(),
        Value::Object(_) => "object".into(),
        Value::Null => "null".into(),
    }
}

struct Walker {
    /// The Go struct holding the field being decoded.
    struct_name: String,
    /// With list indices, as strict-decoding errors name fields.
    strict_path: String,
    /// Without indices, as `encoding/json` names fields.
    go_path: String,
}

impl Walker {
    fn child(&self, struct_name: &str, key: &str) -> Walker {
        let join = |p: &str| {
            if p.is_empty() {
                key.to_string()
            } else {
                format!("{p}.{key}")
            }
        };
        Walker {
            struct_name: struct_name.to_string(),
            strict_path: join(&self.strict_path),
            go_path: join(&self.go_path),
        }
    }

    fn index(&self, i: usize) -> Walker {
        Walker {
            struct_name: self.struct_name.clone(),
            strict_path: format!("{}[{i}]", self.strict_path),
            go_path: self.go_path.clone(),
        }
    }

    fn mismatch(&self, s: &Schema<'_>, v: &Value, out: &mut Decoded) {
        if out.type_error.is_none() {
            out.type_error = Some(format!(
                "json: cannot unmarshal {} into Go struct field {}.{} of type {}",
                json_kind(v).split(' ').next().unwrap_or("value"),
                self.struct_name,
                self.go_path,
                go_type(s)
            ));
        }
    }

    fn value(&self, s: Schema<'_>, v: &mut Value, out: &mut Decoded) {
        if v.is_null() || s.preserves_unknown_fields() {
            return;
        }
        if s.is_int_or_string() {
            if !(v.is_string() || v.is_number()) {
                self.mismatch(&s, v, out);
            }
            return;
        }
        match s.type_name() {
            Some("integer") => {
                if !(v.is_i64() || v.is_u64()) {
                    if v.is_number() && out.type_error.is_none() {
                        out.type_error = Some(format!(
                            "json: cannot unmarshal {} into Go struct field {}.{} of type {}",
                            json_kind(v),
                            self.struct_name,
                            self.go_path,
                            go_type(&s)
                        ));
                    } else {
                        self.mismatch(&s, v, out);
                    }
                }
            }
            Some("number") if !v.is_number() => self.mismatch(&s, v, out),
            Some("boolean") if !v.is_boolean() => self.mismatch(&s, v, out),
            Some("string") if !v.is_string() => self.mismatch(&s, v, out),
            Some("array") => match (v.as_array_mut(), s.items()) {
                (Some(items), Some(item_schema)) => {
                    for (i, item) in items.iter_mut().enumerate() {
                        self.index(i).value(item_schema, item, out);
                    }
                }
                (Some(_), None) => {}
                (None, _) => self.mismatch(&s, v, out),
            },
            _ if s.has_properties() => match v.as_object_mut() {
                Some(m) => self.object(s, m, out),
                None => self.mismatch(&s, v, out),
            },
            _ => match (v.as_object_mut(), s.additional_properties()) {
                (Some(m), Some(values)) => {
                    for (k, item) in m.iter_mut() {
                        let w = Walker {
                            struct_name: self.struct_name.clone(),
                            strict_path: format!("{}[{k}]", self.strict_path),
                            go_path: self.go_path.clone(),
                        };
                        w.value(values, item, out);
                    }
                }
                (None, _) if s.type_name() == Some("object") => self.mismatch(&s, v, out),
                _ => {}
            },
        }
    }

    fn object(&self, s: Schema<'_>, m: &mut Map<String, Value>, out: &mut Decoded) {
        // Fields of this struct report it as their Go struct.
        let here = ref_name(&s)
            .map(|n| short_type(&n))
            .unwrap_or_else(|| self.struct_name.clone());
        let mut drop = Vec::new();
        for (k, item) in m.iter_mut() {
            match s.property(k) {
                Some(ps) => {
                    if item.is_null() {
                        // A Go struct field cannot hold null: it is omitted when encoded again.
                        drop.push(k.clone());
                    } else {
                        self.child(&here, k).value(ps, item, out);
                    }
                }
                None => {
                    out.unknown.push(self.child(&here, k).strict_path);
                    drop.push(k.clone());
                }
            }
        }
        for k in drop {
            m.remove(&k);
        }
    }
}

/// The keys that occur twice in one JSON object of `body`, as strict decoding
/// names them (`duplicate field "spec.replicas"`). Empty for anything not JSON.
pub fn duplicate_fields(body: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    // A body that does not parse is reported by the ordinary decoder.
    let _ = serde::de::DeserializeSeed::deserialize(
        Dups {
            path: String::new(),
            out: &mut out,
        },
        &mut de,
    );
    out
}

struct Dups<'a> {
    path: String,
    out: &'a mut Vec<String>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Dups<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Dups<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let seed = Dups {
                path: format!("{}[{i}]", self.path),
                out: &mut *self.out,
            };
            if seq.next_element_seed(seed)?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(k) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                k.clone()
            } else {
                format!("{}.{k}", self.path)
            };
            if !seen.insert(k) {
                self.out.push(path.clone());
            }
            map.next_value_seed(Dups {
                path,
                out: &mut *self.out,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::k8s_schema::definitions;
    use serde_json::json;

    fn run(group: &str, kind: &str, mut obj: Value) -> (Decoded, Value) {
        let defs = definitions();
        let version = "v1";
        let name = defs.name_of(group, version, kind).unwrap().to_string();
        let s = defs.for_kind(group, version, kind).unwrap();
        let d = decode(s, &name, &mut obj);
        (d, obj)
    }

    #[test]
    fn unknown_fields_are_named_with_indices_and_dropped() {
        let (d, obj) = run(
            "batch",
            "Job",
            json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "labelz": {}},
                   "spec": {"backofLimit": 3, "template": {"spec": {"containers": [{"name": "c", "imagee": "x"}]}}}}),
        );
        assert_eq!(
            d.unknown,
            vec![
                "metadata.labelz",
                "spec.backofLimit",
                "spec.template.spec.containers[0].imagee"
            ]
        );
        assert_eq!(d.type_error, None);
        assert!(obj["spec"].get("backofLimit").is_none());
        assert_eq!(
            obj["spec"]["template"]["spec"]["containers"][0],
            json!({"name": "c"})
        );
    }

    #[test]
    fn type_errors_use_encoding_json_wording() {
        let (d, _) = run("apps", "Deployment", json!({"spec": {"replicas": "three"}}));
        assert_eq!(
            d.type_error.as_deref(),
            Some(
                "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
            )
        );
        let (d, _) = run("", "ConfigMap", json!({"data": {"a": 1}}));
        assert_eq!(
            d.type_error.as_deref(),
            Some(
                "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
            )
        );
        // int-or-string and quantities take both.
        let (d, _) = run(
            "",
            "Service",
            json!({"spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}]}}),
        );
        assert_eq!(d, Decoded::default());
    }

    #[test]
    fn the_pdfx_crd_decodes_without_losing_anything() {
        let crd = serde_json::to_value(pdfx_crd::crd::crd()).unwrap();
        let mut decoded = crd.clone();
        let defs = definitions();
        let group = "apiextensions.k8s.io";
        let name = defs
            .name_of(group, "v1", "CustomResourceDefinition")
            .unwrap();
        let s = defs
            .for_kind(group, "v1", "CustomResourceDefinition")
            .unwrap();
        let d = decode(s, name, &mut decoded);
        assert_eq!(d, Decoded::default());
        assert_eq!(decoded, crd);
    }

    #[test]
    fn duplicates_are_found_at_any_depth() {
        let body =
            br#"{"a": 1, "spec": {"replicas": 1, "replicas": 2, "l": [{"x": 1, "x": 2}]}, "a": 3}"#;
        assert_eq!(
            duplicate_fields(body),
            vec!["spec.replicas", "spec.l[0].x", "a"]
        );
        assert!(duplicate_fields(b"not json").is_empty());
    }
}
