//! Pod specs as the API server defaults and validates them, in Pods and in the
//! pod templates of Jobs and workloads.

use serde_json::{Value, json};

use super::{default_field, ensure_object, obj_mut};
use crate::error::Cause;

/// Container defaults of the API server (visible in `kubectl get -o yaml`).
pub(super) fn default_containers(pod_spec: &mut Value) {
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

pub(super) fn validate_pod_spec(
    spec: &Value,
    path: &str,
    allowed_restart: &[&str],
    causes: &mut Vec<Cause>,
) {
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
pub(super) fn default_requests_to_limits(pod_spec: &mut Value) {
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
pub(super) fn qos_class(pod_spec: &Value) -> &'static str {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtins::prepare_create;
    use crate::registry::Builtin;

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
