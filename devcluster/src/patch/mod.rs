//! PATCH bodies: JSON merge patch (RFC 7386) and JSON patch (RFC 6902) with the
//! leniencies of evanphx/json-patch that the real API server (and so kube's
//! `finalizer()` helper) relies on, and strategic merge patch (the `strategic` module).

use serde_json::Value;

mod strategic;
pub use strategic::strategic_merge_patch;

/// Why a patch could not be applied.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PatchError {
    /// The body is not a valid patch document.
    #[error("{0}")]
    Malformed(String),
    /// A `test` operation failed (the API server answers 422).
    #[error("testing value {path} failed")]
    TestFailed {
        /// The tested path.
        path: String,
    },
    /// An operation referred to a path that does not exist.
    #[error("{0}")]
    BadPath(String),
}

/// Apply an RFC 7386 merge patch in place.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> Result<Vec<String>, PatchError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| PatchError::Malformed(format!("invalid JSON pointer {path:?}")))?;
    Ok(rest.split('/').map(unescape).collect())
}

/// Navigate to the parent container of `tokens`, returning it and the last token.
fn parent_mut<'a>(
    doc: &'a mut Value,
    tokens: &[String],
    path: &str,
) -> Result<(&'a mut Value, String), PatchError> {
    let (last, parents) = tokens.split_last().ok_or_else(|| {
        PatchError::BadPath(format!("cannot operate on the document root: {path}"))
    })?;
    let mut cur = doc;
    for t in parents {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(t)
                .ok_or_else(|| PatchError::BadPath(format!("doc is missing path: {path}")))?,
            Value::Array(a) => {
                let idx: usize = t
                    .parse()
                    .map_err(|_| PatchError::BadPath(format!("invalid array index in {path}")))?;
                a.get_mut(idx)
                    .ok_or_else(|| PatchError::BadPath(format!("doc is missing path: {path}")))?
            }
            _ => return Err(PatchError::BadPath(format!("doc is missing path: {path}"))),
        };
    }
    Ok((cur, last.clone()))
}

fn get<'a>(doc: &'a Value, path: &str) -> Result<Option<&'a Value>, PatchError> {
    let tokens = split_pointer(path)?;
    let mut cur = doc;
    for t in &tokens {
        cur = match cur {
            Value::Object(m) => match m.get(t) {
                Some(v) => v,
                None => return Ok(None),
            },
            Value::Array(a) => match t.parse::<usize>().ok().and_then(|i| a.get(i)) {
                Some(v) => v,
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
    }
    Ok(Some(cur))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), PatchError> {
    let tokens = split_pointer(path)?;
    if tokens.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = parent_mut(doc, &tokens, path)?;
    match parent {
        Value::Object(m) => {
            m.insert(last, value);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
                return Ok(());
            }
            let idx: usize = last
                .parse()
                .map_err(|_| PatchError::BadPath(format!("invalid array index in {path}")))?;
            if idx > a.len() {
                return Err(PatchError::BadPath(format!(
                    "array index out of bounds in {path}"
                )));
            }
            a.insert(idx, value);
            Ok(())
        }
        _ => Err(PatchError::BadPath(format!("doc is missing path: {path}"))),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, PatchError> {
    let tokens = split_pointer(path)?;
    let (parent, last) = parent_mut(doc, &tokens, path)?;
    match parent {
        Value::Object(m) => m.remove(&last).ok_or_else(|| {
            PatchError::BadPath(format!(
                "unable to remove nonexistent key: {last}: missing value"
            ))
        }),
        Value::Array(a) => {
            let idx: usize = last
                .parse()
                .map_err(|_| PatchError::BadPath(format!("invalid array index in {path}")))?;
            if idx >= a.len() {
                return Err(PatchError::BadPath(format!(
                    "array index out of bounds in {path}"
                )));
            }
            Ok(a.remove(idx))
        }
        _ => Err(PatchError::BadPath(format!("doc is missing path: {path}"))),
    }
}

/// Apply an RFC 6902 JSON patch. Like evanphx/json-patch (the API server's
/// implementation), `test` of a missing path against `null` succeeds: kube's
/// `finalizer()` helper sends exactly that before adding the first finalizer.
pub fn json_patch(doc: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let ops = patch.as_array().ok_or_else(|| {
        PatchError::Malformed("a JSON patch must be an array of operations".into())
    })?;
    for op in ops {
        let name = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| PatchError::Malformed("operation has no \"op\"".into()))?;
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| PatchError::Malformed(format!("operation {name:?} has no \"path\"")))?;
        let value = || {
            op.get("value").cloned().ok_or_else(|| {
                PatchError::Malformed(format!("operation {name:?} has no \"value\""))
            })
        };
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| PatchError::Malformed(format!("operation {name:?} has no \"from\"")))
        };
        match name {
            "add" => add(doc, path, value()?)?,
            "remove" => {
                remove(doc, path)?;
            }
            "replace" => {
                if get(doc, path)?.is_none() {
                    return Err(PatchError::BadPath(format!(
                        "replace operation does not apply: doc is missing key: {path}: missing value"
                    )));
                }
                if split_pointer(path)?.is_empty() {
                    *doc = value()?;
                } else {
                    remove(doc, path)?;
                    add(doc, path, value()?)?;
                }
            }
            "move" => {
                let v = remove(doc, from()?)?;
                add(doc, path, v)?;
            }
            "copy" => {
                let v = get(doc, from()?)?.cloned().ok_or_else(|| {
                    PatchError::BadPath(format!("copy from missing path {}", from().unwrap_or("")))
                })?;
                add(doc, path, v)?;
            }
            "test" => {
                let want = value()?;
                let ok = match get(doc, path)? {
                    Some(actual) => *actual == want,
                    // evanphx/json-patch: a missing value equals null.
                    None => want.is_null(),
                };
                if !ok {
                    return Err(PatchError::TestFailed {
                        path: path.to_string(),
                    });
                }
            }
            other => return Err(PatchError::Malformed(format!("Unexpected kind: {other}"))),
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn test_against_missing_null_succeeds() {
        let mut doc = json!({"metadata": {"name": "a"}});
        let patch = json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["x"]}
        ]);
        json_patch(&mut doc, &patch).unwrap();
        assert_eq!(doc["metadata"]["finalizers"], json!(["x"]));
        let stale = json!([{"op": "test", "path": "/metadata/finalizers", "value": null}]);
        assert!(matches!(
            json_patch(&mut doc, &stale),
            Err(PatchError::TestFailed { .. })
        ));
    }

    #[test]
    fn ops() {
        let mut doc = json!({"a": [1, 2], "b": {"c": 1}});
        json_patch(
            &mut doc,
            &json!([
                {"op": "add", "path": "/a/-", "value": 3},
                {"op": "remove", "path": "/a/0"},
                {"op": "replace", "path": "/b/c", "value": 2},
                {"op": "copy", "from": "/b", "path": "/d"},
                {"op": "move", "from": "/d", "path": "/e"}
            ]),
        )
        .unwrap();
        assert_eq!(doc, json!({"a": [2, 3], "b": {"c": 2}, "e": {"c": 2}}));
        let mut m = json!({"a": 1, "b": {"c": 1, "d": 2}});
        merge_patch(&mut m, &json!({"a": null, "b": {"c": 5}}));
        assert_eq!(m, json!({"b": {"c": 5, "d": 2}}));
    }
}
