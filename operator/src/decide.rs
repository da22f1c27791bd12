//! The reconciler's decisions as pure functions of observed state: the next
//! status of an extraction, the Job to create, the retry policy and admission.
//! Everything the cluster and storage said comes in as plain values, so every
//! transition is unit-tested without a cluster.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;
use pdfx_crd::conditions::{self, ConditionStatus, ConditionUpdate, set_condition};
use pdfx_crd::result::ProgressDocument;
use pdfx_crd::runner::TerminationMessage;
use pdfx_crd::{
    Attempt, AttemptOutcome, ExtractionError, FailureReason, OcrEngine, PdfExtraction,
    PdfExtractionStatus, Phase, Progress, ResultSummary,
};

use pdfx_crd::reasons::{Reason, RetryPolicy};
use pdfx_crd::runner::RunnerOptions;
use pdfx_runtime::quantity;
use pdfx_storage::StorageUri;

use crate::config::OperatorConfig;
use crate::job::{self, job_name};
use crate::observe::{JobObservation, WaitingKind};

/// `10m`, `90s`, `1h5m`: a duration as people write it.
fn humanize(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let mut text = String::new();
    if h > 0 {
        text.push_str(&format!("{h}h"));
    }
    if m > 0 {
        text.push_str(&format!("{m}m"));
    }
    if s > 0 || text.is_empty() {
        text.push_str(&format!("{s}s"));
    }
    text
}

/// What the reconciler should do besides writing the status.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Nothing,
    /// Create (if absent) the Job of this attempt.
    CreateJob {
        attempt: u32,
        memory: Quantity,
    },
    /// The TTL after finishing has passed: delete the resource (the finalizer cleans up).
    DeleteResource,
}

/// A Kubernetes Event to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSpec {
    pub warning: bool,
    pub reason: Reason,
    pub note: String,
}

/// The outcome of one reconcile decision.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The status the resource should have; written only if it differs.
    pub status: PdfExtractionStatus,
    /// A Job to delete after the status is written: the Job of an attempt
    /// ended because its pod never started (it must not start later).
    pub delete_job: Option<String>,
    pub action: Action,
    pub events: Vec<EventSpec>,
    /// When to look again even if nothing changes.
    pub requeue: Option<Duration>,
}

/// Whether a slot was granted to start an attempt (see [`admit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Granted,
    Denied { running: usize },
}

/// Everything observed about one extraction.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    pub resource: &'a PdfExtraction,
    /// The current attempt's Job, if it exists.
    pub job: Option<JobObservation>,
    /// `progress.json`, when it was read this time.
    pub progress: Option<ProgressDocument>,
    /// `result.json`'s summary, read when a succeeded Job left no termination message.
    pub stored_result: Option<ResultSummary>,
    /// Where `result.json` is, computed by the operator from the output layout.
    /// The runner parses untrusted PDFs, so the location it reports is not used.
    pub result_location: Option<String>,
    pub admission: Admission,
    /// The spec as [`validate`] found it, once for this reconcile. Only a
    /// first attempt depends on it: a later change of the operator's settings
    /// must not fail extractions that were accepted.
    pub validated: Result<&'a ValidatedExtraction, &'a str>,
    /// The Job of the last attempt when that attempt was ended for not
    /// starting and the Job is still there.
    pub abandoned_job: Option<String>,
    /// Allocatable memory of the largest node, in bytes, when known: memory
    /// escalation never asks for more.
    pub node_memory: Option<u64>,
    pub now: Timestamp,
}

/// Queued and waiting extractions look again this often (a slot may have freed).
pub const QUEUE_POLL: Duration = Duration::from_secs(5);

/// Wait before attempt `next` (2, 3, …) after a transient failure:
/// `base × 2^(next − 2)`, at most `max`.
pub fn backoff(next_attempt: u32, base: Duration, max: Duration) -> Duration {
    let doublings = next_attempt.saturating_sub(2).min(20);
    base.saturating_mul(1u32 << doublings).min(max)
}

/// A spec checked against the operator's rules, with everything the Job of
/// an attempt needs resolved: computed once per reconcile and handed on.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedExtraction {
    /// Where the runner writes (the spec's output or the default prefix).
    pub output: StorageUri,
    /// Memory of the first attempt: the spec's, else the operator's default.
    pub first_memory: Quantity,
    /// CPU of every attempt.
    pub cpu: Quantity,
    /// The runner's options, carried as its environment.
    pub runner: RunnerOptions,
}

/// Spec problems the schema cannot catch; `Err` fails the extraction at once.
///
/// The operator's bucket is shared by every namespace, so an extraction may
/// only read uploads and write results under its own namespace's prefix
/// there (`extractions/<namespace>/`): otherwise one tenant could read, or by
/// deleting its resource delete, another tenant's objects.
pub fn validate(
    resource: &PdfExtraction,
    config: &OperatorConfig,
) -> Result<ValidatedExtraction, String> {
    let namespace = resource.namespace().unwrap_or_default();
    let own = format!("extractions/{namespace}/");
    if let pdfx_crd::Source::Storage(object) = &resource.spec.source
        && (!object.key.starts_with(&own)
            || object.key.split('/').any(|s| s == ".." || s.is_empty()))
    {
        return Err(format!(
            "spec.source.storage.key must lie under {own} (the namespace's own uploads)"
        ));
    }
    if let Some(output) = &resource.spec.output {
        let prefix = pdfx_crd::layout::normalize_prefix(&output.s3.prefix);
        if prefix.is_empty() {
            return Err(
                "spec.output.s3.prefix must not be empty: the results need a prefix of their own"
                    .into(),
            );
        }
        if let Some((bucket, base)) = config.storage_bucket()
            && output.s3.bucket == bucket
            && !prefix.starts_with(&format!("{base}{own}"))
        {
            return Err(format!(
                "in the operator's bucket, spec.output.s3.prefix must lie under {base}{own}"
            ));
        }
    }
    let ocr_endpoint = match resource.spec.ocr.engine {
        OcrEngine::Http => Some(config.ocr_endpoint.clone().ok_or_else(|| {
            "spec.ocr.engine is http, but this operator has no OCR server configured".to_owned()
        })?),
        OcrEngine::Tesseract => None,
    };
    let resources = resource.spec.resources.as_ref();
    let first_memory = match resources.and_then(|r| r.memory.as_ref()) {
        Some(memory) => {
            let bytes =
                quantity::bytes(memory).map_err(|e| format!("spec.resources.memory: {e}"))?;
            if bytes > config.max_memory.bytes() {
                return Err(format!(
                    "spec.resources.memory {} is above the allowed maximum {}",
                    memory.0, config.max_memory
                ));
            }
            if bytes < 64 << 20 {
                return Err(format!(
                    "spec.resources.memory {} is below the 64Mi a runner needs",
                    memory.0
                ));
            }
            memory.clone()
        }
        None => config.default_memory.quantity().clone(),
    };
    let cpu = match resources.and_then(|r| r.cpu.as_ref()) {
        Some(cpu) => {
            quantity::millicores(cpu).map_err(|e| format!("spec.resources.cpu: {e}"))?;
            cpu.clone()
        }
        None => config.default_cpu.quantity().clone(),
    };
    if let Some(pages) = &resource.spec.ocr.pages {
        pdfx_crd::PageRange::parse(pages).map_err(|e| e.to_string())?;
    }
    let output = job::output_location(resource, config).map_err(|e| e.to_string())?;
    let mut runner = job::runner_options(resource, config).map_err(|e| e.to_string())?;
    runner.ocr_endpoint = ocr_endpoint;
    Ok(ValidatedExtraction {
        output,
        first_memory,
        cpu,
        runner,
    })
}

