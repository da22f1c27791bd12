//! Server-side apply and field ownership (`metadata.managedFields`), after
//! sigs.k8s.io/structured-merge-diff and the apiserver's fieldmanager: an apply
//! owns exactly the fields in its configuration, drops what it applied before and
//! no longer does (unless someone else owns it), and conflicts with other owners
//! of a field it changes unless forced; every other write records an `Update`
//! entry for its manager and takes the fields it changed away from the others.

pub mod fieldset;
pub mod managers;
pub mod typed;

use serde_json::Value;

use crate::k8s_schema::Schema;
use fieldset::{FieldSet, Path, PathElement};
use managers::{Comparison, Entry, Operation};
pub use managers::{Conflict, conflict_message};

/// What a write is: which type, at which version, through which endpoint.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The served type's schema (None: every field deduced).
    pub schema: Option<Schema<'a>>,
    /// The served `apiVersion`, recorded in the entries.
    pub api_version: &'a str,
    /// The write goes to `/status`.
    pub status: bool,
    /// The resource has a status subresource (so the main resource's writes do not own status).
    pub has_status_subresource: bool,
}

/// Fields the server never tracks (the fieldmanager's `stripMeta`), and those the
/// endpoint resets (status on the main resource, all but status on `/status`).
fn ignored(ctx: &Context<'_>, p: &Path) -> bool {
    let field = |i: usize| match p.get(i) {
        Some(PathElement::Field(f)) => Some(f.as_str()),
        _ => None,
    };
    match (field(0), field(1)) {
        (Some("apiVersion" | "kind"), _) => return true,
        (Some("metadata"), None) => return true,
        (
            Some("metadata"),
            Some(
                "name"
                | "namespace"
                | "creationTimestamp"
                | "selfLink"
                | "uid"
                | "generation"
                | "managedFields"
                | "resourceVersion"
                | "deletionTimestamp"
                | "deletionGracePeriodSeconds",
            ),
        ) => return true,
        _ => {}
    }
    if ctx.status {
        field(0) != Some("status")
    } else {
        ctx.has_status_subresource && field(0) == Some("status")
    }
}

fn tracked(ctx: &Context<'_>, v: &Value) -> FieldSet {
    let mut set = typed::field_set(ctx.schema, v);
    set.retain(|p| !ignored(ctx, p));
    set
}

/// `typed.Compare`: fields added, removed, and leaves whose value changed.
fn compare(ctx: &Context<'_>, old: Option<&Value>, new: &Value) -> Comparison {
    let new_set = tracked(ctx, new);
    let Some(old) = old else {
        return Comparison {
            added: new_set,
            ..Comparison::default()
        };
    };
    let old_set = tracked(ctx, old);
    let both = old_set.union(&new_set);
    let modified = old_set
        .intersection(&new_set)
        .iter()
        .filter(|p| !both.has_descendant(p))
        .filter(|p| typed::value_at(ctx.schema, old, p) != typed::value_at(ctx.schema, new, p))
        .cloned()
        .collect();
    Comparison {
        added: new_set.difference(&old_set),
        removed: old_set.difference(&new_set),
        modified,
    }
}

fn without_managed_fields(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    v
}

fn set_managed_fields(obj: &mut Value, entries: &[Entry]) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        match managers::encode(entries) {
            Some(v) => {
                m.insert("managedFields".into(), v);
            }
            None => {
                m.remove("managedFields");
            }
        }
    }
}

/// The writing manager's entry: its time moves only when the object changed, so
/// a write that changes nothing stays a no-op.
fn stamp(entries: &mut [Entry], me: usize, changed: bool, now: &str) {
    if changed || entries[me].time.is_none() {
        entries[me].time = Some(now.to_string());
    }
}

