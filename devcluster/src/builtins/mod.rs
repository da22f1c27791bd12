//! Defaulting, validation and conversion of the built-in types pdfx touches.
//! Only the rules pdfx (and kubectl on its objects) can observe are reproduced.

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::error::Cause;
use crate::registry::Builtin;

mod events;
pub mod fields;
pub mod kinds;
mod printers;
pub mod reviews;
pub mod service;

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

/// Container defaults of the API server (visible in `kubectl get -o yaml`).
fn default_containers(pod_spec: &mut Value) {
    for list in ["containers", "initContainers"] {
        if let Some(cs) = pod_spec.get_mut(list).and_then(Value::as_array_mut) {
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                default_field(c, "terminationMessagePath", json!("/dev/termination-log"));
                default_field(c, "terminationMessagePolicy", json!("File"));
                default_field(c, "imagePullPolicy", json!("IfNotPresent"));
            }
        }
    }
    if let Some(m) = pod_spec.as_object_mut() {
        default_field(m, "dnsPolicy", json!("ClusterFirst"));
        default_field(m, "schedulerName", json!("default-scheduler"));
        default_field(m, "terminationGracePeriodSeconds", json!(30));
        default_field(m, "securityContext", json!({}));
    }
}

fn validate_pod_spec(spec: &Value, path: &str, allowed_restart: &[&str], causes: &mut Vec<Cause>) {
    let containers = spec.get("containers").and_then(Value::as_array);
    match containers {
        None => causes.push(Cause::new(
            "FieldValueRequired",
            "Required value",
            format!("{path}.containers"),
        )),
        Some(cs) if cs.is_empty() => causes.push(Cause::new(
            "FieldValueRequired",
            "Required value",
            format!("{path}.containers"),
        )),
        Some(cs) => {
            for (i, c) in cs.iter().enumerate() {
                for field in ["name", "image"] {
                    if c.get(field)
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        causes.push(Cause::new(
                            "FieldValueRequired",
                            "Required value",
                            format!("{path}.containers[{i}].{field}"),
                        ));
                    }
                }
            }
        }
    }
    let rp = spec.get("restartPolicy").and_then(Value::as_str);
    match rp {
        None if !allowed_restart.contains(&"Always") => causes.push(Cause::new(
            "FieldValueRequired",
            format!(
                "Required value: valid values: {}",
                allowed_restart
                    .iter()
                    .map(|s| format!("{s:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!("{path}.restartPolicy"),
        )),
        Some(r) if !allowed_restart.contains(&r) => causes.push(Cause::new(
            "FieldValueNotSupported",
            format!(
                "Unsupported value: {r:?}: supported values: {}",
                allowed_restart
                    .iter()
                    .map(|s| format!("{s:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!("{path}.restartPolicy"),
        )),
        _ => {}
    }
}

/// A container resource with a limit and no request requests its limit. The
/// API server does this for Pods only, not for pod templates (Job specs).
fn default_requests_to_limits(pod_spec: &mut Value) {
    for list in ["containers", "initContainers"] {
        let Some(cs) = pod_spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in cs.iter_mut() {
            let Some(limits) = c
                .pointer("/resources/limits")
                .and_then(Value::as_object)
                .cloned()
            else {
                continue;
            };
            let resources = obj_mut(c, "resources");
            let requests = resources.entry("requests").or_insert_with(|| json!({}));
            let requests = ensure_object(requests);
            for (resource, limit) in limits {
                default_field(requests, &resource, limit);
            }
        }
    }
}

/// The pod's QoS class, as the API server computes it: `Guaranteed` when every
/// container limits CPU and memory and requests (when given) equal the limits,
/// `BestEffort` when none requests or limits anything, else `Burstable`.
fn qos_class(pod_spec: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .filter_map(|list| pod_spec.get(*list).and_then(Value::as_array))
        .flatten()
        .collect();
    let set = |c: &Value, kind: &str, resource: &str| {
        c.pointer(&format!("/resources/{kind}/{resource}"))
            .filter(|v| !v.is_null())
            .cloned()
    };
    let any = containers.iter().any(|c| {
        ["requests", "limits"]
            .iter()
            .any(|k| ["cpu", "memory"].iter().any(|r| set(c, k, r).is_some()))
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = !containers.is_empty()
        && containers.iter().all(|c| {
            ["cpu", "memory"].iter().all(|r| match set(c, "limits", r) {
                Some(limit) => set(c, "requests", r).is_none_or(|req| req == limit),
                None => false,
            })
        });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
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
        Builtin::Kubernetes => default_templates(obj),
        Builtin::Event
        | Builtin::CoreEvent
        | Builtin::Lease
        | Builtin::ConfigMap
        | Builtin::Node
        | Builtin::RoleBinding
        | Builtin::Review => {}
    }
}

/// The container defaults inside the pod templates of workloads (Deployment,
/// StatefulSet, DaemonSet, ReplicaSet, CronJob), which `kubectl diff` shows.
fn default_templates(obj: &mut Value) {
    for p in [
        "/spec/template/spec",
        "/spec/jobTemplate/spec/template/spec",
    ] {
        if let Some(ps) = obj.pointer_mut(p).filter(|v| v.is_object()) {
            default_containers(ps);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_requests_default_to_limits() {
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "uid": "u"},
        "spec": {"containers": [
            {"name": "a", "image": "i", "resources": {"limits": {"memory": "1Gi", "cpu": "1"}, "requests": {"cpu": "500m"}}},
            {"name": "b", "image": "i"}
        ]}});
        prepare_create(Builtin::Pod, &mut pod);
        assert_eq!(
            pod["spec"]["containers"][0]["resources"]["requests"],
            json!({"memory": "1Gi", "cpu": "500m"})
        );
        assert!(pod["spec"]["containers"][1].get("resources").is_none());
        assert_eq!(pod["status"]["qosClass"], "Burstable");
    }

    #[test]
    fn qos_classes_follow_requests_and_limits() {
        let pod = |resources: Value| json!({"containers": [{"name": "c", "resources": resources}]});
        assert_eq!(qos_class(&pod(json!({}))), "BestEffort");
        assert_eq!(
            qos_class(&pod(json!({"limits": {"memory": "1Gi", "cpu": "1"}}))),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&pod(json!({"limits": {"memory": "1Gi", "cpu": "1"},
                                  "requests": {"memory": "1Gi", "cpu": "1"}}))),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&pod(
                json!({"limits": {"memory": "1Gi"}, "requests": {"memory": "1Gi"}})
            )),
            "Burstable"
        );
        assert_eq!(
            qos_class(&pod(json!({"limits": {"memory": "1Gi", "cpu": "1"},
                                  "requests": {"memory": "512Mi", "cpu": "1"}}))),
            "Burstable"
        );
    }
}
