//! Field paths and sets as structured-merge-diff has them, and their `FieldsV1`
//! encoding (`f:` field, `k:` associative-list key, `v:` set value, `i:` index,
//! `.` for "this node itself" when it also has children).

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

/// One step of a path. The variant order is SMD's (fields before keys before
/// values before indices), so sets iterate in the order the server prints them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A struct field or map key.
    Field(String),
    /// An associative-list item, by its key fields: canonical JSON of an object
    /// with the keys sorted, e.g. `{"name":"c"}`.
    Key(String),
    /// A set-list item, by its JSON value.
    Value(String),
    /// A list item with no identity other than its position.
    Index(usize),
}

/// Canonical JSON text of `v` (object keys sorted), the form `k:`/`v:` carry.
pub fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        Value::String((*k).clone()),
                        canonical_json(&m[k.as_str()])
                    )
                })
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(canonical_json).collect();
            format!("[{}]", parts.join(","))
        }
        other => other.to_string(),
    }
}

impl PathElement {
    /// The key of an associative-list item from its key fields.
    pub fn key(fields: &[(&str, Value)]) -> Self {
        let m: Map<String, Value> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        PathElement::Key(canonical_json(&Value::Object(m)))
    }

    fn encode(&self) -> String {
        match self {
            PathElement::Field(f) => format!("f:{f}"),
            PathElement::Key(k) => format!("k:{k}"),
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    fn decode(s: &str) -> Result<Self, String> {
        let bad = || format!("unrecognized path element {s:?}");
        let (tag, rest) = s.split_once(':').ok_or_else(bad)?;
        match tag {
            "f" => Ok(PathElement::Field(rest.to_string())),
            "k" => {
                let v: Value = serde_json::from_str(rest).map_err(|_| bad())?;
                if !v.is_object() {
                    return Err(bad());
                }
                Ok(PathElement::Key(canonical_json(&v)))
            }
            "v" => {
                let v: Value = serde_json::from_str(rest).map_err(|_| bad())?;
                Ok(PathElement::Value(canonical_json(&v)))
            }
            "i" => rest.parse().map(PathElement::Index).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for PathElement {
    /// As `fieldpath.Path.String()` prints it: `.name`, `[name="c"]`, `[=v]`, `[0]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(n) => write!(f, ".{n}"),
            PathElement::Key(k) => {
                let parsed: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
                let mut pairs: Vec<(&String, &Value)> = parsed.iter().collect();
                pairs.sort_by(|a, b| a.0.cmp(b.0));
                let parts: Vec<String> = pairs
                    .iter()
                    .map(|(k, v)| format!("{k}={}", canonical_json(v)))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={v}]"),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path from the object's root.
pub type Path = Vec<PathElement>;

/// `.spec.containers[name="c"].image`.
pub fn path_string(p: &[PathElement]) -> String {
    p.iter().map(ToString::to_string).collect()
}

/// A set of paths. Sorted, so every path with a given prefix is one contiguous
/// range starting at the prefix itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet(BTreeSet<Path>);

impl FieldSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, p: Path) {
        self.0.insert(p);
    }

    pub fn contains(&self, p: &[PathElement]) -> bool {
        self.0.contains(p)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Path> {
        self.0.iter()
    }

    /// Paths equal to or below `prefix`.
    pub fn with_prefix<'s>(&'s self, prefix: &'s [PathElement]) -> impl Iterator<Item = &'s Path> {
        self.0
            .range(prefix.to_vec()..)
            .take_while(move |p| p.starts_with(prefix))
    }

    pub fn has_prefix(&self, prefix: &[PathElement]) -> bool {
        self.with_prefix(prefix).next().is_some()
    }

    /// Does the set hold a path strictly below `p`?
    pub fn has_descendant(&self, p: &[PathElement]) -> bool {
        self.with_prefix(p).any(|q| q.len() > p.len())
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.union(&other.0).cloned().collect())
    }

    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.difference(&other.0).cloned().collect())
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        FieldSet(self.0.intersection(&other.0).cloned().collect())
    }

    pub fn retain(&mut self, f: impl FnMut(&Path) -> bool) {
        self.0.retain(f);
    }

    /// The `fieldsV1` object.
    pub fn to_fields_v1(&self) -> Value {
        let mut root = Map::new();
        for p in &self.0 {
            let mut node = &mut root;
            for pe in p {
                let entry = node
                    .entry(pe.encode())
                    .or_insert_with(|| Value::Object(Map::new()));
                node = match entry {
                    Value::Object(m) => m,
                    _ => unreachable!("only objects are inserted"),
                };
            }
        }
        // A member that also has children says so with "."; a leaf member is `{}`.
        fn mark(node: &mut Map<String, Value>, set: &FieldSet, path: &mut Path) {
            for (k, v) in node.iter_mut() {
                if k == "." {
                    continue;
                }
                let Ok(pe) = PathElement::decode(k) else {
                    continue;
                };
                path.push(pe);
                if let Value::Object(child) = v {
                    if !child.is_empty() && set.contains(path) {
                        child.insert(".".into(), Value::Object(Map::new()));
                    }
                    mark(child, set, path);
                }
                path.pop();
            }
        }
        mark(&mut root, self, &mut Vec::new());
        Value::Object(root)
    }

    /// Parse a `fieldsV1` object.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        fn walk(v: &Value, path: &mut Path, out: &mut FieldSet) -> Result<(), String> {
            let m = v
                .as_object()
                .ok_or_else(|| format!("expected an object at {}", path_string(path)))?;
            if m.is_empty() && !path.is_empty() {
                out.insert(path.clone());
            }
            for (k, child) in m {
                if k == "." {
                    out.insert(path.clone());
                    continue;
                }
                path.push(PathElement::decode(k)?);
                walk(child, path, out)?;
                path.pop();
            }
            Ok(())
        }
        let mut out = FieldSet::new();
        walk(v, &mut Vec::new(), &mut out)?;
        Ok(out)
    }
}

