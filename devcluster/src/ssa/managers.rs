//! `metadata.managedFields`: decoding, encoding and ordering the entries, and the
//! ownership bookkeeping of SMD's `Updater.update`.

use serde_json::{Value, json};

use super::fieldset::{FieldSet, path_string};

/// `operation` of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub time: Option<String>,
    pub subresource: String,
    pub set: FieldSet,
}

impl Entry {
    /// The server's manager identity: an Apply manager is one per name and
    /// subresource, an Update manager also per API version.
    pub fn same_manager(&self, other: &Entry) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == Operation::Apply || self.api_version == other.api_version)
    }

    /// How a conflict names the manager (the server's `printManager`).
    pub fn label(&self) -> String {
        let name = Value::String(self.manager.clone()).to_string();
        match self.operation {
            Operation::Update => format!("{name} using {}", self.api_version),
            Operation::Apply if !self.subresource.is_empty() => {
                format!("{name} with subresource {:?}", self.subresource)
            }
            Operation::Apply => name,
        }
    }
}

/// Why client-supplied managedFields were not usable.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(String);

/// Decode `metadata.managedFields` (absent or null: no entries).
pub fn decode(v: Option<&Value>) -> Result<Vec<Entry>, DecodeError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let list = v
        .as_array()
        .ok_or_else(|| DecodeError("managedFields must be a list".into()))?;
    let mut out: Vec<Entry> = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let operation = match s("operation").as_str() {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            other => {
                return Err(DecodeError(format!(
                    "error decoding managedFields[{i}]: unknown operation {other:?}"
                )));
            }
        };
        if s("fieldsType") != "FieldsV1" {
            return Err(DecodeError(format!(
                "error decoding managedFields[{i}]: unsupported fieldsType {:?}",
                s("fieldsType")
            )));
        }
        let set = FieldSet::from_fields_v1(e.get("fieldsV1").unwrap_or(&json!({})))
            .map_err(|why| DecodeError(format!("error decoding managedFields[{i}]: {why}")))?;
        let entry = Entry {
            manager: s("manager"),
            operation,
            api_version: s("apiVersion"),
            time: e.get("time").and_then(Value::as_str).map(str::to_string),
            subresource: s("subresource"),
            set,
        };
        if out.iter().any(|x| x.same_manager(&entry)) {
            return Err(DecodeError(format!(
                "duplicate entry for manager {:?}",
                entry.manager
            )));
        }
        out.push(entry);
    }
    Ok(out)
}

/// `[{}]`: the documented way to clear managedFields (an empty list keeps them).
pub fn is_reset(v: Option<&Value>) -> bool {
    v.and_then(Value::as_array)
        .is_some_and(|a| a.len() == 1 && a[0].as_object().is_some_and(|m| m.is_empty()))
}

/// Encode entries in the server's order (Apply before Update, then by time,
/// manager, API version, subresource). None when there are none.
pub fn encode(entries: &[Entry]) -> Option<Value> {
    let mut sorted: Vec<&Entry> = entries.iter().filter(|e| !e.set.is_empty()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(|p, q| {
        (
            p.operation,
            &p.time,
            &p.manager,
            &p.api_version,
            &p.subresource,
        )
            .cmp(&(
                q.operation,
                &q.time,
                &q.manager,
                &q.api_version,
                &q.subresource,
            ))
    });
    Some(Value::Array(
        sorted
            .into_iter()
            .map(|e| {
                let mut v = json!({
                    "manager": e.manager,
                    "operation": e.operation.as_str(),
                    "apiVersion": e.api_version,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": e.set.to_fields_v1(),
                });
                if let Some(t) = &e.time {
                    v["time"] = json!(t);
                }
                if !e.subresource.is_empty() {
                    v["subresource"] = json!(e.subresource);
                }
                v
            })
            .collect(),
    ))
}

/// What changed between two versions of an object (`typed.Comparison`).
#[derive(Debug, Default)]
pub struct Comparison {
    pub added: FieldSet,
    pub removed: FieldSet,
    pub modified: FieldSet,
}

/// A field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The manager as the server prints it: `"mgr"` or `"mgr" using v1`.
    pub manager: String,
    /// `.data.key`.
    pub path: String,
}

/// SMD's `Updater.update`: every other manager loses the removed fields and, when
/// forced (always for non-apply writes), the fields this write changed; unforced,
/// any changed field another manager owns is a conflict. Managers left with
/// nothing are dropped. `me` is the index of the writing manager, if it has one.
pub fn update(
    entries: &mut [Entry],
    me: Option<usize>,
    cmp: &Comparison,
    force: bool,
) -> Result<(), Vec<Conflict>> {
    let changed = cmp.modified.union(&cmp.added);
    let mut conflicts = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if Some(i) == me {
            continue;
        }
        for p in e.set.intersection(&changed).iter() {
            conflicts.push((i, p.clone()));
        }
    }
    if !force && !conflicts.is_empty() {
        let mut out: Vec<Conflict> = conflicts
            .iter()
            .map(|(i, p)| Conflict {
                manager: entries[*i].label(),
                path: path_string(p),
            })
            .collect();
        out.sort_by(|a, b| (&a.manager, &a.path).cmp(&(&b.manager, &b.path)));
        return Err(out);
    }
    for (i, e) in entries.iter_mut().enumerate() {
        if Some(i) == me {
            continue;
        }
        e.set = e.set.difference(&changed).difference(&cmp.removed);
    }
    Ok(())
}

/// The message of a 409 for `conflicts` (the apiserver's `getConflictMessage`).
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.manager, only.path
        );
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.dedup();
    let mut lines = Vec::new();
    for m in managers {
        lines.push(format!("conflicts with {m}:"));
        for c in conflicts.iter().filter(|c| c.manager == m) {
            lines.push(format!("- {}", c.path));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_invalid_ones_are_rejected() {
        let v = json!([
            {"manager": "kubectl", "operation": "Update", "apiVersion": "v1", "time": "2026-01-01T00:00:00Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:b": {}}}},
            {"manager": "mgr", "operation": "Apply", "apiVersion": "v1", "time": "2026-01-02T00:00:00Z",
             "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}},
        ]);
        let entries = decode(Some(&v)).unwrap();
        assert_eq!(entries.len(), 2);
        let out = encode(&entries).unwrap();
        assert_eq!(out[0]["manager"], "mgr", "Apply entries come first");
        assert_eq!(out[1]["fieldsV1"], json!({"f:data": {"f:b": {}}}));
        assert!(
            decode(Some(
                &json!([{"manager": "m", "operation": "Bogus", "fieldsType": "FieldsV1"}])
            ))
            .is_err()
        );
        assert!(is_reset(Some(&json!([{}]))));
        assert!(!is_reset(Some(&json!([]))));
    }

    #[test]
    fn conflict_messages_match_the_server() {
        let one = [Conflict {
            manager: "\"a\"".into(),
            path: ".data.key".into(),
        }];
        assert_eq!(
            conflict_message(&one),
            "Apply failed with 1 conflict: conflict with \"a\": .data.key"
        );
        let two = [
            one[0].clone(),
            Conflict {
                manager: "\"b\" using v1".into(),
                path: ".data.x".into(),
            },
        ];
        assert_eq!(
            conflict_message(&two),
            "Apply failed with 2 conflicts: conflicts with \"a\":\n- .data.key\nconflicts with \"b\" using v1:\n- .data.x"
        );
    }
}
