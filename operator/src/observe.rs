//! What a Job and its Pods say about an attempt, reduced to one value. Pure:
//! the reconciler reads the objects, this decides what they mean.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ContainerStateTerminated, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use pdfx_crd::FailureReason;
use pdfx_crd::runner::{EXIT_INVALID_INPUT, EXIT_SOURCE_UNAVAILABLE, TerminationMessage};

use crate::job::CONTAINER_NAME;

/// Why a pod has not started, as far as the cluster says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitingKind {
    /// The scheduler found no node with room (`PodScheduled=False`, `Unschedulable`).
    Unschedulable,
    /// The kubelet cannot pull the image (`ErrImagePull`, `ImagePullBackOff`, …).
    ImagePull,
    /// Anything else a container waits on (a missing Secret, a bad config…).
    Other,
}

/// A pod's reason for not starting, and the cluster's words for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    pub kind: WaitingKind,
    /// `Reason: message`, as `kubectl describe` would show it.
    pub message: String,
}

/// The state of one attempt's Job.
#[derive(Clone, Debug, PartialEq)]
pub enum JobObservation {
    /// Created; no pod has started the runner yet. `waiting` says why when a
    /// pod reports it (image pull errors, a missing Secret, no node fits).
    Pending {
        waiting: Option<Waiting>,
        /// The Job is suspended (a queue such as Kueue holds it): time spent
        /// so does not count against the start deadline.
        suspended: bool,
        /// When the Job last began to run unsuspended (`status.startTime`,
        /// which Kubernetes resets on resume); the start deadline counts from here.
        since: Option<Time>,
    },
    Running {
        started: Option<Time>,
    },
    Succeeded {
        finished: Option<Time>,
        message: Option<TerminationMessage>,
    },
    Failed {
        finished: Option<Time>,
        reason: FailureReason,
        message: String,
    },
}

fn condition<'a>(
    job: &'a Job,
    type_: &str,
) -> Option<&'a k8s_openapi::api::batch::v1::JobCondition> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

/// The runner container's last termination among the Job's pods (newest pod first).
fn terminated(pods: &[Pod]) -> Option<&ContainerStateTerminated> {
    let mut pods: Vec<&Pod> = pods.iter().collect();
    pods.sort_by_key(|p| std::cmp::Reverse(p.metadata.creation_timestamp.as_ref().map(|t| t.0)));
    pods.into_iter().find_map(|pod| {
        pod.status
            .as_ref()?
            .container_statuses
            .as_ref()?
            .iter()
            .find(|c| c.name == CONTAINER_NAME)?
            .state
            .as_ref()?
            .terminated
            .as_ref()
    })
}

/// Why a runner container ended, from its termination record: the kernel's
/// OOM kill first (the runner cannot report it), then the runner's own
/// termination message, then its exit code.
pub fn failure_of(terminated: &ContainerStateTerminated) -> (FailureReason, String) {
    if terminated.reason.as_deref() == Some("OOMKilled") {
        return (
            FailureReason::OomKilled,
            "the runner was killed for exceeding its memory limit".into(),
        );
    }
    if let Some(TerminationMessage::Failed { reason, message }) = terminated
        .message
        .as_deref()
        .and_then(TerminationMessage::parse)
    {
        return (reason, message);
    }
    let code = terminated.exit_code;
    let detail = terminated
        .message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| {
            let line = m.lines().last().unwrap_or(m);
            format!(": {}", line.chars().take(300).collect::<String>())
        });
    let detail = detail.unwrap_or_default();
    match code {
        EXIT_INVALID_INPUT => (
            FailureReason::InvalidPdf,
            format!("the runner rejected the input (exit code 2){detail}"),
        ),
        EXIT_SOURCE_UNAVAILABLE => (
            FailureReason::SourceNotFound,
            format!("the source could not be read (exit code 3){detail}"),
        ),
        _ => (
            FailureReason::Transient,
            format!("the runner exited with code {code}{detail}"),
        ),
    }
}

