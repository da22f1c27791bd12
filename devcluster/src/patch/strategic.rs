//! Strategic merge patch (`application/strategic-merge-patch+json`) for built-in
//! kinds, as apimachinery's `strategicpatch` applies it on the server: lists whose
//! schema says `x-kubernetes-patch-strategy: merge` merge by their
//! `x-kubernetes-patch-merge-key` (or as sets of scalars), other lists are
//! replaced, maps merge key by key, null deletes, and the `$patch`,
//! `$retainKeys`, `$deleteFromPrimitiveList/…` and `$setElementOrder/…`
//! directives are honoured.

use serde_json::{Map, Value};

use super::PatchError;
use crate::k8s_schema::Schema;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_PREFIX: &str = "$deleteFromPrimitiveList/";
const ORDER_PREFIX: &str = "$setElementOrder/";

/// Apply `patch` to `original` (both JSON objects) typed by `schema`.
pub fn strategic_merge_patch(
    original: &Value,
    patch: &Value,
    schema: Option<Schema<'_>>,
) -> Result<Value, PatchError> {
    let (Value::Object(o), Value::Object(p)) = (original, patch) else {
        return Err(PatchError::Malformed(
            "invalid JSON document: a strategic merge patch must be a JSON object".into(),
        ));
    };
    merge_map(o.clone(), p, schema).map(Value::Object)
}

fn field_schema<'a>(schema: Option<Schema<'a>>, key: &str) -> Option<Schema<'a>> {
    let s = schema?;
    s.property(key).or_else(|| s.additional_properties())
}

fn merge_map(
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
    schema: Option<Schema<'_>>,
) -> Result<Map<String, Value>, PatchError> {
    match patch.get(DIRECTIVE) {
        None => {}
        Some(Value::String(d)) if d == "replace" => {
            // The map is replaced by the patch (its own directives applied to nothing).
            let mut rest = patch.clone();
            rest.remove(DIRECTIVE);
            return merge_map(Map::new(), &rest, schema);
        }
        Some(Value::String(d)) if d == "delete" => return Ok(Map::new()),
        Some(Value::String(d)) if d == "merge" => {}
        Some(other) => {
            return Err(PatchError::Malformed(format!(
                "unknown patch type: {} in map: {}",
                other.as_str().unwrap_or(&other.to_string()),
                Value::Object(patch.clone())
            )));
        }
    }
    if let Some(keys) = patch.get(RETAIN_KEYS) {
        let keys: Vec<&str> = keys
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .ok_or_else(|| {
                PatchError::Malformed("invalid patch: $retainKeys must be a list of strings".into())
            })?;
        original.retain(|k, _| keys.contains(&k.as_str()));
    }
    let mut orders = Vec::new();
    for (k, pv) in patch {
        if k == DIRECTIVE || k == RETAIN_KEYS {
            continue;
        }
        if let Some(field) = k.strip_prefix(DELETE_PREFIX) {
            let doomed = pv.as_array().ok_or_else(|| {
                PatchError::Malformed(format!(
                    "invalid patch: {k} must be a list of primitive values"
                ))
            })?;
            if let Some(Value::Array(items)) = original.get_mut(field) {
                items.retain(|x| !doomed.contains(x));
            }
            continue;
        }
        if let Some(field) = k.strip_prefix(ORDER_PREFIX) {
            let order = pv.as_array().ok_or_else(|| {
                PatchError::Malformed(format!("invalid patch: {k} must be a list"))
            })?;
            orders.push((field, order));
            continue;
        }
        if pv.is_null() {
            original.remove(k);
            continue;
        }
        let cs = field_schema(schema, k);
        let merged = match (original.remove(k), pv) {
            (Some(Value::Object(o)), Value::Object(p)) => Value::Object(merge_map(o, p, cs)?),
            (Some(Value::Array(o)), Value::Array(p)) => Value::Array(merge_list(o, p, cs)?),
            (_, p) => fresh(p, cs)?,
        };
        original.insert(k.clone(), merged);
    }
    for (field, order) in orders {
        let key = field_schema(schema, field).and_then(|s| s.patch_merge_key());
        if let Some(Value::Array(items)) = original.get_mut(field) {
            reorder(items, order, key);
        }
    }
    Ok(original)
}

/// A patch value with nothing to merge into: its directives applied to nothing.
fn fresh(p: &Value, schema: Option<Schema<'_>>) -> Result<Value, PatchError> {
    Ok(match p {
        Value::Object(m) => Value::Object(merge_map(Map::new(), m, schema)?),
        Value::Array(a) => Value::Array(merge_list(Vec::new(), a, schema)?),
        other => other.clone(),
    })
}

fn directive_of(v: &Value) -> Option<&str> {
    v.get(DIRECTIVE).and_then(Value::as_str)
}

