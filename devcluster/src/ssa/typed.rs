//! An object walked with its schema the way structured-merge-diff walks a typed
//! value: maps are granular unless atomic, lists merge as their list type says
//! (map by keys, set, atomic), and a field the schema does not declare is typed
//! as SMD's deduced schema types it (objects granular, lists and scalars atomic).

use serde_json::{Map, Value};

use super::fieldset::{FieldSet, Path, PathElement, canonical_json};
use crate::k8s_schema::{ListType, Schema, definitions};

/// How a node merges.
enum Shape<'a> {
    /// Replaced as a whole: scalars, atomic lists and maps, mismatched values.
    Atomic,
    /// A granular map; `schema` gives its fields and value type (None: deduced).
    Map(Option<Schema<'a>>),
    /// A list whose items are identified by value.
    Set,
    /// A list whose items are identified by these key fields.
    Assoc(Vec<&'a str>, Option<Schema<'a>>),
}

fn shape<'a>(ty: Option<Schema<'a>>, v: &Value) -> Shape<'a> {
    let Some(s) = ty else {
        return if v.is_object() {
            Shape::Map(None)
        } else {
            Shape::Atomic
        };
    };
    let t = s.type_name();
    if t == Some("array") || (t.is_none() && s.items().is_some()) {
        if !v.is_array() {
            return Shape::Atomic;
        }
        return match s.list_type() {
            ListType::Atomic => Shape::Atomic,
            ListType::Set => Shape::Set,
            ListType::Map(keys) if keys.is_empty() => Shape::Atomic,
            ListType::Map(keys) => Shape::Assoc(keys, s.items()),
        };
    }
    if !v.is_object() {
        return Shape::Atomic;
    }
    if s.is_atomic_map() {
        return Shape::Atomic;
    }
    if t == Some("object")
        || s.has_properties()
        || s.additional_properties().is_some()
        || s.preserves_unknown_fields()
    {
        Shape::Map(Some(s))
    } else {
        // An untyped node (`{}`, int-or-string given an object): deduced.
        Shape::Map(None)
    }
}

/// The schema of a map's entry and whether it is a declared (struct) field.
fn child<'a>(s: Option<Schema<'a>>, key: &str) -> (Option<Schema<'a>>, bool) {
    match s {
        Some(s) => match s.property(key) {
            // A CRD's structural schema leaves metadata untyped; the server types
            // it as ObjectMeta (so labels are a map, not a deduced field).
            p if key == "metadata" && !p.is_some_and(|p| p.has_properties()) => (
                definitions()
                    .named("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
                    .or(p),
                true,
            ),
            Some(p) => (Some(p), true),
            None => (s.additional_properties(), false),
        },
        None => (None, false),
    }
}

fn item_element(shape: &Shape<'_>, index: usize, item: &Value) -> PathElement {
    match shape {
        Shape::Set => PathElement::Value(canonical_json(item)),
        Shape::Assoc(keys, items) => {
            let mut fields = Vec::new();
            for k in keys {
                // A key field the item leaves out takes its schema default
                // (ports' `protocol: TCP`), as SMD does.
                let v = item.get(*k).cloned().or_else(|| {
                    items
                        .and_then(|s| s.property(k))
                        .and_then(|p| p.raw().get("default").cloned())
                        // The port lists' `protocol` key is `+default="TCP"` in the
                        // server's types; the published OpenAPI omits that default.
                        .or_else(|| (*k == "protocol").then(|| Value::String("TCP".into())))
                });
                if let Some(v) = v {
                    fields.push((*k, v));
                }
            }
            if fields.is_empty() {
                PathElement::Index(index)
            } else {
                PathElement::key(&fields)
            }
        }
        _ => PathElement::Index(index),
    }
}

fn item_schema<'a>(shape: &Shape<'a>) -> Option<Schema<'a>> {
    match shape {
        Shape::Assoc(_, items) => *items,
        _ => None,
    }
}

/// Every path `v` sets, as `TypedValue.ToFieldSet` computes it.
pub fn field_set(ty: Option<Schema<'_>>, v: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    walk_set(ty, v, &mut Vec::new(), &mut out);
    out
}