/// Whether this reconcile would start an attempt if a slot were free; the
/// caller asks for admission only then (and only for a valid spec: see
/// [`validate`], whose outcome the caller keeps per resource).
pub fn needs_slot(resource: &PdfExtraction, now: Timestamp, config: &OperatorConfig) -> bool {
    if resource.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let status = resource.status.clone().unwrap_or_default();
    if status.phase.is_some_and(Phase::is_terminal) {
        return false;
    }
    match status.attempts.last() {
        None => true,
        Some(last) => {
            last.outcome == AttemptOutcome::Failed && retry_due(last, now, config).is_none()
        }
    }
}

/// `None` when the retry after `last` may start now, else how long to wait.
fn retry_due(last: &Attempt, now: Timestamp, config: &OperatorConfig) -> Option<Duration> {
    if last.reason == Some(FailureReason::OomKilled) {
        // More memory, not more time, is what an OOM retry needs.
        return None;
    }
    let wait = backoff(
        last.number + 1,
        config.retry_backoff,
        config.retry_backoff_max,
    );
    let ended = last.end_time.as_ref().map_or(now, |t| t.0);
    let due = ended
        .checked_add(SignedDuration::try_from(wait).unwrap_or(SignedDuration::MAX))
        .unwrap_or(Timestamp::MAX);
    (now < due).then(|| Duration::try_from(due.duration_since(now)).unwrap_or_default())
}

/// How an attempt's failure is handled.
#[derive(Clone, Debug, PartialEq)]
pub enum RetryDecision {
    Retry {
        memory: Quantity,
        after: Duration,
    },
    Fail {
        reason: FailureReason,
        message: String,
    },
}

/// The retry policy: OOM kills retry with more memory until the cap; other
/// transient failures retry with backoff until `max_attempts`; invalid input,
/// missing sources and deadlines fail at once.
pub fn retry_decision(
    attempt: &Attempt,
    reason: FailureReason,
    message: &str,
    config: &OperatorConfig,
    node_memory: Option<u64>,
) -> RetryDecision {
    let memory = attempt
        .memory_limit
        .clone()
        .unwrap_or_else(|| config.default_memory.quantity().clone());
    match reason.retry_policy() {
        RetryPolicy::WithMoreMemory if attempt.number >= config.max_oom_attempts => {
            RetryDecision::Fail {
                reason,
                message: format!(
                    "the runner ran out of memory in each of {} attempts (last limit {})",
                    attempt.number, memory.0
                ),
            }
        }
        RetryPolicy::WithMoreMemory => {
            // No pod may ask for more than the largest node can give: it would never start.
            let node_cap = node_memory.filter(|&node| node < config.max_memory.bytes());
            let cap = match node_cap {
                Some(node) => quantity::from_bytes(node),
                None => config.max_memory.quantity().clone(),
            };
            match quantity::escalate_memory(&memory, config.oom_memory_factor, &cap) {
                Ok(Some(more)) => RetryDecision::Retry {
                    memory: more,
                    after: Duration::ZERO,
                },
                Ok(None) => RetryDecision::Fail {
                    reason,
                    message: match node_cap {
                        Some(_) => format!(
                            "the runner ran out of memory at {}, and no node can give more (largest allocatable: {}; {} attempt(s))",
                            memory.0, cap.0, attempt.number
                        ),
                        None => format!(
                            "the runner ran out of memory at {}, the largest limit allowed ({} attempt(s))",
                            memory.0, attempt.number
                        ),
                    },
                },
                Err(e) => RetryDecision::Fail {
                    reason: FailureReason::InvalidSpec,
                    message: e.to_string(),
                },
            }
        }
        RetryPolicy::WithBackoff if attempt.number < config.max_attempts => RetryDecision::Retry {
            memory,
            after: backoff(
                attempt.number + 1,
                config.retry_backoff,
                config.retry_backoff_max,
            ),
        },
        // A pod that never started keeps its reason: it says what to fix.
        RetryPolicy::WithBackoff if reason != FailureReason::Transient => RetryDecision::Fail {
            reason,
            message: format!(
                "{message} ({} attempt(s), the last of the allowed {})",
                attempt.number, config.max_attempts
            ),
        },
        RetryPolicy::WithBackoff => RetryDecision::Fail {
            reason: FailureReason::RetriesExhausted,
            message: format!("{} attempt(s) failed; the last: {message}", attempt.number),
        },
        RetryPolicy::Never => RetryDecision::Fail {
            reason,
            message: message.to_owned(),
        },
    }
}

struct Builder<'a> {
    status: PdfExtractionStatus,
    generation: Option<i64>,
    now: Time,
    events: Vec<EventSpec>,
    delete_job: Option<String>,
    node_memory: Option<u64>,
    action: Action,
    requeue: Option<Duration>,
    config: &'a OperatorConfig,
    name: String,
}

