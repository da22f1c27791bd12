//! Defaulting, validation and conversion of the built-in types pdfx touches.
//! Only the rules pdfx (and kubectl on its objects) can observe are reproduced.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::error::Cause;
use crate::registry::Builtin;
use pods::{default_containers, default_requests_to_limits, qos_class, validate_pod_spec};

mod events;
pub mod fields;
pub mod kinds;
mod pods;
mod printers;
pub mod reviews;
pub mod service;
mod special_kinds;
mod workloads;

pub use events::{core_to_event, event_to_core};

/// Make `v` an object (replacing any other value) and return its map.
fn ensure_object(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

/// The object under `key` of `v`, created (or replacing a non-object) when needed.
fn obj_mut<'a>(v: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    ensure_object(obj_mut_value(v, key))
}

fn obj_mut_value<'a>(v: &'a mut Value, key: &str) -> &'a mut Value {
    let entry = ensure_object(v).entry(key).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry
}

fn default_field(m: &mut Map<String, Value>, key: &str, v: Value) {
    if !m.contains_key(key) || m.get(key).is_some_and(Value::is_null) {
        m.insert(key.into(), v);
    }
}

/// Defaults and status reset applied on create (after uid/name are assigned).
pub fn prepare_create(b: Builtin, obj: &mut Value) {
    let uid = crate::api::meta_string(obj, "uid");
    let name = crate::api::meta_string(obj, "name");
    match b {
        Builtin::Namespace => {
            let spec = obj_mut(obj, "spec");
            default_field(spec, "finalizers", json!(["kubernetes"]));
            *obj_mut_value(obj, "status") = json!({"phase": "Active"});
            obj_mut(obj_mut_value(obj, "metadata"), "labels")
                .insert("kubernetes.io/metadata.name".into(), json!(name));
        }
        Builtin::Job => {
            *obj_mut_value(obj, "status") = json!({});
            let spec = obj_mut(obj, "spec");
            default_field(spec, "parallelism", json!(1));
            default_field(spec, "completions", json!(1));
            default_field(spec, "backoffLimit", json!(6));
            default_field(spec, "completionMode", json!("NonIndexed"));
            default_field(spec, "suspend", json!(false));
            let has_pfp = spec.get("podFailurePolicy").is_some_and(|p| !p.is_null());
            default_field(
                spec,
                "podReplacementPolicy",
                json!(if has_pfp {
                    "Failed"
                } else {
                    "TerminatingOrFailed"
                }),
            );
            let manual = spec
                .get("manualSelector")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if !manual {
                spec.insert(
                    "selector".into(),
                    json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
                );
            }
            let template = spec.entry("template").or_insert_with(|| json!({}));
            if !manual {
                let labels = obj_mut(obj_mut_value(template, "metadata"), "labels");
                for (k, v) in [
                    ("batch.kubernetes.io/controller-uid", &uid),
                    ("batch.kubernetes.io/job-name", &name),
                    ("controller-uid", &uid),
                    ("job-name", &name),
                ] {
                    labels.insert(k.into(), json!(v));
                }
            }
            if let Some(ps) = template.get_mut("spec") {
                default_containers(ps);
            }
        }
        Builtin::Pod => {
            if let Some(ps) = obj.get_mut("spec") {
                default_requests_to_limits(ps);
            }
            let qos = qos_class(obj.get("spec").unwrap_or(&Value::Null));
            *obj_mut_value(obj, "status") = json!({"phase": "Pending", "qosClass": qos});
            let spec = obj_mut(obj, "spec");
            default_field(spec, "restartPolicy", json!("Always"));
            if let Some(ps) = obj.get_mut("spec") {
                default_containers(ps);
            }
        }
        Builtin::Secret => {
            normalize_secret(obj);
        }
        Builtin::Crd => {
            let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
            let mut accepted = names.clone();
            if accepted.get("singular").is_none()
                && let Some(k) = names.get("kind").and_then(Value::as_str)
            {
                accepted["singular"] = json!(k.to_lowercase());
            }
            if accepted.get("listKind").is_none()
                && let Some(k) = names.get("kind").and_then(Value::as_str)
            {
                accepted["listKind"] = json!(format!("{k}List"));
            }
            let stored: Vec<Value> = obj
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
                .filter_map(|v| v.get("name").cloned())
                .collect();
            let now = crate::api::now();
            obj_mut(obj, "spec").insert("names".into(), accepted.clone());
            *obj_mut_value(obj, "status") = json!({
                "acceptedNames": accepted,
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                     "message": "no conflicts found", "lastTransitionTime": now},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                     "message": "the initial names have been accepted", "lastTransitionTime": now}
                ],
                "storedVersions": stored,
            });
        }
        Builtin::Service => service::default_spec(obj),
        Builtin::Kubernetes => workloads::default_workload(obj),
        Builtin::Event
        | Builtin::CoreEvent
        | Builtin::Lease
        | Builtin::ConfigMap
        | Builtin::Node
        | Builtin::RoleBinding
        | Builtin::Review => {}
    }
}