fn walk_set(ty: Option<Schema<'_>>, v: &Value, path: &mut Path, out: &mut FieldSet) {
    let sh = shape(ty, v);
    match (&sh, v) {
        (Shape::Map(s), Value::Object(m)) => {
            for (k, cv) in m {
                let (cs, declared) = child(*s, k);
                path.push(PathElement::Field(k.clone()));
                walk_set(cs, cv, path, out);
                if !declared {
                    out.insert(path.clone());
                }
                path.pop();
            }
        }
        (Shape::Set | Shape::Assoc(..), Value::Array(items)) => {
            let is = item_schema(&sh);
            for (i, item) in items.iter().enumerate() {
                path.push(item_element(&sh, i, item));
                if matches!(sh, Shape::Assoc(..)) {
                    walk_set(is, item, path, out);
                }
                out.insert(path.clone());
                path.pop();
            }
        }
        _ => {
            if !path.is_empty() {
                out.insert(path.clone());
            }
        }
    }
}

/// The value at `path`, if the object has one.
pub fn value_at<'v>(
    ty: Option<Schema<'_>>,
    v: &'v Value,
    path: &[PathElement],
) -> Option<&'v Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(v);
    };
    let sh = shape(ty, v);
    match (&sh, v, first) {
        (Shape::Map(s), Value::Object(m), PathElement::Field(k)) => {
            value_at(child(*s, k).0, m.get(k)?, rest)
        }
        (Shape::Set | Shape::Assoc(..), Value::Array(items), pe) => {
            let is = item_schema(&sh);
            let (_, item) = items
                .iter()
                .enumerate()
                .find(|(i, item)| item_element(&sh, *i, item) == *pe)?;
            value_at(is, item, rest)
        }
        _ => None,
    }
}

/// `live` with `config` merged in, as `TypedValue.Merge`: config wins at leaves,
/// maps merge key by key, set and associative lists item by item (shared items in
/// the config's order, live-only items kept near where they were).
pub fn merge(ty: Option<Schema<'_>>, live: Option<&Value>, config: &Value) -> Value {
    let sh = shape(ty, config);
    match (&sh, config) {
        (Shape::Map(s), Value::Object(cm)) => {
            let mut out = match live {
                Some(Value::Object(l)) => l.clone(),
                _ => Map::new(),
            };
            for (k, cv) in cm {
                if cv.is_null() {
                    out.remove(k);
                    continue;
                }
                let merged = merge(child(*s, k).0, out.get(k), cv);
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Shape::Set | Shape::Assoc(..), Value::Array(ritems)) => {
            let litems = match live {
                Some(Value::Array(l)) => l.as_slice(),
                _ => &[],
            };
            let is = item_schema(&sh);
            let lpe: Vec<PathElement> = litems
                .iter()
                .enumerate()
                .map(|(i, x)| item_element(&sh, i, x))
                .collect();
            let rpe: Vec<PathElement> = ritems
                .iter()
                .enumerate()
                .map(|(i, x)| item_element(&sh, i, x))
                .collect();
            let find_l = |pe: &PathElement| lpe.iter().position(|p| p == pe).map(|i| &litems[i]);
            let mut done: Vec<&PathElement> = Vec::new();
            let mut out = Vec::new();
            let (mut li, mut ri) = (0, 0);
            let assoc = matches!(sh, Shape::Assoc(..));
            let merge_item = |l: Option<&Value>, r: &Value| {
                if assoc { merge(is, l, r) } else { r.clone() }
            };
            while li < lpe.len() || ri < rpe.len() {
                if li < lpe.len() && ri < rpe.len() && lpe[li] == rpe[ri] {
                    out.push(merge_item(Some(&litems[li]), &ritems[ri]));
                    done.push(&rpe[ri]);
                    li += 1;
                    ri += 1;
                    continue;
                }
                if li < lpe.len() {
                    let in_config = rpe.contains(&lpe[li]);
                    if !in_config {
                        out.push(litems[li].clone());
                        li += 1;
                        continue;
                    }
                    if done.contains(&&lpe[li]) || ri >= rpe.len() {
                        li += 1;
                        continue;
                    }
                }
                if ri < rpe.len() {
                    out.push(merge_item(find_l(&rpe[ri]), &ritems[ri]));
                    done.push(&rpe[ri]);
                    ri += 1;
                }
            }
            Value::Array(out)
        }
        _ => config.clone(),
    }
}

/// Remove every path in `remove` from `v`; a map or list left empty by the removal
/// goes too (SMD's remover yields null for it, which the typed object drops).
pub fn remove(ty: Option<Schema<'_>>, v: &mut Value, remove: &FieldSet) {
    walk_remove(ty, v, remove, &mut Vec::new());
}

fn walk_remove(ty: Option<Schema<'_>>, v: &mut Value, set: &FieldSet, path: &mut Path) {
    let sh = shape(ty, v);
    match (&sh, v) {
        (Shape::Map(s), Value::Object(m)) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                path.push(PathElement::Field(k.clone()));
                if set.contains(path) {
                    m.remove(&k);
                } else if set.has_prefix(path)
                    && let Some(cv) = m.get_mut(&k)
                {
                    walk_remove(child(*s, &k).0, cv, set, path);
                    if is_empty_container(cv) {
                        m.remove(&k);
                    }
                }
                path.pop();
            }
        }
        (Shape::Set | Shape::Assoc(..), Value::Array(items)) => {
            let is = item_schema(&sh);
            let mut kept = Vec::with_capacity(items.len());
            for (i, mut item) in std::mem::take(items).into_iter().enumerate() {
                path.push(item_element(&sh, i, &item));
                if set.contains(path) {
                    path.pop();
                    continue;
                }
                if set.has_prefix(path) {
                    walk_remove(is, &mut item, set, path);
                }
                path.pop();
                kept.push(item);
            }
            *items = kept;
        }
        _ => {}
    }
}