impl Builder<'_> {
    fn condition(
        &mut self,
        type_: &'static str,
        status: ConditionStatus,
        reason: Reason,
        message: String,
    ) {
        let update = ConditionUpdate {
            type_,
            status,
            reason: reason.as_str(),
            message,
            observed_generation: self.generation,
        };
        set_condition(&mut self.status.conditions, update, &self.now);
    }

    fn event(&mut self, warning: bool, reason: Reason, note: String) {
        self.events.push(EventSpec {
            warning,
            reason,
            note,
        });
    }

    fn requeue(&mut self, after: Duration) {
        self.requeue = Some(self.requeue.map_or(after, |r| r.min(after)));
    }

    fn accept(&mut self) {
        if !conditions::is_true(&self.status.conditions, conditions::ACCEPTED) {
            self.event(
                false,
                Reason::Accepted,
                "the extraction was accepted".into(),
            );
        }
        self.condition(
            conditions::ACCEPTED,
            ConditionStatus::True,
            Reason::Accepted,
            "the spec is valid".into(),
        );
    }

    fn start_attempt(&mut self, number: u32, memory: Quantity) {
        let job = job_name(&self.name, number);
        self.status.attempts.push(Attempt {
            number,
            job_name: job.clone(),
            memory_limit: Some(memory.clone()),
            start_time: Some(self.now.clone()),
            end_time: None,
            outcome: AttemptOutcome::Running,
            reason: None,
            message: None,
        });
        self.status.current_attempt = Some(number);
        self.status.job_name = Some(job.clone());
        self.status.phase = Some(Phase::Running);
        if self.status.start_time.is_none() {
            self.status.start_time = Some(self.now.clone());
        }
        self.condition(
            conditions::RUNNING,
            ConditionStatus::True,
            Reason::JobCreated,
            format!("attempt {number}: Job {job}, memory {}", memory.0),
        );
        self.event(
            false,
            Reason::Started,
            format!(
                "attempt {number} started as Job {job} with memory limit {}",
                memory.0
            ),
        );
        self.action = Action::CreateJob {
            attempt: number,
            memory,
        };
        self.requeue(self.config.progress_interval);
    }

    fn fail(&mut self, reason: FailureReason, message: String) {
        self.status.phase = Some(Phase::Failed);
        self.status.completion_time = Some(self.now.clone());
        self.status.error = Some(ExtractionError {
            reason,
            message: message.clone(),
        });
        self.condition(
            conditions::RUNNING,
            ConditionStatus::False,
            Reason::Finished,
            String::new(),
        );
        self.condition(
            conditions::FAILED,
            ConditionStatus::True,
            Reason::Failed(reason),
            message.clone(),
        );
        self.event(true, Reason::Failed(reason), message.clone());
    }

    fn queue(&mut self, running: usize) {
        if self.status.phase != Some(Phase::Queued) {
            self.event(
                false,
                Reason::Queued,
                format!(
                    "waiting for a free slot: {running} of {} running",
                    self.config.max_concurrent_jobs
                ),
            );
        }
        self.status.phase = Some(Phase::Queued);
        self.requeue(QUEUE_POLL);
    }
}

/// The next status and action of an extraction.
pub fn plan(observed: &Observed<'_>, config: &OperatorConfig) -> Plan {
    let resource = observed.resource;
    let mut b = Builder {
        status: resource.status.clone().unwrap_or_default(),
        generation: resource.metadata.generation,
        now: Time(observed.now),
        events: Vec::new(),
        delete_job: observed.abandoned_job.clone(),
        node_memory: observed.node_memory,
        action: Action::Nothing,
        requeue: None,
        config,
        name: resource.name_any(),
    };
    b.status.observed_generation = resource.metadata.generation;

    if b.status.phase.is_some_and(Phase::is_terminal) {
        if let (Some(ttl), Some(done)) = (
            resource.spec.ttl_seconds_after_finished,
            &b.status.completion_time,
        ) {
            let expires = done
                .0
                .checked_add(SignedDuration::from_secs(ttl.max(0)))
                .unwrap_or(Timestamp::MAX);
            if observed.now >= expires {
                b.action = Action::DeleteResource;
            } else {
                b.requeue(
                    Duration::try_from(expires.duration_since(observed.now)).unwrap_or_default(),
                );
            }
        }
        return finish(b);
    }

    // Validated once, before the first attempt: a later change of the
    // operator's settings must not fail extractions that were accepted.
    let first_memory = match observed.validated {
        Ok(validated) => validated.first_memory.clone(),
        Err(message) if b.status.attempts.is_empty() => {
            let message = message.to_owned();
            b.condition(
                conditions::ACCEPTED,
                ConditionStatus::False,
                Reason::Failed(FailureReason::InvalidSpec),
                message.clone(),
            );
            b.fail(FailureReason::InvalidSpec, message);
            return finish(b);
        }
        Err(_) => config.default_memory.quantity().clone(),
    };
    b.accept();

    let last = b.status.attempts.last().cloned();
    match last {
        None => match observed.admission {
            Admission::Granted => b.start_attempt(1, first_memory),
            Admission::Denied { running } => b.queue(running),
        },
        Some(attempt) if attempt.outcome == AttemptOutcome::Running => {
            running_attempt(&mut b, observed, attempt)
        }
        Some(attempt) if attempt.outcome == AttemptOutcome::Failed => {
            match retry_due(&attempt, observed.now, config) {
                Some(wait) => b.requeue(wait),
                None => match observed.admission {
                    Admission::Granted => {
                        let reason = attempt.reason.unwrap_or(FailureReason::Transient);
                        let message = attempt.message.clone().unwrap_or_default();
                        match retry_decision(&attempt, reason, &message, config, b.node_memory) {
                            // The ended attempt's Job goes before the next one starts.
                            RetryDecision::Retry { .. } if b.delete_job.is_some() => {
                                b.requeue(Duration::from_secs(1))
                            }
                            RetryDecision::Retry { memory, .. } => {
                                b.start_attempt(attempt.number + 1, memory)
                            }
                            RetryDecision::Fail { reason, message } => b.fail(reason, message),
                        }
                    }
                    Admission::Denied { running } => {
                        b.condition(
                            conditions::RUNNING,
                            ConditionStatus::True,
                            Reason::WaitingForSlot,
                            format!(
                                "attempt {} waits for a free slot: {running} of {} running",
                                attempt.number + 1,
                                config.max_concurrent_jobs
                            ),
                        );
                        b.requeue(QUEUE_POLL);
                    }
                },
            }
        }
        // The last attempt succeeded but the phase says otherwise: an interrupted write.
        Some(_) => b.status.phase = Some(Phase::Succeeded),
    }
    finish(b)
}

