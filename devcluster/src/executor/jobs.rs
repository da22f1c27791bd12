//! The Job controller part of the executor: one pod per Job that needs one,
//! the Job's counters and conditions (`Complete`, `Failed` with
//! `BackoffLimitExceeded` / `DeadlineExceeded` / `PodFailurePolicy`,
//! `Suspended`), and `ttlSecondsAfterFinished`.

use serde_json::{Value, json};

use super::{Executor, PROCESS_FINALIZER};
use crate::api::{DeleteOpts, WriteOpts, now};

fn has_condition(status: &Value, type_: &str) -> bool {
    status["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == type_ && c["status"] == "True")
    })
}

pub(super) fn condition(type_: &str, reason: &str, message: &str, t: &str) -> Value {
    json!({"type": type_, "status": "True", "reason": reason, "message": message,
           "lastProbeTime": t, "lastTransitionTime": t})
}

/// Set condition `type_` to the given status, reason and message (the Job
/// controller's `ensureJobConditionStatus`): an existing condition of that type is
/// replaced when any of them differs; a missing one is added only when True.
/// Returns whether the conditions changed.
fn ensure_condition(
    conditions: &mut Vec<Value>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    t: &str,
) -> bool {
    let mut new = condition(type_, reason, message, t);
    if !status {
        new["status"] = json!("False");
    }
    match conditions.iter_mut().find(|c| c["type"] == type_) {
        Some(c)
            if c["status"] != new["status"] || c["reason"] != reason || c["message"] != message =>
        {
            *c = new;
            true
        }
        Some(_) => false,
        None if status => {
            conditions.push(new);
            true
        }
        None => false,
    }
}

/// The container exit code a pod ended with (None while it has not terminated).
fn pod_exit(pod: &Value) -> Option<(String, i64)> {
    let cs = pod.pointer("/status/containerStatuses/0")?;
    let t = cs.pointer("/state/terminated")?;
    Some((
        cs["name"].as_str().unwrap_or_default().to_string(),
        t["exitCode"].as_i64().unwrap_or(0),
    ))
}

