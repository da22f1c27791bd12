use serde_json::json;

use super::*;
use crate::k8s_schema::definitions;

fn cm_ctx() -> Context<'static> {
    Context {
        schema: definitions().for_kind("", "v1", "ConfigMap"),
        api_version: "v1",
        status: false,
        has_status_subresource: false,
    }
}

fn cm(data: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data})
}

const T: &str = "2026-01-01T00:00:00Z";

#[test]
fn apply_owns_its_fields_and_removes_what_it_drops() {
    let ctx = cm_ctx();
    let first = apply(&ctx, None, &cm(json!({"a": "1", "b": "2"})), "m", false, T).unwrap();
    let mf = &first["metadata"]["managedFields"];
    assert_eq!(mf[0]["manager"], "m");
    assert_eq!(mf[0]["operation"], "Apply");
    assert_eq!(mf[0]["fieldsV1"], json!({"f:data": {"f:a": {}, "f:b": {}}}));
    let second = apply(&ctx, Some(&first), &cm(json!({"a": "1"})), "m", false, T).unwrap();
    assert_eq!(second["data"], json!({"a": "1"}));
    assert_eq!(
        second["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:data": {"f:a": {}}})
    );
    // Re-applying the same configuration changes nothing.
    let third = apply(
        &ctx,
        Some(&second),
        &cm(json!({"a": "1"})),
        "m",
        false,
        "later",
    )
    .unwrap();
    assert_eq!(third, second);
}

#[test]
fn another_managers_field_conflicts_unless_forced() {
    let ctx = cm_ctx();
    let first = apply(&ctx, None, &cm(json!({"key": "1"})), "one", false, T).unwrap();
    let err = apply(
        &ctx,
        Some(&first),
        &cm(json!({"key": "2"})),
        "two",
        false,
        T,
    )
    .unwrap_err();
    assert_eq!(
        conflict_message(&err),
        "Apply failed with 1 conflict: conflict with \"one\": .data.key"
    );
    // The same value is shared ownership, not a conflict.
    let shared = apply(
        &ctx,
        Some(&first),
        &cm(json!({"key": "1"})),
        "two",
        false,
        T,
    )
    .unwrap();
    assert_eq!(
        shared["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let forced = apply(&ctx, Some(&first), &cm(json!({"key": "2"})), "two", true, T).unwrap();
    assert_eq!(forced["data"]["key"], "2");
    let mf = forced["metadata"]["managedFields"].as_array().unwrap();
    assert_eq!(mf.len(), 1, "{mf:?}");
    assert_eq!(mf[0]["manager"], "two");
    // "one" dropping the key now leaves it: "two" owns it.
    let dropped = apply(&ctx, Some(&forced), &cm(json!({})), "one", false, T).unwrap();
    assert_eq!(dropped["data"]["key"], "2");
}

#[test]
fn updates_take_ownership_and_make_later_applies_conflict() {
    let ctx = cm_ctx();
    let applied = apply(
        &ctx,
        None,
        &cm(json!({"key": "1", "other": "x"})),
        "ssa",
        false,
        T,
    )
    .unwrap();
    let mut edited = applied.clone();
    edited["data"]["key"] = json!("edited");
    let requested = edited["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("managedFields");
    record_update(
        &ctx,
        Some(&applied),
        &mut edited,
        requested.as_ref(),
        "kubectl-edit",
        T,
    );
    let mf = edited["metadata"]["managedFields"].as_array().unwrap();
    assert_eq!(mf.len(), 2);
    assert_eq!(mf[0]["fieldsV1"], json!({"f:data": {"f:other": {}}}));
    assert_eq!(mf[1]["manager"], "kubectl-edit");
    assert_eq!(mf[1]["fieldsV1"], json!({"f:data": {"f:key": {}}}));
    let err = apply(
        &ctx,
        Some(&edited),
        &cm(json!({"key": "1", "other": "x"})),
        "ssa",
        false,
        T,
    )
    .unwrap_err();
    assert_eq!(
        conflict_message(&err),
        "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using v1: .data.key"
    );
    // `[{}]` resets; an empty list keeps what the object had.
    let mut reset = edited.clone();
    record_update(&ctx, Some(&edited), &mut reset, Some(&json!([{}])), "x", T);
    assert!(reset["metadata"].get("managedFields").is_none());
    let mut kept = edited.clone();
    record_update(&ctx, Some(&edited), &mut kept, Some(&json!([])), "x", T);
    assert_eq!(
        kept["metadata"]["managedFields"],
        edited["metadata"]["managedFields"]
    );
}

#[test]
fn lists_merge_by_their_keys_and_dropped_items_go() {
    let ctx = Context {
        schema: definitions().for_kind("", "v1", "Pod"),
        api_version: "v1",
        status: false,
        has_status_subresource: true,
    };
    let pod = |containers: serde_json::Value| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}});
    let first = apply(
        &ctx,
        None,
        &pod(json!([{"name": "a", "image": "a"}, {"name": "b", "image": "b"}])),
        "m",
        false,
        T,
    )
    .unwrap();
    let mut live = first.clone();
    live["status"] = json!({"phase": "Running"});
    let second = apply(
        &ctx,
        Some(&live),
        &pod(json!([{"name": "b", "image": "b2"}])),
        "m",
        false,
        T,
    )
    .unwrap();
    assert_eq!(
        second["spec"]["containers"],
        json!([{"name": "b", "image": "b2"}])
    );
    assert_eq!(second["status"]["phase"], "Running");
    assert_eq!(
        second["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:spec": {"f:containers": {"k:{\"name\":\"b\"}": {".": {}, "f:name": {}, "f:image": {}}}}})
    );
}