fn running_attempt(b: &mut Builder<'_>, observed: &Observed<'_>, attempt: Attempt) {
    let index = b.status.attempts.len() - 1;
    b.status.phase = Some(Phase::Running);
    match &observed.job {
        None => {
            // Not created yet (or deleted behind our back): create it; creating is idempotent.
            let memory = attempt
                .memory_limit
                .clone()
                .unwrap_or_else(|| b.config.default_memory.quantity().clone());
            b.action = Action::CreateJob {
                attempt: attempt.number,
                memory,
            };
            b.requeue(b.config.progress_interval);
        }
        Some(JobObservation::Pending {
            waiting,
            suspended,
            since,
        }) => {
            if *suspended {
                b.condition(
                    conditions::RUNNING,
                    ConditionStatus::True,
                    Reason::JobSuspended,
                    format!(
                        "attempt {}: the Job is suspended, waiting for its queue to admit it",
                        attempt.number
                    ),
                );
                b.requeue(b.config.progress_interval);
                return;
            }
            // The deadline counts from when the Job last began to run unsuspended.
            let waiting_since = since
                .as_ref()
                .or(attempt.start_time.as_ref())
                .map_or(observed.now, |t| t.0);
            let waited =
                Duration::try_from(observed.now.duration_since(waiting_since)).unwrap_or_default();
            if waited >= b.config.pod_start_timeout {
                let (reason, cause) = match waiting {
                    Some(w) => (
                        match w.kind {
                            WaitingKind::Unschedulable => FailureReason::Unschedulable,
                            WaitingKind::ImagePull => FailureReason::ImagePullFailed,
                            WaitingKind::Other => FailureReason::StartTimeout,
                        },
                        w.message.clone(),
                    ),
                    None => (
                        FailureReason::StartTimeout,
                        "no pod of the Job reported a reason".to_owned(),
                    ),
                };
                let message = format!(
                    "the runner's pod did not start within {}: {cause}",
                    humanize(b.config.pod_start_timeout)
                );
                b.delete_job = Some(attempt.job_name.clone());
                attempt_failed(b, index, None, reason, message);
                return;
            }
            if let Some(waiting) = waiting {
                b.condition(
                    conditions::RUNNING,
                    ConditionStatus::True,
                    Reason::JobPending,
                    format!(
                        "attempt {}: the pod cannot start yet: {}",
                        attempt.number, waiting.message
                    ),
                );
            }
            let left = b.config.pod_start_timeout.saturating_sub(waited);
            b.requeue(
                b.config
                    .progress_interval
                    .min(left.max(Duration::from_millis(100))),
            );
        }
        Some(JobObservation::Running { .. }) => {
            if let Some(progress) = &observed.progress {
                b.status.progress = Some(Progress::new(progress.pages_done, progress.pages_total));
            }
            b.condition(
                conditions::RUNNING,
                ConditionStatus::True,
                Reason::JobRunning,
                format!(
                    "attempt {}: Job {} is running",
                    attempt.number, attempt.job_name
                ),
            );
            b.requeue(b.config.progress_interval);
        }
        Some(JobObservation::Succeeded { finished, message }) => {
            let summary = match message {
                Some(TerminationMessage::Succeeded { location, summary }) => Some(
                    summary.to_status(
                        observed
                            .result_location
                            .clone()
                            .unwrap_or_else(|| location.clone()),
                    ),
                ),
                _ => observed.stored_result.clone(),
            };
            let Some(summary) = summary else {
                attempt_failed(
                    b,
                    index,
                    finished.clone(),
                    FailureReason::Transient,
                    "the runner finished but left no result".into(),
                );
                return;
            };
            let slot = &mut b.status.attempts[index];
            slot.outcome = AttemptOutcome::Succeeded;
            slot.end_time = Some(finished.clone().unwrap_or_else(|| b.now.clone()));
            b.status.phase = Some(Phase::Succeeded);
            b.status.completion_time = Some(b.now.clone());
            b.status.progress = Some(Progress::new(summary.pages, summary.pages));
            b.status.error = None;
            let note = format!(
                "{} page(s): {} by OCR, {} from text layers",
                summary.pages, summary.ocr_pages, summary.text_layer_pages
            );
            b.status.result = Some(summary);
            b.condition(
                conditions::RUNNING,
                ConditionStatus::False,
                Reason::Finished,
                String::new(),
            );
            b.condition(
                conditions::SUCCEEDED,
                ConditionStatus::True,
                Reason::Completed,
                note.clone(),
            );
            b.event(false, Reason::Succeeded, note);
        }
        Some(JobObservation::Failed {
            finished,
            reason,
            message,
        }) => {
            attempt_failed(b, index, finished.clone(), *reason, message.clone());
        }
    }
}

fn attempt_failed(
    b: &mut Builder<'_>,
    index: usize,
    finished: Option<Time>,
    reason: FailureReason,
    message: String,
) {
    let slot = &mut b.status.attempts[index];
    slot.outcome = AttemptOutcome::Failed;
    slot.end_time = Some(finished.unwrap_or_else(|| b.now.clone()));
    slot.reason = Some(reason);
    slot.message = Some(message.clone());
    let attempt = slot.clone();
    match retry_decision(&attempt, reason, &message, b.config, b.node_memory) {
        RetryDecision::Retry { memory, after } => {
            let next = attempt.number + 1;
            let detail = if reason == FailureReason::OomKilled {
                format!(
                    "attempt {} was killed for exceeding {}; attempt {next} gets {}",
                    attempt.number,
                    attempt.memory_limit.map(|m| m.0).unwrap_or_default(),
                    memory.0
                )
            } else {
                format!(
                    "attempt {} failed ({reason}: {message}); attempt {next} in {}s",
                    attempt.number,
                    after.as_secs()
                )
            };
            b.condition(
                conditions::RUNNING,
                ConditionStatus::True,
                Reason::Retrying,
                detail.clone(),
            );
            b.event(true, Reason::Retrying, detail);
            b.requeue(after.max(Duration::from_millis(100)));
        }
        RetryDecision::Fail { reason, message } => b.fail(reason, message),
    }
}

fn finish(b: Builder<'_>) -> Plan {
    Plan {
        status: b.status,
        delete_job: b.delete_job,
        action: b.action,
        events: b.events,
        requeue: b.requeue,
    }
}

/// An extraction as admission sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// `namespace/name`.
    pub key: String,
    pub created: Option<Timestamp>,
    pub holds_slot: bool,
    pub wants_slot: bool,
}

/// Whether `key` may start an attempt now: fewer than `max` slots are held,
/// and `key` is among the oldest waiting candidates that fit in the free slots.
pub fn admit(candidates: &[Candidate], key: &str, max: usize) -> Admission {
    let running = candidates.iter().filter(|c| c.holds_slot).count();
    let free = max.saturating_sub(running);
    let mut waiting: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.wants_slot && !c.holds_slot)
        .collect();
    waiting.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.key.cmp(&b.key)));
    match waiting.iter().position(|c| c.key == key) {
        Some(rank) if rank < free => Admission::Granted,
        _ => Admission::Denied { running },
    }
}