fn merge_list(
    mut original: Vec<Value>,
    patch: &[Value],
    schema: Option<Schema<'_>>,
) -> Result<Vec<Value>, PatchError> {
    let items = schema.and_then(|s| s.items());
    let merging = schema.is_some_and(|s| s.patch_strategies().contains(&"merge"));
    if !merging {
        // Without a merge strategy the patch's list replaces the original.
        return patch.iter().map(|p| fresh(p, items)).collect();
    }
    if patch
        .iter()
        .any(|p| directive_of(p) == Some("replace") && p.as_object().is_some_and(|m| m.len() == 1))
    {
        return patch
            .iter()
            .filter(|p| directive_of(p) != Some("replace"))
            .map(|p| fresh(p, items))
            .collect();
    }
    let key = schema.and_then(|s| s.patch_merge_key());
    let Some(key) = key.filter(|_| patch.iter().all(Value::is_object)) else {
        // A set of scalars: union, without duplicates.
        for p in patch {
            if !original.contains(p) {
                original.push(p.clone());
            }
        }
        return Ok(original);
    };
    for p in patch {
        let Some(pm) = p.as_object() else { continue };
        let id = pm.get(key).ok_or_else(|| {
            PatchError::Malformed(format!(
                "map: {p} does not contain declared merge key: {key}"
            ))
        })?;
        let at = original.iter().position(|o| o.get(key) == Some(id));
        match (directive_of(p), at) {
            (Some("delete"), Some(i)) => {
                original.remove(i);
            }
            (Some("delete"), None) => {}
            (_, Some(i)) => {
                let o = match std::mem::take(&mut original[i]) {
                    Value::Object(o) => o,
                    _ => Map::new(),
                };
                original[i] = Value::Object(merge_map(o, pm, items)?);
            }
            (_, None) => original.push(fresh(p, items)?),
        }
    }
    Ok(original)
}

/// `$setElementOrder`: the listed items take the slots the listed items occupy, in
/// the given order; items the order does not mention keep their places.
fn reorder(items: &mut [Value], order: &[Value], key: Option<&str>) {
    let id = |v: &Value| -> Option<Value> {
        match key {
            Some(k) => v.get(k).cloned(),
            None => Some(v.clone()),
        }
    };
    let want: Vec<Option<Value>> = order
        .iter()
        .map(|o| match key {
            Some(k) => o.get(k).cloned(),
            None => Some(o.clone()),
        })
        .collect();
    let rank = |v: &Value| {
        let i = id(v);
        want.iter().position(|w| w.is_some() && *w == i)
    };
    let slots: Vec<usize> = (0..items.len())
        .filter(|&i| rank(&items[i]).is_some())
        .collect();
    let mut listed: Vec<Value> = slots.iter().map(|&i| items[i].clone()).collect();
    listed.sort_by_key(|v| rank(v));
    for (slot, v) in slots.into_iter().zip(listed) {
        items[slot] = v;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::k8s_schema::definitions;
    use serde_json::json;

    fn pod_patch(original: Value, patch: Value) -> Value {
        strategic_merge_patch(&original, &patch, definitions().for_kind("", "v1", "Pod")).unwrap()
    }

    #[test]
    fn containers_merge_by_name_and_env_by_name() {
        // `kubectl set image` and `kubectl set env` send patches like these.
        let original = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b:1"}]}});
        let out = pod_patch(
            original,
            json!({"spec": {"containers": [{"name": "a", "image": "a:2",
                "env": [{"name": "Y", "value": "2"}]}]}}),
        );
        assert_eq!(
            out,
            json!({"spec": {"containers": [
                {"name": "a", "image": "a:2", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
                {"name": "b", "image": "b:1"}]}})
        );
    }

    #[test]
    fn patch_directives() {
        let original = json!({"metadata": {"finalizers": ["x", "y"], "labels": {"a": "1", "b": "2"}},
            "spec": {"containers": [{"name": "a", "image": "a", "args": ["1"]}, {"name": "b", "image": "b"}],
                     "volumes": [{"name": "v", "emptyDir": {}}]}});
        // $patch: delete on a list item, null deleting a key, primitive merge list.
        let out = pod_patch(
            original.clone(),
            json!({"metadata": {"finalizers": ["z"], "labels": {"a": null}},
                   "spec": {"containers": [{"name": "a", "$patch": "delete"}]}}),
        );
        assert_eq!(
            out["spec"]["containers"],
            json!([{"name": "b", "image": "b"}])
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["x", "y", "z"]));
        assert_eq!(out["metadata"]["labels"], json!({"b": "2"}));
        // $patch: replace on a list and on a map; atomic lists (args) replaced.
        let out = pod_patch(
            original.clone(),
            json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}},
                   "spec": {"containers": [{"name": "a", "args": ["2"]}],
                            "volumes": [{"$patch": "replace"}, {"name": "w", "emptyDir": {}}]}}),
        );
        assert_eq!(out["metadata"]["labels"], json!({"c": "3"}));
        assert_eq!(out["spec"]["containers"][0]["args"], json!(["2"]));
        assert_eq!(
            out["spec"]["volumes"],
            json!([{"name": "w", "emptyDir": {}}])
        );
        // $deleteFromPrimitiveList and $setElementOrder.
        let out = pod_patch(
            original,
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]},
                   "spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["y"]));
        assert_eq!(out["spec"]["containers"][0]["name"], "b");
    }

    #[test]
    fn retain_keys_and_bad_directives() {
        let dep = definitions().for_kind("apps", "v1", "Deployment");
        let original = json!({"spec": {"strategy": {"type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1}}}});
        let out = strategic_merge_patch(
            &original,
            &json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
            dep,
        )
        .unwrap();
        assert_eq!(out, json!({"spec": {"strategy": {"type": "Recreate"}}}));
        assert!(
            strategic_merge_patch(&original, &json!({"spec": {"$patch": "bogus"}}), dep).is_err()
        );
    }
}
