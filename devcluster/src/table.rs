//! Server-side printing: `meta.k8s.io/v1` Table and PartialObjectMetadata responses,
//! with a JSONPath subset for printer columns and dates rendered as ages.

use serde_json::{Value, json};

use crate::registry::{PrinterColumn, ResourceInfo};

/// How a response body is rendered, from the `Accept` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Render {
    /// The object(s) as stored.
    #[default]
    Full,
    /// `PartialObjectMetadata(List)` (Controller::owns, metadata watchers).
    Metadata,
    /// `Table` (kubectl get).
    Table,
}

impl Render {
    /// Pick the first supported media range of an Accept header.
    pub fn from_accept(accept: &str) -> Self {
        for part in accept.split(',') {
            let p = part.to_ascii_lowercase();
            if p.contains("as=table") {
                return Render::Table;
            }
            if p.contains("as=partialobjectmetadata") {
                return Render::Metadata;
            }
            if p.contains("application/json") || p.contains("*/*") {
                return Render::Full;
            }
        }
        Render::Full
    }
}

/// The object reduced to `PartialObjectMetadata`.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
    })
}

/// Evaluate a printer-column JSONPath (`.a.b`, `.a[0].b`, `.a[*].b`, `.a[?(@.k=="v")].b`),
/// returning every match.
pub fn json_path(obj: &Value, path: &str) -> Vec<Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let path = path.strip_prefix('$').unwrap_or(path);
    let mut cur = vec![obj.clone()];
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            rest = &r[end..];
            if key.is_empty() {
                continue;
            }
            cur = cur
                .into_iter()
                .filter_map(|v| v.get(key).cloned())
                .collect();
        } else if let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                return Vec::new();
            };
            let sel = &r[..end];
            rest = &r[end + 1..];
            cur = cur.into_iter().flat_map(|v| select(&v, sel)).collect();
        } else {
            return Vec::new();
        }
    }
    cur
}

fn select(v: &Value, sel: &str) -> Vec<Value> {
    let Some(arr) = v.as_array() else {
        // `['key']` on objects.
        let key = sel.trim_matches('\'').trim_matches('"');
        return v.get(key).cloned().into_iter().collect();
    };
    if sel == "*" {
        return arr.clone();
    }
    if let Some(filter) = sel.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
        let Some((field, want)) = filter.split_once("==") else {
            return Vec::new();
        };
        let want = want.trim().trim_matches('"').trim_matches('\'');
        let field = field.trim();
        return arr
            .iter()
            .filter(|item| {
                json_path(item, &format!(".{field}"))
                    .first()
                    .and_then(|x| {
                        x.as_str()
                            .map(str::to_string)
                            .or_else(|| Some(x.to_string()))
                    })
                    .as_deref()
                    == Some(want)
            })
            .cloned()
            .collect();
    }
    match sel.parse::<i64>() {
        Ok(i) => {
            let idx = if i < 0 { arr.len() as i64 + i } else { i };
            usize::try_from(idx)
                .ok()
                .and_then(|i| arr.get(i))
                .cloned()
                .into_iter()
                .collect()
        }
        Err(_) => Vec::new(),
    }
}

/// apimachinery's `duration.HumanDuration`, as used for `date` columns.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let s = secs.max(0);
    let m = s / 60;
    let h = m / 60;
    let d = h / 24;
    let y = d / 365;
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        if s % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", s % 60)
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else if y < 8 {
        format!("{y}y{}d", d % 365)
    } else {
        format!("{y}y")
    }
}

fn age_column() -> PrinterColumn {
    PrinterColumn {
        name: "Age".into(),
        type_: "date".into(),
        format: String::new(),
        description: "CreationTimestamp is a timestamp representing the server time when this object was created.".into(),
        priority: 0,
        json_path: ".metadata.creationTimestamp".into(),
        compute: None,
    }
}

fn name_column() -> PrinterColumn {
    PrinterColumn {
        name: "Name".into(),
        type_: "string".into(),
        format: "name".into(),
        description: "Name must be unique within a namespace.".into(),
        priority: 0,
        json_path: ".metadata.name".into(),
        compute: None,
    }
}

/// The whole row's columns: a built-in printer's as they are, otherwise Name
/// first and (for built-ins) Age last.
fn columns(ri: &ResourceInfo) -> Vec<PrinterColumn> {
    if ri.full_columns {
        return ri.columns.clone();
    }
    let mut cols = vec![name_column()];
    cols.extend(ri.columns.iter().cloned());
    if !ri.is_custom() && !cols.iter().any(|c| c.name == "Age") {
        cols.push(age_column());
    }
    cols
}

/// `columnDefinitions` of a resource's Table.
pub fn column_definitions(ri: &ResourceInfo) -> Value {
    let mut defs = Vec::new();
    for c in columns(ri) {
        let type_ = if c.type_ == "date" {
            "string"
        } else {
            c.type_.as_str()
        };
        let format = if c.type_ == "date" {
            "date".to_string()
        } else {
            c.format.clone()
        };
        defs.push(json!({"name": c.name, "type": type_, "format": format, "description": c.description, "priority": c.priority}));
    }
    Value::Array(defs)
}

fn cell(c: &PrinterColumn, obj: &Value) -> Value {
    if let Some(f) = c.compute {
        return f(obj);
    }
    let found = json_path(obj, &c.json_path);
    let Some(first) = found.first() else {
        return Value::Null;
    };
    match c.type_.as_str() {
        "date" => match first
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        {
            Some(t) => json!(human_duration(
                (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds()
            )),
            None => Value::Null,
        },
        "integer" | "number" | "boolean" => first.clone(),
        _ => {
            let parts: Vec<String> = found
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect();
            json!(parts.join(","))
        }
    }
}

/// One Table row for an object; `include` is the `includeObject` parameter.
pub fn row(ri: &ResourceInfo, obj: &Value, include: &str) -> Value {
    let cells: Vec<Value> = columns(ri).iter().map(|c| cell(c, obj)).collect();
    let mut r = json!({"cells": cells});
    match include {
        "None" => {}
        "Object" => r["object"] = obj.clone(),
        _ => r["object"] = partial_metadata(obj),
    }
    r
}

/// A whole Table.
pub fn table(ri: &ResourceInfo, objs: &[Value], list_meta: Value, include: &str) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": column_definitions(ri),
        "rows": objs.iter().map(|o| row(ri, o, include)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_ages() {
        let o = json!({"status": {"conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}]}, "a": [1, 2]});
        assert_eq!(
            json_path(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            vec![json!("True")]
        );
        assert_eq!(json_path(&o, ".a[1]"), vec![json!(2)]);
        assert_eq!(json_path(&o, ".a[*]").len(), 2);
        assert!(json_path(&o, ".missing.x").is_empty());
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(300), "5m");
        assert_eq!(human_duration(3 * 3600 + 60), "3h1m");
        assert_eq!(human_duration(3 * 86400), "3d");
    }
}