/// Whether an extraction's current attempt occupies a slot.
pub fn holds_slot(resource: &PdfExtraction) -> bool {
    let status = resource.status.as_ref();
    !status.and_then(|s| s.phase).is_some_and(Phase::is_terminal)
        && status
            .and_then(|s| s.attempts.last())
            .is_some_and(|a| a.outcome == AttemptOutcome::Running)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pdfx_crd::result::Summary;
    use pdfx_crd::{OcrOptions, PdfExtractionSpec, RunnerResources, Source, StorageObject};

    fn config() -> OperatorConfig {
        let mut c = OperatorConfig::new("runner:test", "s3://pdfx".parse().unwrap());
        c.default_memory = "512Mi".parse().unwrap();
        c.max_memory = "2Gi".parse().unwrap();
        c.max_attempts = 3;
        c.retry_backoff = Duration::from_secs(10);
        c.retry_backoff_max = Duration::from_secs(60);
        c.max_concurrent_jobs = 2;
        c
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn resource() -> PdfExtraction {
        let mut r = PdfExtraction::new(
            "doc",
            PdfExtractionSpec {
                source: Source::Storage(StorageObject {
                    key: "extractions/ns/doc/source.pdf".into(),
                }),
                output: None,
                ocr: OcrOptions::default(),
                resources: None,
                ttl_seconds_after_finished: None,
            },
        );
        r.metadata.namespace = Some("ns".into());
        r.metadata.uid = Some("uid-1".into());
        r.metadata.generation = Some(1);
        r
    }

    fn observed<'a>(
        r: &'a PdfExtraction,
        job: Option<JobObservation>,
        now: Timestamp,
    ) -> Observed<'a> {
        // Each reconcile validates once; a test leaks its few results.
        let validated = Box::leak(Box::new(validate(r, &config())));
        Observed {
            resource: r,
            job,
            progress: None,
            stored_result: None,
            result_location: None,
            admission: Admission::Granted,
            validated: validated.as_ref().map_err(String::as_str),
            abandoned_job: None,
            node_memory: None,
            now,
        }
    }

    /// Applies a plan's status to the resource, as the reconciler's write would.
    fn apply(r: &mut PdfExtraction, plan: &Plan) {
        r.status = Some(plan.status.clone());
    }

    fn success_message() -> TerminationMessage {
        TerminationMessage::Succeeded {
            location: "s3://pdfx/extractions/ns/doc/result.json".into(),
            summary: Summary {
                pages: 4,
                ocr_pages: 3,
                text_layer_pages: 1,
                characters: 100,
                ..Summary::default()
            },
        }
    }

    fn failed(reason: FailureReason) -> Option<JobObservation> {
        Some(JobObservation::Failed {
            finished: Some(Time(at(20))),
            reason,
            message: format!("{reason} happened"),
        })
    }

    #[test]
    fn a_new_extraction_with_a_slot_starts_attempt_one() {
        let r = resource();
        let plan = plan(&observed(&r, None, at(0)), &config());
        assert_eq!(
            plan.action,
            Action::CreateJob {
                attempt: 1,
                memory: Quantity("512Mi".into())
            }
        );
        let s = &plan.status;
        assert_eq!(s.phase, Some(Phase::Running));
        assert_eq!(s.current_attempt, Some(1));
        assert_eq!(s.job_name.as_deref(), Some("doc-1"));
        assert_eq!(s.attempts.len(), 1);
        assert_eq!(s.observed_generation, Some(1));
        assert!(conditions::is_true(&s.conditions, conditions::ACCEPTED));
        assert!(conditions::is_true(&s.conditions, conditions::RUNNING));
        let reasons: Vec<&str> = plan.events.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, ["Accepted", "Started"]);
    }

    #[test]
    fn the_spec_memory_is_used_for_the_first_attempt() {
        let mut r = resource();
        r.spec.resources = Some(RunnerResources {
            memory: Some(Quantity("768Mi".into())),
            cpu: None,
        });
        let plan = plan(&observed(&r, None, at(0)), &config());
        assert_eq!(
            plan.action,
            Action::CreateJob {
                attempt: 1,
                memory: Quantity("768Mi".into())
            }
        );
    }

    #[test]
    fn without_a_slot_it_queues_once_and_polls() {
        let mut r = resource();
        let mut obs = observed(&r, None, at(0));
        obs.admission = Admission::Denied { running: 2 };
        let first = plan(&obs, &config());
        assert_eq!(first.status.phase, Some(Phase::Queued));
        assert_eq!(first.action, Action::Nothing);
        assert_eq!(first.requeue, Some(QUEUE_POLL));
        assert!(first.events.iter().any(|e| e.reason.as_str() == "Queued"));
        apply(&mut r, &first);
        let mut obs = observed(&r, None, at(5));
        obs.admission = Admission::Denied { running: 2 };
        let second = plan(&obs, &config());
        assert_eq!(
            second.status,
            r.status.clone().unwrap_or_default(),
            "a second look changes nothing"
        );
        assert!(second.events.is_empty());
    }

    #[test]
    fn running_mirrors_progress_and_is_idempotent() {
        let mut r = resource();
        let started = plan(&observed(&r, None, at(0)), &config());
        apply(&mut r, &started);
        let mut obs = observed(&r, Some(JobObservation::Running { started: None }), at(3));
        obs.progress = Some(ProgressDocument {
            pages_total: 8,
            pages_done: 2,
            updated_at: String::new(),
        });
        let running = plan(&obs, &config());
        assert_eq!(running.status.progress, Some(Progress::new(2, 8)));
        assert_eq!(running.action, Action::Nothing);
        apply(&mut r, &running);
        let again = plan(
            &observed(&r, Some(JobObservation::Running { started: None }), at(9)),
            &config(),
        );
        assert_eq!(again.status, r.status.clone().unwrap_or_default());
        assert!(again.events.is_empty());
    }

    #[test]
    fn a_missing_job_of_a_running_attempt_is_recreated() {
        let mut r = resource();
        let p = plan(&observed(&r, None, at(0)), &config());
        apply(&mut r, &p);
        let again = plan(&observed(&r, None, at(1)), &config());
        assert_eq!(
            again.action,
            Action::CreateJob {
                attempt: 1,
                memory: Quantity("512Mi".into())
            }
        );
        assert_eq!(again.status.attempts.len(), 1, "no new attempt");
    }

    #[test]
    fn success_records_the_summary() {
        let mut r = resource();
        let p = plan(&observed(&r, None, at(0)), &config());
        apply(&mut r, &p);
        let done = plan(
            &observed(
                &r,
                Some(JobObservation::Succeeded {
                    finished: Some(Time(at(30))),
                    message: Some(success_message()),
                }),
                at(31),
            ),
            &config(),
        );
        let s = &done.status;
        assert_eq!(s.phase, Some(Phase::Succeeded));
        assert_eq!(s.result.as_ref().map(|r| r.pages), Some(4));
        assert_eq!(
            s.result.as_ref().map(|r| r.location.as_str()),
            Some("s3://pdfx/extractions/ns/doc/result.json")
        );
        assert_eq!(s.progress, Some(Progress::new(4, 4)));
        assert_eq!(s.attempts[0].outcome, AttemptOutcome::Succeeded);
        assert!(conditions::is_true(&s.conditions, conditions::SUCCEEDED));
        assert!(!conditions::is_true(&s.conditions, conditions::RUNNING));
        assert_eq!(
            done.events
                .iter()
                .map(|e| e.reason.as_str())
                .collect::<Vec<_>>(),
            ["Succeeded"]
        );
        apply(&mut r, &done);
        let idle = plan(&observed(&r, None, at(100)), &config());
        assert_eq!(idle.status, r.status.clone().unwrap_or_default());
        assert_eq!((idle.action, idle.requeue), (Action::Nothing, None));
    }

    #[test]
    fn success_without_a_message_uses_the_stored_result_or_retries() {
        let mut r = resource();
        let p = plan(&observed(&r, None, at(0)), &config());
        apply(&mut r, &p);
        let job = Some(JobObservation::Succeeded {
            finished: None,
            message: None,
        });
        let mut obs = observed(&r, job.clone(), at(5));
        obs.stored_result = Some(ResultSummary {
            location: "s3://x".into(),
            pages: 1,
            ..ResultSummary::default()
        });
        assert_eq!(plan(&obs, &config()).status.phase, Some(Phase::Succeeded));
        let retry = plan(&observed(&r, job, at(5)), &config());
        assert_eq!(retry.status.attempts[0].outcome, AttemptOutcome::Failed);
        assert_eq!(retry.status.phase, Some(Phase::Running));
    }

    #[test]
    fn invalid_input_fails_after_one_attempt() {
        let mut r = resource();
        let p = plan(&observed(&r, None, at(0)), &config());
        apply(&mut r, &p);
        let failed = plan(
            &observed(&r, failed(FailureReason::InvalidPdf), at(21)),
            &config(),
        );
        let s = &failed.status;
        assert_eq!(s.phase, Some(Phase::Failed));
        assert_eq!(
            s.error.as_ref().map(|e| e.reason),
            Some(FailureReason::InvalidPdf)
        );
        assert_eq!(s.attempts.len(), 1);
        assert!(conditions::is_true(&s.conditions, conditions::FAILED));
        assert_eq!(
            conditions::find(&s.conditions, conditions::FAILED).map(|c| c.reason.as_str()),
            Some("InvalidPdf")
        );
        assert!(
            failed
                .events
                .iter()
                .any(|e| e.reason.as_str() == "InvalidPdf" && e.warning)
        );
    }

    #[test]
    fn oom_retries_double_memory_immediately_until_the_cap() {
        let mut r = resource();
        let p = plan(&observed(&r, None, at(0)), &config());
        apply(&mut r, &p);
        let mut memories = vec!["512Mi".to_string()];
        for step in 0..3 {
            let now = at(100 * (step + 1));
            let oom = plan(
                &observed(&r, failed(FailureReason::OomKilled), now),
                &config(),
            );
            apply(&mut r, &oom);
            if oom.status.phase == Some(Phase::Failed) {
                break;
            }
            let next = plan(&observed(&r, None, now), &config());
            match &next.action {
                Action::CreateJob { memory, .. } => memories.push(memory.0.clone()),
                other => panic!("expected a new Job, got {other:?}"),
            }
            apply(&mut r, &next);
        }
        assert_eq!(memories, ["512Mi", "1Gi", "2Gi"]);
        let s = r.status.clone().unwrap_or_default();
        assert_eq!(s.phase, Some(Phase::Failed));
        assert_eq!(s.error.map(|e| e.reason), Some(FailureReason::OomKilled));
        assert_eq!(s.attempts.len(), 3);
        assert!(
            s.attempts
                .iter()
                .all(|a| a.reason == Some(FailureReason::OomKilled))
        );
    }

    #[test]
    fn transient_failures_back_off_then_exhaust() {
        let mut r = resource();
        let p = plan(&observed(&r, None, at(0)), &config());
        apply(&mut r, &p);
        let failed1 = plan(
            &observed(&r, failed(FailureReason::Transient), at(20)),
            &config(),
        );
        assert_eq!(failed1.status.phase, Some(Phase::Running));
        assert_eq!(failed1.requeue, Some(Duration::from_secs(10)));
        apply(&mut r, &failed1);
        // Before the backoff has passed nothing starts.
        let early = plan(&observed(&r, None, at(25)), &config());
        assert_eq!(early.action, Action::Nothing);
        assert_eq!(early.requeue, Some(Duration::from_secs(5)));
        assert!(!needs_slot(&r, at(25), &config()));
        assert!(needs_slot(&r, at(30), &config()));
        let second = plan(&observed(&r, None, at(30)), &config());
        assert_eq!(
            second.action,
            Action::CreateJob {
                attempt: 2,
                memory: Quantity("512Mi".into())
            }
        );
        apply(&mut r, &second);
        let failed2 = plan(
            &observed(&r, failed(FailureReason::Transient), at(40)),
            &config(),
        );
        assert_eq!(
            failed2.requeue,
            Some(Duration::from_secs(20)),
            "the backoff doubles"
        );
        apply(&mut r, &failed2);
        let p = plan(&observed(&r, None, at(70)), &config());
        apply(&mut r, &p);
        let last = plan(
            &observed(&r, failed(FailureReason::Transient), at(80)),
            &config(),
        );
        assert_eq!(last.status.phase, Some(Phase::Failed));
        assert_eq!(
            last.status.error.as_ref().map(|e| e.reason),
            Some(FailureReason::RetriesExhausted)
        );
        assert_eq!(last.status.attempts.len(), 3);
    }

    fn pending(
        kind: Option<WaitingKind>,
        suspended: bool,
        since: Option<i64>,
    ) -> Option<JobObservation> {
        Some(JobObservation::Pending {
            waiting: kind.map(|kind| crate::observe::Waiting {
                kind,
                message: match kind {
                    WaitingKind::Unschedulable => {
                        "Unschedulable: 0/1 nodes are available: 1 Insufficient memory.".into()
                    }
                    WaitingKind::ImagePull => "ImagePullBackOff: Back-off pulling image".into(),
                    WaitingKind::Other => "CreateContainerConfigError: secret not found".into(),
                },
            }),
            suspended,
            since: since.map(|s| Time(at(s))),
        })
    }

    #[test]
    fn a_pod_that_never_starts_ends_its_attempt_at_the_start_deadline() {
        let mut c = config();
        c.pod_start_timeout = Duration::from_secs(600);
        let mut r = resource();
        let p = plan(&observed(&r, None, at(0)), &c);
        apply(&mut r, &p);
        // Before the deadline: still waiting, and the condition says why.
        let waiting = plan(
            &observed(
                &r,
                pending(Some(WaitingKind::Unschedulable), false, Some(0)),
                at(599),
            ),
            &c,
        );
        assert_eq!(waiting.status.phase, Some(Phase::Running));
        assert_eq!(waiting.delete_job, None);
        let running = conditions::find(&waiting.status.conditions, conditions::RUNNING).unwrap();
        assert!(
            running.message.contains("Insufficient memory"),
            "{}",
            running.message
        );
        assert_eq!(waiting.requeue, Some(Duration::from_secs(1)));
        // At the deadline: the attempt fails as Unschedulable, its Job goes,
        // and the next attempt follows the backoff.
        let ended = plan(
            &observed(
                &r,
                pending(Some(WaitingKind::Unschedulable), false, Some(0)),
                at(600),
            ),
            &c,
        );
        assert_eq!(ended.delete_job.as_deref(), Some("doc-1"));
        let attempt = &ended.status.attempts[0];
        assert_eq!(attempt.outcome, AttemptOutcome::Failed);
        assert_eq!(attempt.reason, Some(FailureReason::Unschedulable));
        assert_eq!(
            attempt.message.as_deref(),
            Some(
                "the runner's pod did not start within 10m: Unschedulable: 0/1 nodes are available: 1 Insufficient memory."
            )
        );
        assert_eq!(ended.status.phase, Some(Phase::Running));
        assert_eq!(ended.requeue, Some(Duration::from_secs(10)));
        assert!(
            !holds_slot(&{
                let mut after = r.clone();
                after.status = Some(ended.status.clone());
                after
            }),
            "the slot is freed"
        );
    }

    #[test]
    fn start_deadline_reasons_follow_what_the_pod_waits_on() {
        let mut c = config();
        c.pod_start_timeout = Duration::from_secs(60);
        for (kind, reason) in [
            (Some(WaitingKind::ImagePull), FailureReason::ImagePullFailed),
            (Some(WaitingKind::Other), FailureReason::StartTimeout),
            (None, FailureReason::StartTimeout),
        ] {
            let mut r = resource();
            let p = plan(&observed(&r, None, at(0)), &c);
            apply(&mut r, &p);
            let ended = plan(&observed(&r, pending(kind, false, None), at(61)), &c);
            assert_eq!(ended.status.attempts[0].reason, Some(reason), "{kind:?}");
        }
    }

    #[test]
    fn time_suspended_in_a_queue_does_not_count() {
        let mut c = config();
        c.pod_start_timeout = Duration::from_secs(60);
        let mut r = resource();
        let p = plan(&observed(&r, None, at(0)), &c);
        apply(&mut r, &p);
        let held = plan(&observed(&r, pending(None, true, None), at(5000)), &c);
        assert_eq!(held.delete_job, None);
        assert_eq!(held.status.attempts[0].outcome, AttemptOutcome::Running);
        let running = conditions::find(&held.status.conditions, conditions::RUNNING).unwrap();
        assert_eq!(running.reason, "JobSuspended");
        // Admitted at 5000 (Kubernetes resets startTime on resume): the clock starts there.
        let admitted = plan(
            &observed(&r, pending(None, false, Some(5000)), at(5030)),
            &c,
        );
        assert_eq!(admitted.status.attempts[0].outcome, AttemptOutcome::Running);
        let late = plan(
            &observed(&r, pending(None, false, Some(5000)), at(5061)),
            &c,
        );
        assert_eq!(late.status.attempts[0].outcome, AttemptOutcome::Failed);
    }

    #[test]
    fn never_started_attempts_retry_then_fail_with_their_own_reason() {
        let mut c = config();
        c.pod_start_timeout = Duration::from_secs(60);
        let mut r = resource();
        let mut now = 0;
        for attempt in 1..=3 {
            let p = plan(&observed(&r, None, at(now)), &c);
            assert_eq!(
                p.status.attempts.len(),
                attempt,
                "attempt {attempt} starts at {now}"
            );
            apply(&mut r, &p);
            now += 61;
            let ended = plan(
                &observed(
                    &r,
                    pending(Some(WaitingKind::Unschedulable), false, None),
                    at(now),
                ),
                &c,
            );
            apply(&mut r, &ended);
            now += 100;
        }
        let status = r.status.clone().unwrap();
        assert_eq!(status.phase, Some(Phase::Failed));
        let error = status.error.unwrap();
        assert_eq!(error.reason, FailureReason::Unschedulable);
        assert!(
            error.message.contains("Insufficient memory") && error.message.contains("3 attempt(s)"),
            "{}",
            error.message
        );
    }

    #[test]
    fn the_next_attempt_waits_for_the_abandoned_job_to_go() {
        let mut c = config();
        c.pod_start_timeout = Duration::from_secs(60);
        let mut r = resource();
        let p = plan(&observed(&r, None, at(0)), &c);
        apply(&mut r, &p);
        let ended = plan(&observed(&r, pending(None, false, None), at(61)), &c);
        apply(&mut r, &ended);
        let mut obs = observed(&r, None, at(200));
        obs.abandoned_job = Some("doc-1".into());
        let p = plan(&obs, &c);
        assert_eq!(p.delete_job.as_deref(), Some("doc-1"));
        assert_eq!(
            p.action,
            Action::Nothing,
            "no second Job while the first is there"
        );
        let p = plan(&observed(&r, None, at(201)), &c);
        assert!(
            matches!(p.action, Action::CreateJob { attempt: 2, .. }),
            "{:?}",
            p.action
        );
    }

    #[test]
    fn memory_escalation_never_asks_more_than_the_largest_node() {
        let mut c = config();
        c.max_memory = "8Gi".parse().unwrap();
        let attempt = |memory: &str| Attempt {
            number: 1,
            job_name: "doc-1".into(),
            memory_limit: Some(Quantity(memory.into())),
            start_time: None,
            end_time: None,
            outcome: AttemptOutcome::Failed,
            reason: Some(FailureReason::OomKilled),
            message: None,
        };
        let node = Some(3u64 << 30);
        assert_eq!(
            retry_decision(&attempt("1Gi"), FailureReason::OomKilled, "", &c, node),
            RetryDecision::Retry {
                memory: Quantity("2Gi".into()),
                after: Duration::ZERO
            }
        );
        assert_eq!(
            retry_decision(&attempt("2Gi"), FailureReason::OomKilled, "", &c, node),
            RetryDecision::Retry {
                memory: Quantity("3Gi".into()),
                after: Duration::ZERO
            },
            "the rest of the node, not a pod that could never start"
        );
        match retry_decision(&attempt("3Gi"), FailureReason::OomKilled, "", &c, node) {
            RetryDecision::Fail { reason, message } => {
                assert_eq!(reason, FailureReason::OomKilled);
                assert!(message.contains("largest allocatable: 3Gi"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        // Without node capacity (no access to Nodes), --max-memory caps.
        assert_eq!(
            retry_decision(&attempt("4Gi"), FailureReason::OomKilled, "", &c, None),
            RetryDecision::Retry {
                memory: Quantity("8Gi".into()),
                after: Duration::ZERO
            }
        );
    }

    #[test]
    fn deadlines_fail_without_retry() {
        let mut r = resource();
        let p = plan(&observed(&r, None, at(0)), &config());
        apply(&mut r, &p);
        let p = plan(
            &observed(&r, failed(FailureReason::DeadlineExceeded), at(20)),
            &config(),
        );
        assert_eq!(
            p.status.error.map(|e| e.reason),
            Some(FailureReason::DeadlineExceeded)
        );
    }

    #[test]
    fn invalid_specs_fail_before_any_job() {
        let mut r = resource();
        r.spec.ocr.engine = OcrEngine::Http;
        let p = plan(&observed(&r, None, at(0)), &config());
        assert_eq!(p.action, Action::Nothing);
        assert_eq!(
            p.status.error.as_ref().map(|e| e.reason),
            Some(FailureReason::InvalidSpec)
        );
        assert_eq!(
            conditions::find(&p.status.conditions, conditions::ACCEPTED).map(|c| c.status.as_str()),
            Some("False")
        );
        let mut big = resource();
        big.spec.resources = Some(RunnerResources {
            memory: Some(Quantity("64Gi".into())),
            cpu: None,
        });
        assert!(validate(&big, &config()).is_err());
    }

    #[test]
    fn extractions_stay_within_their_namespace_in_the_shared_bucket() {
        let c = config();
        let mut other = resource();
        other.spec.source = Source::Storage(StorageObject {
            key: "extractions/other-ns/doc/source.pdf".into(),
        });
        assert!(validate(&other, &c).is_err());
        let mut sneaky = resource();
        sneaky.spec.source = Source::Storage(StorageObject {
            key: "extractions/ns/../other/x.pdf".into(),
        });
        assert!(validate(&sneaky, &c).is_err());
        let output = |bucket: &str, prefix: &str| {
            let mut r = resource();
            r.spec.output = Some(pdfx_crd::Output {
                s3: pdfx_crd::S3Prefix {
                    bucket: bucket.into(),
                    prefix: prefix.into(),
                },
            });
            validate(&r, &c)
        };
        assert!(output("pdfx", "extractions/other-ns/x/").is_err());
        assert!(output("pdfx", "").is_err());
        assert!(output("pdfx", "extractions/ns/custom/").is_ok());
        assert!(output("my-own-bucket", "anything/").is_ok());
        assert!(output("my-own-bucket", "/").is_err());
    }

    #[test]
    fn a_setting_changed_after_acceptance_does_not_fail_running_extractions() {
        let mut r = resource();
        let p = plan(&observed(&r, None, at(0)), &config());
        apply(&mut r, &p);
        let mut stricter = config();
        stricter.max_memory = "256Mi".parse().unwrap();
        r.spec.resources = Some(RunnerResources {
            memory: Some(Quantity("512Mi".into())),
            cpu: None,
        });
        let later = plan(
            &observed(&r, Some(JobObservation::Running { started: None }), at(5)),
            &stricter,
        );
        assert_eq!(later.status.phase, Some(Phase::Running));
    }

    #[test]
    fn ttl_deletes_finished_extractions_when_due() {
        let mut r = resource();
        r.spec.ttl_seconds_after_finished = Some(60);
        r.status = Some(PdfExtractionStatus {
            phase: Some(Phase::Succeeded),
            completion_time: Some(Time(at(0))),
            ..Default::default()
        });
        let early = plan(&observed(&r, None, at(10)), &config());
        assert_eq!(
            (early.action.clone(), early.requeue),
            (Action::Nothing, Some(Duration::from_secs(50)))
        );
        assert_eq!(
            plan(&observed(&r, None, at(60)), &config()).action,
            Action::DeleteResource
        );
    }

    #[test]
    fn admission_is_oldest_first_within_free_slots() {
        let c = |key: &str, created: i64, holds: bool, wants: bool| Candidate {
            key: key.into(),
            created: Some(at(created)),
            holds_slot: holds,
            wants_slot: wants,
        };
        let all = vec![
            c("a", 0, true, false),
            c("b", 5, false, true),
            c("c", 1, false, true),
            c("d", 9, false, true),
        ];
        assert_eq!(admit(&all, "c", 2), Admission::Granted);
        assert_eq!(admit(&all, "b", 2), Admission::Denied { running: 1 });
        assert_eq!(admit(&all, "b", 3), Admission::Granted);
        assert_eq!(admit(&all, "d", 3), Admission::Denied { running: 1 });
        assert_eq!(
            admit(&all, "zzz", 10),
            Admission::Denied { running: 1 },
            "unknown keys are not admitted"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let (base, max) = (Duration::from_secs(10), Duration::from_secs(60));
        assert_eq!(backoff(2, base, max), Duration::from_secs(10));
        assert_eq!(backoff(3, base, max), Duration::from_secs(20));
        assert_eq!(backoff(5, base, max), Duration::from_secs(60));
        assert_eq!(backoff(400, base, max), Duration::from_secs(60));
    }
}