/// `stringData` is write-only: merged into `data` (base64) and dropped, as the API server does.
pub fn normalize_secret(obj: &mut Value) {
    if let Some(Value::Object(sd)) = obj.as_object_mut().and_then(|m| m.remove("stringData")) {
        let data = obj_mut(obj, "data");
        for (k, v) in sd {
            if let Some(s) = v.as_str() {
                data.insert(
                    k,
                    json!(base64::engine::general_purpose::STANDARD.encode(s)),
                );
            }
        }
    }
    if let Some(m) = obj.as_object_mut() {
        default_field(m, "type", json!("Opaque"));
    }
}

/// Validation of a built-in object (`old` is set on updates).
pub fn validate(b: Builtin, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    match b {
        Builtin::Job => {
            let spec = obj.get("spec").cloned().unwrap_or(json!({}));
            match spec.pointer("/template/spec") {
                Some(ps) => validate_pod_spec(
                    ps,
                    "spec.template.spec",
                    &["OnFailure", "Never"],
                    &mut causes,
                ),
                None => causes.push(Cause::new(
                    "FieldValueRequired",
                    "Required value",
                    "spec.template.spec",
                )),
            }
            for (f, min) in [
                ("backoffLimit", 0),
                ("activeDeadlineSeconds", 1),
                ("parallelism", 0),
                ("completions", 0),
                ("ttlSecondsAfterFinished", 0),
            ] {
                if let Some(v) = spec.get(f).and_then(Value::as_i64)
                    && v < min
                {
                    let rel = if min == 0 {
                        "must be greater than or equal to 0"
                    } else {
                        "must be greater than 0"
                    };
                    causes.push(Cause::new(
                        "FieldValueInvalid",
                        format!("Invalid value: {v}: {rel}"),
                        format!("spec.{f}"),
                    ));
                }
            }
            if let Some(old) = old {
                for f in ["template", "selector", "completionMode", "podFailurePolicy"] {
                    if old.pointer(&format!("/spec/{f}")) != spec.get(f) {
                        let shown = if f == "template" || f == "selector" || f == "podFailurePolicy"
                        {
                            "\"object\"".to_string()
                        } else {
                            spec.get(f)
                                .map(Value::to_string)
                                .unwrap_or_else(|| "null".into())
                        };
                        causes.push(Cause::new(
                            "FieldValueInvalid",
                            format!("Invalid value: {shown}: field is immutable"),
                            format!("spec.{f}"),
                        ));
                    }
                }
            }
        }
        Builtin::Pod => {
            let spec = obj.get("spec").cloned().unwrap_or(json!({}));
            validate_pod_spec(
                &spec,
                "spec",
                &["Always", "OnFailure", "Never"],
                &mut causes,
            );
            if let Some(old) = old
                && old.pointer("/spec/containers") != spec.get("containers")
            {
                causes.push(Cause::new(
                    "FieldValueForbidden",
                    "Forbidden: pod updates may not change fields other than `spec.containers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations) or `spec.terminationGracePeriodSeconds`",
                    "spec",
                ));
            }
        }
        Builtin::Secret => {
            if let Some(data) = obj.get("data").and_then(Value::as_object) {
                for (k, v) in data {
                    let ok = v.as_str().is_some_and(|s| {
                        base64::engine::general_purpose::STANDARD.decode(s).is_ok()
                    });
                    if !ok {
                        causes.push(Cause::new(
                            "FieldValueInvalid",
                            "Invalid value: \"<secret contents redacted>\": illegal base64 data",
                            format!("data[{k}]"),
                        ));
                    }
                }
            }
        }
        Builtin::ConfigMap => {
            if let Some(data) = obj.get("data").and_then(Value::as_object) {
                for (k, v) in data {
                    if !v.is_string() {
                        causes.push(Cause::new(
                            "FieldValueTypeInvalid",
                            "Invalid value: must be a string",
                            format!("data[{k}]"),
                        ));
                    }
                }
            }
        }
        Builtin::Crd => {
            let group = obj
                .pointer("/spec/group")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let plural = obj
                .pointer("/spec/names/plural")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let name = crate::api::meta_str(obj, "name").unwrap_or_default();
            if group.is_empty() {
                causes.push(Cause::new(
                    "FieldValueRequired",
                    "Required value",
                    "spec.group",
                ));
            }
            if plural.is_empty() {
                causes.push(Cause::new(
                    "FieldValueRequired",
                    "Required value",
                    "spec.names.plural",
                ));
            }
            if obj
                .pointer("/spec/names/kind")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                causes.push(Cause::new(
                    "FieldValueRequired",
                    "Required value",
                    "spec.names.kind",
                ));
            }
            if name != format!("{plural}.{group}") {
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
                    "metadata.name",
                ));
            }
            let versions = obj.pointer("/spec/versions").and_then(Value::as_array);
            if versions.is_none_or(|v| v.is_empty()) {
                causes.push(Cause::new(
                    "FieldValueRequired",
                    "Required value: must have exactly one version marked as storage version",
                    "spec.versions",
                ));
            }
        }
        Builtin::Service => {
            if let Some(old) = old {
                service::validate_update(obj, old, &mut causes);
            }
        }
        Builtin::RoleBinding => {
            if let Some(old) = old
                && old.get("roleRef") != obj.get("roleRef")
            {
                let r = |k: &str| {
                    obj.pointer(&format!("/roleRef/{k}"))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                causes.push(Cause::new(
                    "FieldValueInvalid",
                    format!(
                        "Invalid value: rbac.RoleRef{{APIGroup:{:?}, Kind:{:?}, Name:{:?}}}: cannot change roleRef",
                        r("apiGroup"),
                        r("kind"),
                        r("name")
                    ),
                    "roleRef",
                ));
            }
        }
        Builtin::Namespace
        | Builtin::Event
        | Builtin::CoreEvent
        | Builtin::Lease
        | Builtin::Node
        | Builtin::Kubernetes
        | Builtin::Review => {}
    }
    causes
}

/// Whether the type carries `metadata.generation` (types with a spec).
pub fn has_generation(ri: &crate::registry::ResourceInfo) -> bool {
    match ri.builtin {
        Some(Builtin::Secret | Builtin::ConfigMap | Builtin::Event | Builtin::CoreEvent) => false,
        // Of the generic kinds, the ones whose strategy counts generations.
        Some(Builtin::Kubernetes | Builtin::Service | Builtin::RoleBinding) => matches!(
            ri.kind.as_str(),
            "Deployment"
                | "ReplicaSet"
                | "StatefulSet"
                | "DaemonSet"
                | "CronJob"
                | "HorizontalPodAutoscaler"
                | "PodDisruptionBudget"
                | "NetworkPolicy"
                | "Ingress"
                | "IngressClass"
                | "ReplicationController"
        ),
        _ => true,
    }
}
