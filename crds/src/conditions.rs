//! Status conditions after the Kubernetes API conventions.
//!
//! A condition's `lastTransitionTime` changes only when its `status` changes, and
//! setting a condition to what it already is changes nothing: the operator can
//! recompute conditions on every reconcile without producing writes (and the
//! watch events that would trigger the next reconcile).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The extraction was validated and taken on by the operator.
pub const ACCEPTED: &str = "Accepted";
/// A Job is working on the extraction.
pub const RUNNING: &str = "Running";
/// The extraction finished with a result.
pub const SUCCEEDED: &str = "Succeeded";
/// The extraction finished without a result.
pub const FAILED: &str = "Failed";

/// `status` of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// The desired state of one condition, without its transition time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionUpdate<'a> {
    pub type_: &'a str,
    pub status: ConditionStatus,
    /// CamelCase machine-readable reason (required by the conventions).
    pub reason: &'a str,
    pub message: String,
    pub observed_generation: Option<i64>,
}

/// Sets a condition in `conditions`, keeping `lastTransitionTime` when the status
/// is unchanged. Returns whether anything changed.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    update: ConditionUpdate<'_>,
    now: &Time,
) -> bool {
    let status = update.status.as_str();
    match conditions.iter_mut().find(|c| c.type_ == update.type_) {
        Some(existing) => {
            let transition = existing.status != status;
            let changed = transition
                || existing.reason != update.reason
                || existing.message != update.message
                || existing.observed_generation != update.observed_generation;
            if transition {
                existing.last_transition_time = now.clone();
                existing.status = status.to_owned();
            }
            existing.reason = update.reason.to_owned();
            existing.message = update.message;
            existing.observed_generation = update.observed_generation;
            changed
        }
        None => {
            conditions.push(Condition {
                type_: update.type_.to_owned(),
                status: status.to_owned(),
                reason: update.reason.to_owned(),
                message: update.message,
                observed_generation: update.observed_generation,
                last_transition_time: now.clone(),
            });
            true
        }
    }
}

/// The condition of a type, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of a type is present with status `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == ConditionStatus::True.as_str())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(k8s_openapi::jiff::Timestamp::from_second(1_700_000_000 + seconds).unwrap())
    }

    fn update(status: ConditionStatus, reason: &'static str) -> ConditionUpdate<'static> {
        ConditionUpdate {
            type_: RUNNING,
            status,
            reason,
            message: "m".into(),
            observed_generation: Some(1),
        }
    }

    #[test]
    fn a_new_condition_is_added_with_the_current_time() {
        let mut conditions = Vec::new();
        assert!(set_condition(
            &mut conditions,
            update(ConditionStatus::True, "JobStarted"),
            &at(0)
        ));
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].last_transition_time, at(0));
        assert!(is_true(&conditions, RUNNING));
    }

    #[test]
    fn setting_the_same_condition_again_changes_nothing() {
        let mut conditions = Vec::new();
        set_condition(
            &mut conditions,
            update(ConditionStatus::True, "JobStarted"),
            &at(0),
        );
        let before = conditions.clone();
        assert!(!set_condition(
            &mut conditions,
            update(ConditionStatus::True, "JobStarted"),
            &at(60)
        ));
        assert_eq!(conditions, before);
    }

    #[test]
    fn a_new_reason_keeps_the_transition_time_but_a_new_status_moves_it() {
        let mut conditions = Vec::new();
        set_condition(
            &mut conditions,
            update(ConditionStatus::True, "JobStarted"),
            &at(0),
        );
        assert!(set_condition(
            &mut conditions,
            update(ConditionStatus::True, "Retrying"),
            &at(10)
        ));
        assert_eq!(conditions[0].last_transition_time, at(0));
        assert_eq!(conditions[0].reason, "Retrying");
        assert!(set_condition(
            &mut conditions,
            update(ConditionStatus::False, "JobFinished"),
            &at(20)
        ));
        assert_eq!(conditions[0].last_transition_time, at(20));
        assert!(!is_true(&conditions, RUNNING));
    }
}