/// What the Job and its pods say.
pub fn observe(job: &Job, pods: &[Pod]) -> JobObservation {
    if let Some(complete) = condition(job, "Complete") {
        let message = terminated(pods)
            .and_then(|t| t.message.as_deref())
            .and_then(TerminationMessage::parse);
        return JobObservation::Succeeded {
            finished: complete.last_transition_time.clone(),
            message,
        };
    }
    if let Some(failed) = condition(job, "Failed") {
        let finished = failed.last_transition_time.clone();
        if failed.reason.as_deref() == Some("DeadlineExceeded") {
            let message = failed
                .message
                .clone()
                .unwrap_or_else(|| "the Job ran past its deadline".into());
            return JobObservation::Failed {
                finished,
                reason: FailureReason::DeadlineExceeded,
                message,
            };
        }
        let (reason, message) = match terminated(pods) {
            Some(t) => failure_of(t),
            // The pods are gone (garbage-collected), but the Job says the pod
            // failure policy ended it: exit code 2 or 3, which never retries.
            None if failed.reason.as_deref() == Some("PodFailurePolicy") => {
                let text = failed.message.clone().unwrap_or_default();
                let reason = if text.contains("exit code 3") {
                    FailureReason::SourceNotFound
                } else {
                    FailureReason::InvalidPdf
                };
                (reason, format!("the runner rejected the input: {text}"))
            }
            None => (
                FailureReason::Transient,
                format!(
                    "the Job failed ({}){}",
                    failed.reason.as_deref().unwrap_or("no reason"),
                    failed
                        .message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ),
            ),
        };
        return JobObservation::Failed {
            finished,
            reason,
            message,
        };
    }
    // A terminated container can be seen before the Job controller records the
    // Job's condition; waiting for the condition keeps one source of truth.
    let running = pods.iter().find_map(|p| {
        let status = p.status.as_ref()?;
        (status.phase.as_deref() == Some("Running")).then(|| status.start_time.clone())
    });
    // Until the Job controller has seen a resume, its `Suspended` condition is
    // still True and `startTime` still dates from before the suspension: the
    // time between is not waiting for a pod, so the Job still counts as held.
    let suspended = job.spec.as_ref().and_then(|s| s.suspend).unwrap_or(false)
        || condition(job, "Suspended").is_some();
    let since = job.status.as_ref().and_then(|s| s.start_time.clone());
    match running {
        Some(started) => JobObservation::Running { started },
        None => match waiting_reason(pods) {
            Some(waiting) => JobObservation::Pending {
                waiting: Some(waiting),
                suspended,
                since,
            },
            // Active pods that are all still Pending have not started; an
            // active Job whose pods this read missed is taken at its word.
            None if job.status.as_ref().and_then(|s| s.active).unwrap_or(0) > 0
                && (pods.is_empty()
                    || pods.iter().any(|p| {
                        p.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Pending")
                    })) =>
            {
                JobObservation::Running {
                    started: job.status.as_ref().and_then(|s| s.start_time.clone()),
                }
            }
            None => JobObservation::Pending {
                waiting: None,
                suspended,
                since,
            },
        },
    }
}

fn waiting_kind(reason: &str) -> WaitingKind {
    match reason {
        "ErrImagePull"
        | "ImagePullBackOff"
        | "InvalidImageName"
        | "ErrImageNeverPull"
        | "RegistryUnavailable" => WaitingKind::ImagePull,
        "Unschedulable" => WaitingKind::Unschedulable,
        _ => WaitingKind::Other,
    }
}