/// Server-side apply of `config` (already parsed, without managedFields) over
/// `live` (None: the object is created). Returns the merged object, its
/// managedFields set, or the conflicts with other managers.
pub fn apply(
    ctx: &Context<'_>,
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    force: bool,
    now: &str,
) -> Result<Value, Vec<Conflict>> {
    let live_plain = live.map(without_managed_fields);
    let mut entries = live
        .and_then(|l| managers::decode(l.pointer("/metadata/managedFields")).ok())
        .unwrap_or_default();
    if entries.is_empty()
        && let Some(l) = &live_plain
    {
        // An object nobody tracked yet: what it has belongs to a placeholder
        // manager, as the server does, so the first apply conflicts correctly.
        let set = tracked(ctx, l);
        if !set.is_empty() {
            entries.push(Entry {
                manager: "before-first-apply".into(),
                operation: Operation::Update,
                api_version: ctx.api_version.to_string(),
                time: Some(now.to_string()),
                subresource: String::new(),
                set,
            });
        }
    }
    let me_entry = Entry {
        manager: manager.to_string(),
        operation: Operation::Apply,
        api_version: ctx.api_version.to_string(),
        time: None,
        subresource: if ctx.status {
            "status".into()
        } else {
            String::new()
        },
        set: FieldSet::new(),
    };
    let me = match entries.iter().position(|e| e.same_manager(&me_entry)) {
        Some(i) => i,
        None => {
            entries.push(me_entry);
            entries.len() - 1
        }
    };
    let last = std::mem::replace(&mut entries[me].set, tracked(ctx, config));
    entries[me].api_version = ctx.api_version.to_string();
    let mut merged = typed::merge(ctx.schema, live_plain.as_ref(), config);
    // Prune what this manager applied last time and applies no more, unless a
    // manager (this one included, through a field below it) still owns it.
    let owned = entries
        .iter()
        .fold(FieldSet::new(), |acc, e| acc.union(&e.set));
    let drop: FieldSet = last
        .iter()
        .filter(|p| !owned.contains(p) && !owned.has_descendant(p))
        .cloned()
        .collect();
    if !drop.is_empty() {
        typed::remove(ctx.schema, &mut merged, &drop);
    }
    let cmp = compare(ctx, live_plain.as_ref(), &merged);
    managers::update(&mut entries, Some(me), &cmp, force)?;
    let changed = live_plain.as_ref() != Some(&merged);
    stamp(&mut entries, me, changed, now);
    set_managed_fields(&mut merged, &entries);
    Ok(merged)
}

/// Record a non-apply write (create, update, patch) by `manager` on `new`, whose
/// managedFields were taken out into `requested` (what the request carried).
pub fn record_update(
    ctx: &Context<'_>,
    old: Option<&Value>,
    new: &mut Value,
    requested: Option<&Value>,
    manager: &str,
    now: &str,
) {
    let live_entries = || {
        old.and_then(|o| managers::decode(o.pointer("/metadata/managedFields")).ok())
            .unwrap_or_default()
    };
    // A subresource write cannot set managedFields; `[{}]` resets them; an empty
    // or undecodable list keeps the live ones (so unaware clients lose nothing).
    let mut entries = if ctx.status {
        live_entries()
    } else if managers::is_reset(requested) {
        Vec::new()
    } else {
        match managers::decode(requested) {
            Ok(e) if !e.is_empty() => e,
            _ => live_entries(),
        }
    };
    let old_plain = old.map(without_managed_fields);
    let new_plain = without_managed_fields(new);
    let cmp = compare(ctx, old_plain.as_ref(), &new_plain);
    let me_entry = Entry {
        manager: manager.to_string(),
        operation: Operation::Update,
        api_version: ctx.api_version.to_string(),
        time: None,
        subresource: if ctx.status {
            "status".into()
        } else {
            String::new()
        },
        set: FieldSet::new(),
    };
    let me = entries.iter().position(|e| e.same_manager(&me_entry));
    // Non-apply writes always win: `update` with force cannot fail.
    let _ = managers::update(&mut entries, me, &cmp, true);
    let me = match me {
        Some(i) => i,
        None => {
            entries.push(me_entry);
            entries.len() - 1
        }
    };
    entries[me].set = entries[me]
        .set
        .difference(&cmp.removed)
        .union(&cmp.modified)
        .union(&cmp.added);
    let changed = old_plain.as_ref() != Some(&new_plain);
    stamp(&mut entries, me, changed, now);
    set_managed_fields(new, &entries);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