impl FromIterator<Path> for FieldSet {
    fn from_iter<T: IntoIterator<Item = Path>>(iter: T) -> Self {
        FieldSet(iter.into_iter().collect())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(s: &str) -> PathElement {
        PathElement::Field(s.into())
    }

    #[test]
    fn fields_v1_round_trips_with_dot_for_members_with_children() {
        let item = PathElement::key(&[("name", json!("c"))]);
        let set: FieldSet = [
            vec![f("data"), f("a")],
            vec![f("spec"), f("containers"), item.clone()],
            vec![f("spec"), f("containers"), item.clone(), f("name")],
            vec![f("spec"), f("containers"), item, f("image")],
            vec![
                f("metadata"),
                f("finalizers"),
                PathElement::Value("\"x\"".into()),
            ],
        ]
        .into_iter()
        .collect();
        let v = set.to_fields_v1();
        assert_eq!(
            v,
            json!({
                "f:data": {"f:a": {}},
                "f:metadata": {"f:finalizers": {"v:\"x\"": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:name": {}, "f:image": {}}}}
            })
        );
        assert_eq!(FieldSet::from_fields_v1(&v).unwrap(), set);
        assert!(FieldSet::from_fields_v1(&json!({"x:y": {}})).is_err());
    }

    #[test]
    fn paths_print_as_the_server_does() {
        let p = vec![
            f("spec"),
            f("ports"),
            PathElement::key(&[("protocol", json!("TCP")), ("containerPort", json!(80))]),
            f("name"),
        ];
        assert_eq!(
            path_string(&p),
            ".spec.ports[containerPort=80,protocol=\"TCP\"].name"
        );
    }

    #[test]
    fn prefix_queries() {
        let set: FieldSet = [vec![f("a"), f("b")], vec![f("a"), f("c")], vec![f("ab")]]
            .into_iter()
            .collect();
        assert_eq!(set.with_prefix(&[f("a")]).count(), 2);
        assert!(set.has_descendant(&[f("a")]));
        assert!(!set.has_descendant(&[f("ab")]));
    }
}