/// Why a pod has not started its runner: a container's waiting reason other
/// than the ordinary `ContainerCreating`, or the scheduler's `Unschedulable`.
fn waiting_reason(pods: &[Pod]) -> Option<Waiting> {
    pods.iter().find_map(|pod| {
        let status = pod.status.as_ref()?;
        let container = status.container_statuses.iter().flatten().find_map(|c| {
            let waiting = c.state.as_ref()?.waiting.as_ref()?;
            let reason = waiting.reason.as_deref()?;
            (reason != "ContainerCreating" && reason != "PodInitializing").then(|| Waiting {
                kind: waiting_kind(reason),
                message: format!("{reason}: {}", waiting.message.clone().unwrap_or_default()),
            })
        });
        container.or_else(|| {
            status.conditions.iter().flatten().find_map(|c| {
                (c.type_ == "PodScheduled" && c.status == "False").then(|| {
                    let reason = c.reason.clone().unwrap_or_default();
                    Waiting {
                        kind: waiting_kind(&reason),
                        message: format!("{reason}: {}", c.message.clone().unwrap_or_default()),
                    }
                })
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(conditions: serde_json::Value) -> Job {
        serde_json::from_value(
            json!({"metadata": {"name": "j"}, "status": {"conditions": conditions}}),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn pod(phase: &str, terminated: Option<serde_json::Value>) -> Pod {
        let state = match terminated {
            Some(t) => json!({"terminated": t}),
            None => json!({"running": {}}),
        };
        serde_json::from_value(json!({
            "metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"phase": phase, "startTime": "2026-01-01T00:00:01Z",
                       "containerStatuses": [{"name": "runner", "image": "i", "imageID": "", "ready": false,
                                              "restartCount": 0, "state": state}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn failed_condition(reason: &str) -> serde_json::Value {
        json!([{"type": "Failed", "status": "True", "reason": reason, "lastTransitionTime": "2026-01-01T00:01:00Z"}])
    }

    #[test]
    fn a_fresh_job_is_pending_and_a_running_pod_is_running() {
        assert_eq!(
            observe(&job(json!([])), &[]),
            JobObservation::Pending {
                waiting: None,
                suspended: false,
                since: None
            }
        );
        assert!(matches!(
            observe(&job(json!([])), &[pod("Running", None)]),
            JobObservation::Running { started: Some(_) }
        ));
    }

    #[test]
    fn pods_that_cannot_start_say_why() {
        let stuck: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "status": {"phase": "Pending", "containerStatuses": [{"name": "runner", "image": "i", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"waiting": {"reason": "CreateContainerConfigError", "message": "secret \"pdfx-s3\" not found"}}}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        match observe(&job(json!([])), &[stuck]) {
            JobObservation::Pending {
                waiting: Some(w), ..
            } => {
                assert!(
                    w.message.contains("CreateContainerConfigError")
                        && w.message.contains("pdfx-s3")
                );
                assert_eq!(w.kind, WaitingKind::Other);
            }
            other => panic!("{other:?}"),
        }
        let unschedulable: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes: Insufficient memory"}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(observe(&job(json!([])), &[unschedulable]), JobObservation::Pending { waiting: Some(ref w), .. } if w.message.starts_with("Unschedulable") && w.kind == WaitingKind::Unschedulable)
        );
        let pulling: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "status": {"phase": "Pending", "containerStatuses": [{"name": "runner", "image": "i", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"pdfx/ocr-runner:9\""}}}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(observe(&job(json!([])), &[pulling]), JobObservation::Pending { waiting: Some(ref w), .. } if w.kind == WaitingKind::ImagePull)
        );
    }

    #[test]
    fn a_suspended_job_and_its_start_time_are_reported() {
        let suspended: Job = serde_json::from_value(json!({
            "metadata": {"name": "j"}, "spec": {"suspend": true, "template": {}},
            "status": {"conditions": [{"type": "Suspended", "status": "True"}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            observe(&suspended, &[]),
            JobObservation::Pending {
                suspended: true,
                since: None,
                ..
            }
        ));
        let resumed: Job = serde_json::from_value(json!({
            "metadata": {"name": "j"}, "spec": {"suspend": false, "template": {}},
            "status": {"startTime": "2026-01-01T00:05:00Z", "active": 1}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let unscheduled: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"}, "status": {"phase": "Pending"}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(
                observe(&resumed, &[unscheduled]),
                JobObservation::Pending {
                    suspended: false,
                    since: Some(_),
                    ..
                }
            ),
            "an active Job whose pod is still Pending has not started"
        );
        let resume_not_yet_seen: Job = serde_json::from_value(json!({
            "metadata": {"name": "j"}, "spec": {"suspend": false, "template": {}},
            "status": {"startTime": "2026-01-01T00:00:00Z",
                       "conditions": [{"type": "Suspended", "status": "True"}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(
                observe(&resume_not_yet_seen, &[]),
                JobObservation::Pending {
                    suspended: true,
                    ..
                }
            ),
            "a resume the Job controller has not processed keeps the Job held"
        );
    }

    #[test]
    fn success_carries_the_termination_message() {
        let message = r#"{"outcome":"succeeded","location":"s3://b/r.json","summary":{"pages":2,"ocrPages":1,"textLayerPages":1,"characters":10,"languages":["eng"],"engine":"tesseract","durationMs":5}}"#;
        let complete = json!([{"type": "Complete", "status": "True"}]);
        let observed = observe(
            &job(complete),
            &[pod(
                "Succeeded",
                Some(json!({"exitCode": 0, "message": message})),
            )],
        );
        match observed {
            JobObservation::Succeeded {
                message: Some(TerminationMessage::Succeeded { summary, .. }),
                ..
            } => assert_eq!(summary.pages, 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn oom_kills_are_recognised_whatever_the_exit_code() {
        let t = json!({"exitCode": 137, "reason": "OOMKilled"});
        let observed = observe(
            &job(failed_condition("BackoffLimitExceeded")),
            &[pod("Failed", Some(t))],
        );
        assert!(
            matches!(
                observed,
                JobObservation::Failed {
                    reason: FailureReason::OomKilled,
                    ..
                }
            ),
            "{observed:?}"
        );
    }

    #[test]
    fn the_runner_reason_wins_over_the_exit_code() {
        let t = json!({"exitCode": 2, "reason": "Error", "message": r#"{"outcome":"failed","reason":"EncryptedPdf","message":"needs a password"}"#});
        let observed = observe(
            &job(failed_condition("PodFailurePolicy")),
            &[pod("Failed", Some(t))],
        );
        assert_eq!(
            observed,
            JobObservation::Failed {
                finished: observe_time(),
                reason: FailureReason::EncryptedPdf,
                message: "needs a password".into()
            }
        );
    }

    fn observe_time() -> Option<Time> {
        serde_json::from_value(json!("2026-01-01T00:01:00Z")).ok()
    }

    #[test]
    fn exit_codes_classify_when_there_is_no_message() {
        for (code, reason) in [
            (2, FailureReason::InvalidPdf),
            (3, FailureReason::SourceNotFound),
            (1, FailureReason::Transient),
            (139, FailureReason::Transient),
        ] {
            let observed = observe(
                &job(failed_condition("BackoffLimitExceeded")),
                &[pod("Failed", Some(json!({"exitCode": code})))],
            );
            assert!(
                matches!(observed, JobObservation::Failed { reason: r, .. } if r == reason),
                "{code}: {observed:?}"
            );
        }
    }

    #[test]
    fn deadlines_and_podless_failures() {
        let observed = observe(
            &job(failed_condition("DeadlineExceeded")),
            &[pod("Running", None)],
        );
        assert!(matches!(
            observed,
            JobObservation::Failed {
                reason: FailureReason::DeadlineExceeded,
                ..
            }
        ));
        let observed = observe(&job(failed_condition("BackoffLimitExceeded")), &[]);
        assert!(
            matches!(observed, JobObservation::Failed { reason: FailureReason::Transient, ref message, .. } if message.contains("BackoffLimitExceeded"))
        );
    }
}