fn is_empty_container(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ssa::fieldset::path_string;
    use serde_json::json;

    fn paths(set: &FieldSet) -> Vec<String> {
        set.iter().map(|p| path_string(p)).collect()
    }

    #[test]
    fn field_sets_follow_the_schema() {
        let pod = definitions().for_kind("", "v1", "Pod");
        let obj = json!({"metadata": {"labels": {"app": "x"}}, "spec": {
            "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}],
                            "args": ["a", "b"]}],
            "unknownField": {"x": [1]}}});
        assert_eq!(
            paths(&field_set(pod, &obj)),
            vec![
                ".metadata.labels.app",
                ".spec.containers[name=\"c\"]",
                ".spec.containers[name=\"c\"].args",
                ".spec.containers[name=\"c\"].image",
                ".spec.containers[name=\"c\"].name",
                ".spec.containers[name=\"c\"].ports[containerPort=80,protocol=\"TCP\"]",
                ".spec.containers[name=\"c\"].ports[containerPort=80,protocol=\"TCP\"].containerPort",
                ".spec.unknownField",
                ".spec.unknownField.x",
            ]
        );
    }

    #[test]
    fn merge_keeps_live_only_items_and_takes_config_values() {
        let pod = definitions().for_kind("", "v1", "Pod");
        let live = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b:1"}]}});
        let config = json!({"spec": {"containers": [
            {"name": "a", "image": "a:2"}, {"name": "c", "image": "c:1"}]}});
        let merged = merge(pod, Some(&live), &config);
        assert_eq!(
            merged,
            json!({"spec": {"containers": [
                {"name": "a", "image": "a:2", "env": [{"name": "X", "value": "1"}]},
                {"name": "b", "image": "b:1"},
                {"name": "c", "image": "c:1"}]}})
        );
        let cm = definitions().for_kind("", "v1", "ConfigMap");
        let v = json!({"data": {"a": "1", "b": "2"}});
        let mut out = merge(cm, Some(&v), &json!({"data": {"b": "3"}}));
        assert_eq!(out, json!({"data": {"a": "1", "b": "3"}}));
        let set = field_set(cm, &json!({"data": {"a": "1", "b": "3"}}));
        remove(cm, &mut out, &set);
        assert_eq!(out, json!({}));
        let item = value_at(
            pod,
            &merged,
            &[
                PathElement::Field("spec".into()),
                PathElement::Field("containers".into()),
                PathElement::key(&[("name", json!("b"))]),
                PathElement::Field("image".into()),
            ],
        );
        assert_eq!(item, Some(&json!("b:1")));
    }
}
