//! The defaults the API server gives workloads (`SetDefaults_Deployment`, …),
//! visible in `kubectl get -o yaml` and to Helm's and `kubectl diff`'s comparisons.

use serde_json::{Value, json};

use super::pods::default_containers;

/// Fill `defaults` (a JSON object) into `at` where the client left fields unset, recursively.
fn fill(at: &mut Value, defaults: &Value) {
    let (Some(m), Some(d)) = (at.as_object_mut(), defaults.as_object()) else {
        return;
    };
    for (k, v) in d {
        match m.get_mut(k) {
            Some(existing) if !existing.is_null() => {
                if v.is_object() {
                    fill(existing, v);
                }
            }
            _ => {
                m.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Spec defaults of a workload kind, then its pod template's.
pub(super) fn default_workload(obj: &mut Value) {
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let kind = kind.as_str();
    let spec_defaults = match kind {
        "Deployment" => json!({
            "replicas": 1, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
            "strategy": {"type": "RollingUpdate"},
        }),
        "ReplicaSet" | "ReplicationController" => json!({"replicas": 1}),
        "StatefulSet" => json!({
            "replicas": 1, "revisionHistoryLimit": 10, "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate"},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        }),
        "DaemonSet" => json!({
            "revisionHistoryLimit": 10, "updateStrategy": {"type": "RollingUpdate"},
        }),
        "CronJob" => json!({
            "concurrencyPolicy": "Allow", "suspend": false,
            "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1,
        }),
        _ => return,
    };
    if let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) {
        fill(spec, &spec_defaults);
        // Rolling updates get their bounds only when the strategy is RollingUpdate.
        let rolling = match kind {
            "Deployment" => Some((
                "strategy",
                json!({"maxUnavailable": "25%", "maxSurge": "25%"}),
            )),
            "StatefulSet" => Some(("updateStrategy", json!({"partition": 0}))),
            "DaemonSet" => Some((
                "updateStrategy",
                json!({"maxUnavailable": 1, "maxSurge": 0}),
            )),
            _ => None,
        };
        if let Some((field, bounds)) = rolling
            && let Some(strategy) = spec.get_mut(field)
            && strategy.get("type").and_then(Value::as_str) == Some("RollingUpdate")
        {
            fill(strategy, &json!({"rollingUpdate": bounds}));
        }
    }
    for p in [
        "/spec/template/spec",
        "/spec/jobTemplate/spec/template/spec",
    ] {
        if let Some(ps) = obj.pointer_mut(p).filter(|v| v.is_object()) {
            if kind != "CronJob" {
                fill(ps, &json!({"restartPolicy": "Always"}));
            }
            default_containers(ps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_defaults_fill_only_what_is_unset() {
        let mut d = json!({"kind": "Deployment", "spec": {"replicas": 3,
            "strategy": {"rollingUpdate": {"maxUnavailable": 0}},
            "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        default_workload(&mut d);
        let spec = &d["spec"];
        assert_eq!(spec["replicas"], 3);
        assert_eq!(spec["revisionHistoryLimit"], 10);
        assert_eq!(
            spec["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}})
        );
        assert_eq!(spec["template"]["spec"]["restartPolicy"], "Always");
        assert_eq!(
            spec["template"]["spec"]["containers"][0]["terminationMessagePolicy"],
            "File"
        );
        let mut other = json!({"kind": "Role", "rules": []});
        default_workload(&mut other);
        assert_eq!(other, json!({"kind": "Role", "rules": []}));
    }
}