/// Evaluate `podFailurePolicy` over a failed pod: (action, rule index) of the
/// first rule that matches, in order, as the Job controller does. A rule matches
/// on the container's exit code (`onExitCodes`, only when the container
/// terminated) or on a pod condition (`onPodConditions`).
fn match_failure_policy(job: &Value, pod: &Value) -> Option<(String, usize)> {
    let rules = job.pointer("/spec/podFailurePolicy/rules")?.as_array()?;
    let exit = pod_exit(pod);
    let action = |r: &Value| r["action"].as_str().unwrap_or("Count").to_string();
    for (i, r) in rules.iter().enumerate() {
        if let Some(on) = r.get("onExitCodes") {
            let Some((container, code)) = &exit else {
                continue;
            };
            if on["containerName"].as_str().is_some_and(|c| c != container) {
                continue;
            }
            let values: Vec<i64> = on["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_i64)
                .collect();
            let hit = match on["operator"].as_str() {
                Some("In") => values.contains(code),
                Some("NotIn") => !values.contains(code),
                _ => false,
            };
            if hit {
                return Some((action(r), i));
            }
        } else if let Some(patterns) = r.get("onPodConditions").and_then(Value::as_array) {
            let conditions = pod.pointer("/status/conditions").and_then(Value::as_array);
            let hit = patterns.iter().any(|want| {
                conditions.into_iter().flatten().any(|c| {
                    c["type"] == want["type"]
                        && c["status"] == want.get("status").cloned().unwrap_or(json!("True"))
                })
            });
            if hit {
                return Some((action(r), i));
            }
        }
    }
    None
}

pub(super) fn elapsed_since(ts: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
}

impl Executor {
    pub(super) async fn reconcile_job(&mut self, job: &Value, all_pods: &[Value]) {
        let status = job.get("status").cloned().unwrap_or(json!({}));
        let spec = job.get("spec").cloned().unwrap_or(json!({}));
        let uid = crate::api::meta_str(job, "uid").unwrap_or_default();
        let ns = crate::api::meta_str(job, "namespace").unwrap_or_default();
        let name = crate::api::meta_str(job, "name").unwrap_or_default();
        if job.pointer("/metadata/deletionTimestamp").is_some() {
            return;
        }
        let finished = has_condition(&status, "Complete") || has_condition(&status, "Failed");
        if finished {
            // ttlSecondsAfterFinished (the TTL-after-finished controller): once the
            // finishing condition's lastTransitionTime is `ttl` seconds old, delete the
            // Job in the foreground (its pods first) with a UID precondition.
            let finished_at = status["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| {
                    (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True"
                })
                .and_then(|c| c["lastTransitionTime"].as_str());
            if let (Some(ttl), Some(done)) = (spec["ttlSecondsAfterFinished"].as_i64(), finished_at)
                && elapsed_since(done).is_some_and(|e| e >= ttl)
            {
                let opts = DeleteOpts {
                    propagation: Some("Foreground".into()),
                    uid: Some(uid.to_string()),
                    ..DeleteOpts::default()
                };
                match self.server.delete(&self.jobs, ns, name, &opts).await {
                    Ok(_) => tracing::info!(
                        job = name,
                        ttl,
                        "ttlSecondsAfterFinished expired: deleted the job"
                    ),
                    Err(e) => tracing::debug!(job = name, error = %e, "TTL deletion failed"),
                }
            }
            return;
        }
        let pods: Vec<&Value> = all_pods
            .iter()
            .filter(|p| {
                p.pointer("/metadata/labels/batch.kubernetes.io~1controller-uid")
                    .and_then(Value::as_str)
                    == Some(uid)
            })
            .collect();
        let phase = |p: &Value| {
            p.pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("Pending")
                .to_string()
        };
        let active: Vec<&&Value> = pods
            .iter()
            .filter(|p| matches!(phase(p).as_str(), "Pending" | "Running"))
            .collect();
        let succeeded = pods.iter().filter(|p| phase(p) == "Succeeded").count() as i64;
        let failed_pods: Vec<&&Value> = pods.iter().filter(|p| phase(p) == "Failed").collect();
        let suspended = spec["suspend"].as_bool().unwrap_or(false);
        let t = now();
        let mut new_status = json!({
            "active": active.len(), "succeeded": succeeded, "failed": failed_pods.len(),
            "ready": active.iter().filter(|p| phase(p) == "Running").count(), "terminating": 0,
            "uncountedTerminatedPods": {}
        });
        let mut conditions: Vec<Value> =
            status["conditions"].as_array().cloned().unwrap_or_default();
        // The `Suspended` condition: True/JobSuspended while suspended; on resume an
        // existing one turns False/JobResumed and startTime restarts (activeDeadlineSeconds
        // counts continuous activity), as the Job controller does.
        let resumed = if suspended {
            ensure_condition(
                &mut conditions,
                "Suspended",
                true,
                "JobSuspended",
                "Job suspended",
                &t,
            );
            false
        } else {
            ensure_condition(
                &mut conditions,
                "Suspended",
                false,
                "JobResumed",
                "Job resumed",
                &t,
            )
        };
        match status.get("startTime") {
            Some(st) if !resumed => new_status["startTime"] = st.clone(),
            _ if !suspended => new_status["startTime"] = json!(t),
            _ => {}
        }
        let completions = spec["completions"].as_i64().unwrap_or(1);
        let mut fail: Option<(String, String)> = None;
        // podFailurePolicy and backoffLimit over failed pods.
        let mut counted = 0i64;
        for p in &failed_pods {
            let puid = crate::api::meta_str(p, "uid").unwrap_or_default();
            if self.deadline_killed.contains_key(puid) {
                continue;
            }
            match match_failure_policy(job, p) {
                Some((action, idx)) if action == "FailJob" => {
                    let pname = crate::api::meta_str(p, "name").unwrap_or_default();
                    let what = match pod_exit(p) {
                        Some((container, code)) => {
                            format!(
                                "Container {container} for pod {ns}/{pname} failed with exit code {code}"
                            )
                        }
                        None => format!("Pod {ns}/{pname} has a condition"),
                    };
                    fail = Some((
                        "PodFailurePolicy".into(),
                        format!("{what} matching FailJob rule at index {idx}"),
                    ));
                }
                Some((action, _)) if action == "Ignore" => {}
                _ => counted += 1,
            }
        }
        let backoff = spec["backoffLimit"].as_i64().unwrap_or(6);
        if fail.is_none() && counted > backoff {
            fail = Some((
                "BackoffLimitExceeded".into(),
                "Job has reached the specified backoff limit".into(),
            ));
        }
        // A suspended Job is never past its deadline.
        if fail.is_none()
            && !suspended
            && let (Some(ads), Some(st)) = (
                spec["activeDeadlineSeconds"].as_i64(),
                new_status["startTime"].as_str(),
            )
            && elapsed_since(st).is_some_and(|e| e >= ads)
        {
            fail = Some((
                "DeadlineExceeded".into(),
                "Job was active longer than specified deadline".into(),
            ));
        }
        if let Some((reason, message)) = fail {
            for p in &active {
                self.fail_active_pod(p, &reason).await;
            }
            conditions.push(condition("FailureTarget", &reason, &message, &t));
            conditions.push(condition("Failed", &reason, &message, &t));
            new_status["conditions"] = json!(conditions);
            new_status["active"] = json!(0);
            new_status["ready"] = json!(0);
            self.patch_status(&self.jobs, job, new_status).await;
            return;
        }
        if succeeded >= completions {
            conditions.push(condition(
                "SuccessCriteriaMet",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                &t,
            ));
            conditions.push(condition(
                "Complete",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                &t,
            ));
            new_status["conditions"] = json!(conditions);
            new_status["completionTime"] = json!(t);
            self.patch_status(&self.jobs, job, new_status).await;
            return;
        }
        if suspended {
            for p in &active {
                self.fail_active_pod(p, "JobSuspended").await;
            }
            new_status["conditions"] = json!(conditions);
            new_status["active"] = json!(0);
            new_status["ready"] = json!(0);
            self.patch_status(&self.jobs, job, new_status).await;
            return;
        }
        if !conditions.is_empty() {
            new_status["conditions"] = json!(conditions);
        }
        if active.is_empty() {
            self.create_pod(job).await;
        }
        // Merge patches with identical content are no-ops (no RV bump, no event).
        self.patch_status(&self.jobs, job, new_status).await;
    }

    async fn fail_active_pod(&mut self, pod: &Value, reason: &str) {
        let uid = crate::api::meta_string(pod, "uid");
        self.deadline_killed.insert(uid.clone(), reason.to_owned());
        if let Some(rp) = self.running.get_mut(&uid)
            && let Some(k) = rp.kill.take()
        {
            let _ = k.send(());
        } else if !self.running.contains_key(&uid) {
            self.patch_status(&self.pods, pod, json!({"phase": "Failed", "reason": reason, "message": format!("Pod was terminated: {reason}")}))
                .await;
        }
    }

    async fn create_pod(&self, job: &Value) {
        let ns = crate::api::meta_str(job, "namespace").unwrap_or_default();
        let name = crate::api::meta_str(job, "name").unwrap_or_default();
        let uid = crate::api::meta_str(job, "uid").unwrap_or_default();
        let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let mut meta = template.get("metadata").cloned().unwrap_or(json!({}));
        meta["generateName"] = json!(format!("{name}-"));
        meta["ownerReferences"] = json!([{
            "apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid,
            "controller": true, "blockOwnerDeletion": true
        }]);
        // Like a kubelet's graceful deletion: a deleted pod stays (Terminating)
        // until its process has exited, so nobody sees it gone while it still runs.
        meta["finalizers"] = json!([PROCESS_FINALIZER]);
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec").cloned().unwrap_or(json!({}))});
        match self
            .server
            .create(&self.pods, Some(ns), pod, &WriteOpts::default())
            .await
        {
            Ok(p) => {
                let pod = p
                    .pointer("/metadata/name")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default();
                tracing::info!(job = name, pod, "created pod");
            }
            Err(e) => tracing::warn!(job = name, error = %e, "creating a pod failed"),
        }
    }
}
