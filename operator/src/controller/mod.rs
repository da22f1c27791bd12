//! The controller shell: reads the resource, its Job, its pods and its progress,
//! asks [`crate::decide`] what to do, and does it. Every write is a plain create
//! or delete, a JSON merge patch on `/status`, or the finalizer helper's JSON
//! patch; `spec` is never written (GitOps tools would see drift).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::runtime::controller::{Action as ControllerAction, Controller};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use pdfx_crd::layout::ExtractionLayout;
use pdfx_crd::reasons::{Reason, ReconcileErrorKind};
use pdfx_crd::result::{ProgressDocument, Summary};
use pdfx_crd::{FailureReason, PdfExtraction, ResultSummary, Source};
use pdfx_runtime::Shutdown;
use pdfx_storage::{S3Config, StorageUri, Store as ObjectStore};
use serde::Deserialize;
use tokio::sync::Mutex;
use tracing::Instrument;

use crate::config::OperatorConfig;
use crate::decide::{self, Action, Admission, Candidate, Observed, Plan};
use crate::job::{self, EXTRACTION_UID_LABEL, MANAGED_BY};
use crate::metrics::Metrics;
use crate::observe::{self, JobObservation};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod scenarios;

/// Finalizer that lets the operator delete what it created before the resource goes.
pub const FINALIZER: &str = "pdfx.dev/cleanup";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("finalizer: {0}")]
    Finalizer(Box<kube::runtime::finalizer::Error<Error>>),
    #[error("building the Job: {0}")]
    Job(#[from] job::JobError),
    #[error("storage: {0}")]
    Storage(#[from] pdfx_storage::StorageError),
    #[error("serialising: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{0} runner pod(s) still running; cleanup waits for them")]
    PodsRunning(usize),
    #[error("the status changed since it was read; reconciling again")]
    StaleStatus,
}

impl Error {
    /// The category: the reason of the Warning Event and the metrics label.
    pub fn kind(&self) -> ReconcileErrorKind {
        match self {
            Error::Kube(_) => ReconcileErrorKind::KubeApi,
            Error::Finalizer(e) => match e.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(inner)
                | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner.kind(),
                kube::runtime::finalizer::Error::AddFinalizer(_)
                | kube::runtime::finalizer::Error::RemoveFinalizer(_) => {
                    ReconcileErrorKind::KubeApi
                }
                _ => ReconcileErrorKind::Finalizer,
            },
            Error::Job(_) => ReconcileErrorKind::InvalidJob,
            Error::Storage(_) => ReconcileErrorKind::Storage,
            Error::Json(_) => ReconcileErrorKind::Serialization,
            Error::PodsRunning(_) => ReconcileErrorKind::WaitingForRunner,
            Error::StaleStatus => ReconcileErrorKind::StaleStatus,
        }
    }
}

/// Shared state of every reconcile.
pub struct Context {
    pub client: Client,
    pub config: OperatorConfig,
    pub s3: S3Config,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// The controllers' caches of every watched PdfExtraction (one per
    /// watched namespace, or one of all namespaces), for admission.
    pub stores: Vec<Store<PdfExtraction>>,
    /// Tells every controller that a slot freed, so that the oldest queued
    /// extractions are admitted at once instead of at their next poll.
    slot_freed: tokio::sync::broadcast::Sender<()>,
    /// Serialises admission decisions; holds slots granted but not yet visible in `store`.
    admissions: Mutex<HashMap<String, (u32, Instant)>>,
    /// When each running extraction's progress was last read (throttle).
    progress_reads: std::sync::Mutex<HashMap<String, Instant>>,
    /// One storage client per bucket: building one runs the credential chain.
    object_stores: Mutex<HashMap<String, ObjectStore>>,
    /// Whether each resource's spec passed [`decide::validate`], by uid. The
    /// spec is immutable, so admission never validates a queued resource twice.
    valid_specs: std::sync::Mutex<HashMap<String, bool>>,
}

impl Context {
    /// Wakes the queue: a running extraction ended or gave up its slot.
    fn free_slot(&self) {
        // No receiver means no controller runs yet (unit tests): nothing to wake.
        let _ = self.slot_freed.send(());
    }

    /// Every watched PdfExtraction in the caches.
    pub fn cached(&self) -> Vec<Arc<PdfExtraction>> {
        self.stores.iter().flat_map(Store::state).collect()
    }

    pub fn new(
        client: Client,
        config: OperatorConfig,
        s3: S3Config,
        stores: Vec<Store<PdfExtraction>>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let reporter = Reporter {
            controller: "pdfx-operator".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            config,
            s3,
            metrics,
            stores,
            slot_freed: tokio::sync::broadcast::channel(16).0,
            admissions: Mutex::new(HashMap::new()),
            progress_reads: std::sync::Mutex::new(HashMap::new()),
            object_stores: Mutex::new(HashMap::new()),
            valid_specs: std::sync::Mutex::new(HashMap::new()),
        }
    }
}

impl Context {
    /// Whether a resource's spec is valid, validated once per uid.
    fn spec_is_valid(&self, resource: &PdfExtraction) -> bool {
        let Some(uid) = resource.uid() else {
            return decide::validate(resource, &self.config).is_ok();
        };
        let mut known = self
            .valid_specs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *known
            .entry(uid)
            .or_insert_with(|| decide::validate(resource, &self.config).is_ok())
    }

    fn remember_validity(&self, resource: &PdfExtraction, valid: bool) {
        if let Some(uid) = resource.uid() {
            self.valid_specs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(uid, valid);
        }
    }

    fn forget_validity(&self, resource: &PdfExtraction) {
        if let Some(uid) = resource.uid() {
            self.valid_specs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&uid);
        }
    }
}

fn key_of(resource: &PdfExtraction) -> String {
    format!(
        "{}/{}",
        resource.namespace().unwrap_or_default(),
        resource.name_any()
    )
}

/// Runs the controller until `shutdown`: it finishes the reconciles under
/// way, then returns.
pub async fn run(
    client: Client,
    config: OperatorConfig,
    s3: S3Config,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
) {
    // One controller per watched namespace (the API has no multi-namespace
    // watch, and Roles grant nothing cluster-wide), or one for all; every
    // one shares the context, so admission sees them all.
    let scopes: Vec<Option<String>> = if config.namespaces.is_empty() {
        vec![None]
    } else {
        config.namespaces.iter().cloned().map(Some).collect()
    };
    let controllers: Vec<_> = scopes
        .iter()
        .map(|namespace| controller_for(&client, namespace.as_deref()))
        .collect();
    let stores: Vec<Store<PdfExtraction>> = controllers.iter().map(Controller::store).collect();
    let max_concurrent = config.max_concurrent_jobs;
    let context = Arc::new(Context::new(
        client,
        config,
        s3,
        stores.clone(),
        metrics.clone(),
    ));
    let runs = controllers
        .into_iter()
        .zip(stores)
        .map(|(controller, store)| {
            let (context, metrics, shutdown) = (context.clone(), metrics.clone(), shutdown.clone());
            let wake = queue_wakeups(context.slot_freed.subscribe(), store, max_concurrent);
            controller
                .reconcile_on(wake)
                .graceful_shutdown_on(shutdown.wait())
                .run(reconcile, error_policy, context)
                .for_each(move |outcome| {
                    let metrics = metrics.clone();
                    async move {
                        match outcome {
                            Ok((object, _)) => tracing::debug!(%object, "reconciled"),
                            Err(e) => {
                                metrics.controller_errors.inc();
                                tracing::warn!(error = %e, "controller error");
                            }
                        }
                    }
                })
        });
    futures::future::join_all(runs).await;
}

/// Each time a slot frees, the oldest queued extractions of `store` (as many
/// as could be admitted at once) are reconciled, instead of waiting for
/// their next queue poll.
fn queue_wakeups(
    freed: tokio::sync::broadcast::Receiver<()>,
    store: Store<PdfExtraction>,
    max_concurrent: usize,
) -> impl futures::Stream<Item = ObjectRef<PdfExtraction>> + Send + 'static {
    futures::stream::unfold(freed, |mut freed| async move {
        match freed.recv().await {
            Ok(()) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => Some(((), freed)),
            Err(tokio::sync::broadcast::error::RecvError::Closed) => None,
        }
    })
    .flat_map(move |()| {
        let mut queued: Vec<Arc<PdfExtraction>> = store
            .state()
            .into_iter()
            .filter(|r| {
                r.metadata.deletion_timestamp.is_none()
                    && r.status.as_ref().and_then(|s| s.phase) == Some(pdfx_crd::Phase::Queued)
            })
            .collect();
        queued.sort_by(|a, b| {
            (
                a.metadata.creation_timestamp.as_ref().map(|t| t.0),
                a.name_any(),
            )
                .cmp(&(
                    b.metadata.creation_timestamp.as_ref().map(|t| t.0),
                    b.name_any(),
                ))
        });
        futures::stream::iter(
            queued
                .iter()
                .take(max_concurrent.max(1))
                .map(|r| ObjectRef::from_obj(r.as_ref()))
                .collect::<Vec<_>>(),
        )
    })
}

/// The controller of the PdfExtractions in `namespace` (all when `None`),
/// owning their Jobs and watching their runner pods.
fn controller_for(client: &Client, namespace: Option<&str>) -> Controller<PdfExtraction> {
    fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as Resource>::DynamicType: Default,
    {
        match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let managed = format!("app.kubernetes.io/managed-by={MANAGED_BY}");
    Controller::new(
        api::<PdfExtraction>(client, namespace),
        watcher::Config::default().any_semantic(),
    )
    .owns(
        api::<Job>(client, namespace),
        watcher::Config::default().labels(&managed),
    )
    .watches(
        api::<Pod>(client, namespace),
        watcher::Config::default().labels(&managed),
        |pod: Pod| {
            let namespace = pod.namespace();
            pod.labels().get(job::EXTRACTION_NAME_LABEL).map(|name| {
                let reference = ObjectRef::new(name);
                match namespace {
                    Some(ns) => reference.within(&ns),
                    None => reference,
                }
            })
        },
    )
}

/// Counts the error by kind and retries: an expected wait (a stale status, a
/// runner still stopping) soon and quietly; anything else after 5 s, with a
/// Warning Event that says why on the resource (`kubectl describe`).
fn error_policy(
    resource: Arc<PdfExtraction>,
    error: &Error,
    context: Arc<Context>,
) -> ControllerAction {
    let kind = error.kind();
    context
        .metrics
        .reconcile_errors
        .with_label_values(&[kind.as_str()])
        .inc();
    if kind.is_expected() {
        tracing::debug!(extraction = %key_of(&resource), error = %error, "reconciling again soon");
        return ControllerAction::requeue(match kind {
            ReconcileErrorKind::StaleStatus => Duration::from_millis(200),
            _ => Duration::from_secs(1),
        });
    }
    tracing::warn!(extraction = %key_of(&resource), kind = %kind, error = %error, "reconcile failed; retrying");
    let note = format!("{error}; retrying");
    tokio::spawn(async move {
        let event = decide::EventSpec {
            warning: true,
            reason: kind.into(),
            note,
        };
        publish(&resource, &[event], &context).await;
    });
    ControllerAction::requeue(Duration::from_secs(5))
}

async fn reconcile(
    resource: Arc<PdfExtraction>,
    context: Arc<Context>,
) -> Result<ControllerAction, Error> {
    let started = Instant::now();
    context.metrics.reconciles.inc();
    let namespace = resource.namespace().unwrap_or_default();
    let api: Api<PdfExtraction> = Api::namespaced(context.client.clone(), &namespace);
    let span = tracing::info_span!("reconcile", extraction = %key_of(&resource));
    let result = finalizer(&api, FINALIZER, resource, |event| async {
        match event {
            Finalizer::Apply(resource) => apply(resource, &context).await,
            Finalizer::Cleanup(resource) => cleanup(resource, &context).await,
        }
    })
    .instrument(span)
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)));
    context
        .metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    result
}

/// Whether `job` is the one this resource created (a leftover Job of a deleted
/// resource with the same name belongs to another uid).
fn owned_by(job: &Job, resource: &PdfExtraction) -> bool {
    let uid = resource.uid();
    job.owner_references()
        .iter()
        .any(|o| o.controller == Some(true) && Some(&o.uid) == uid.as_ref())
}

async fn apply(resource: Arc<PdfExtraction>, context: &Context) -> Result<ControllerAction, Error> {
    let config = &context.config;
    let now = Timestamp::now();
    let namespace = resource.namespace().unwrap_or_default();
    let status = resource.status.clone().unwrap_or_default();
    let current = status
        .attempts
        .last()
        .filter(|a| a.outcome == pdfx_crd::AttemptOutcome::Running)
        .cloned();
    update_gauges(context, now);

    let mut job_observation = None;
    let mut progress = None;
    let mut stored_result = None;
    let mut result_location = None;
    if let Some(attempt) = &current {
        let jobs: Api<Job> = Api::namespaced(context.client.clone(), &namespace);
        if let Some(job) = jobs.get_opt(&attempt.job_name).await? {
            if !owned_by(&job, &resource) {
                tracing::warn!(job = %attempt.job_name, "a Job of that name belongs to another resource; waiting for it to go");
                return Ok(ControllerAction::requeue(Duration::from_secs(5)));
            }
            let pods: Api<Pod> = Api::namespaced(context.client.clone(), &namespace);
            let selector = format!(
                "batch.kubernetes.io/controller-uid={}",
                job.uid().unwrap_or_default()
            );
            let pod_list = pods
                .list(&ListParams::default().labels(&selector))
                .await?
                .items;
            let observation = observe::observe(&job, &pod_list);
            match &observation {
                JobObservation::Running { .. } if progress_due(context, &resource) => {
                    progress = read_progress(&resource, context).await;
                }
                JobObservation::Succeeded { message, .. } => {
                    let (store, layout) = output_of(&resource, context).await?;
                    result_location = Some(store.uri_for(&layout.result_json())?.to_string());
                    if message.is_none() {
                        stored_result = read_result_summary(&store, &layout).await?;
                    }
                }
                _ => {}
            }
            job_observation = Some(observation);
        }
    }

    // Memory escalation must fit the largest node: read the nodes only when
    // an attempt was just killed for memory.
    let node_memory = match &job_observation {
        Some(JobObservation::Failed {
            reason: FailureReason::OomKilled,
            ..
        }) => largest_node_memory(context).await,
        _ => None,
    };
    let abandoned_job = abandoned_job(&resource, context).await?;
    let validated = decide::validate(&resource, config);
    context.remember_validity(&resource, validated.is_ok());
    let admission = if validated.is_ok() && decide::needs_slot(&resource, now, config) {
        admit(&resource, context, now).await
    } else {
        Admission::Denied { running: 0 }
    };
    let observed = Observed {
        resource: &resource,
        job: job_observation,
        progress,
        stored_result,
        result_location,
        admission,
        validated: validated.as_ref().map_err(String::as_str),
        abandoned_job,
        node_memory,
        now,
    };
    let plan = decide::plan(&observed, config);
    execute(&resource, &validated, plan, context, now).await
}

/// The Job of the last attempt when that attempt was ended because its pod
/// never started, and the Job is still there: it must go, or its pod could
/// start later beside the next attempt's.
async fn abandoned_job(
    resource: &PdfExtraction,
    context: &Context,
) -> Result<Option<String>, Error> {
    let Some(last) = resource.status.as_ref().and_then(|s| s.attempts.last()) else {
        return Ok(None);
    };
    let never_started = matches!(
        last.reason,
        Some(
            FailureReason::Unschedulable
                | FailureReason::ImagePullFailed
                | FailureReason::StartTimeout
        )
    );
    if last.outcome != pdfx_crd::AttemptOutcome::Failed || !never_started {
        return Ok(None);
    }
    let jobs: Api<Job> = Api::namespaced(
        context.client.clone(),
        &resource.namespace().unwrap_or_default(),
    );
    Ok(jobs
        .get_opt(&last.job_name)
        .await?
        .filter(|job| owned_by(job, resource) && job.metadata.deletion_timestamp.is_none())
        .map(|_| last.job_name.clone()))
}

/// Allocatable memory of the largest node, when the operator may read Nodes
/// (a namespaced installation may not: then `--max-memory` is the only cap).
async fn largest_node_memory(context: &Context) -> Option<u64> {
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(context.client.clone());
    match nodes.list(&ListParams::default()).await {
        Ok(list) => list
            .items
            .iter()
            .filter_map(|node| node.status.as_ref()?.allocatable.as_ref()?.get("memory"))
            .filter_map(|memory| pdfx_runtime::quantity::bytes(memory).ok())
            .max(),
        Err(e) => {
            tracing::debug!(error = %e, "cannot read Nodes; memory escalation is capped by --max-memory only");
            None
        }
    }
}

/// Grants a slot if the oldest-first queue allows, remembering it until the
/// cache shows the started attempt.
async fn admit(resource: &PdfExtraction, context: &Context, now: Timestamp) -> Admission {
    let mut reserved = context.admissions.lock().await;
    let key = key_of(resource);
    let cached = context.cached();
    reserved.retain(|k, (attempt, at)| {
        let visible = cached.iter().any(|r| {
            &key_of(r) == k
                && r.status
                    .as_ref()
                    .is_some_and(|s| s.attempts.len() as u32 >= *attempt)
        });
        !visible && at.elapsed() < Duration::from_secs(60)
    });
    let mut candidates: Vec<Candidate> = cached
        .iter()
        .filter(|r| key_of(r) != key)
        .map(|r| {
            let k = key_of(r);
            Candidate {
                holds_slot: decide::holds_slot(r) || reserved.contains_key(&k),
                wants_slot: decide::needs_slot(r, now, &context.config) && context.spec_is_valid(r),
                created: r.metadata.creation_timestamp.as_ref().map(|t| t.0),
                key: k,
            }
        })
        .collect();
    candidates.push(Candidate {
        key: key.clone(),
        created: resource.metadata.creation_timestamp.as_ref().map(|t| t.0),
        holds_slot: false,
        wants_slot: true,
    });
    let admission = decide::admit(&candidates, &key, context.config.max_concurrent_jobs);
    if admission == Admission::Granted {
        let next = resource
            .status
            .as_ref()
            .map_or(0, |s| s.attempts.len() as u32)
            + 1;
        reserved.insert(key, (next, Instant::now()));
    }
    admission
}

/// Queue depth and running slots, from the cache.
fn update_gauges(context: &Context, now: Timestamp) {
    let cached = context.cached();
    let running = cached.iter().filter(|r| decide::holds_slot(r)).count();
    let waiting = cached
        .iter()
        .filter(|r| !decide::holds_slot(r) && decide::needs_slot(r, now, &context.config))
        .count();
    context.metrics.running_jobs.set(running as i64);
    context.metrics.queued.set(waiting as i64);
}

fn progress_due(context: &Context, resource: &PdfExtraction) -> bool {
    let Ok(mut reads) = context.progress_reads.lock() else {
        return true;
    };
    let key = key_of(resource);
    match reads.get(&key) {
        Some(at) if at.elapsed() < context.config.progress_interval => false,
        _ => {
            reads.insert(key, Instant::now());
            true
        }
    }
}

fn forget_progress(context: &Context, resource: &PdfExtraction) {
    if let Ok(mut reads) = context.progress_reads.lock() {
        reads.remove(&key_of(resource));
    }
}

/// The store for a storage URI, cached per bucket (or per file system).
async fn store_for(uri: &StorageUri, context: &Context) -> Result<(ObjectStore, String), Error> {
    let cache_key = match uri {
        StorageUri::S3 { bucket, .. } => format!("s3://{bucket}"),
        StorageUri::File { .. } => "file://".to_owned(),
    };
    let mut stores = context.object_stores.lock().await;
    let (store, key) = match stores.get(&cache_key) {
        Some(store) => (store.clone(), uri.key().to_owned()),
        None => {
            let (store, key) = ObjectStore::from_uri(uri, &context.s3).await?;
            stores.insert(cache_key, store.clone());
            (store, key)
        }
    };
    Ok((store, key))
}

/// The store and layout of an extraction's output.
async fn output_of(
    resource: &PdfExtraction,
    context: &Context,
) -> Result<(ObjectStore, ExtractionLayout), Error> {
    let uri = job::output_location(resource, &context.config)?;
    let (store, prefix) = store_for(&uri, context).await?;
    Ok((store, ExtractionLayout::new(&prefix)))
}

async fn read_progress(resource: &PdfExtraction, context: &Context) -> Option<ProgressDocument> {
    let (store, layout) = output_of(resource, context).await.ok()?;
    match store.get_bytes(&layout.progress(), 64 * 1024).await {
        Ok(bytes) => serde_json::from_slice(&bytes).ok(),
        Err(e) => {
            if !e.is_not_found() {
                tracing::debug!(error = %e, "progress not readable");
            }
            None
        }
    }
}

/// The summary at the end of `result.json`, read as a stream so that a result
/// of any size is never held in memory. `None` only when there is no result;
/// other storage errors are errors (retried), not a missing result.
async fn read_result_summary(
    store: &ObjectStore,
    layout: &ExtractionLayout,
) -> Result<Option<ResultSummary>, Error> {
    #[derive(Deserialize)]
    struct SummaryOnly {
        summary: Summary,
    }
    let key = layout.result_json();
    let object = match store.get(&key).await {
        Ok(object) => object,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let location = store.uri_for(&key)?.to_string();
    let reader = tokio_util::io::SyncIoBridge::new(object.into_reader());
    let parsed = tokio::task::spawn_blocking(move || {
        serde_json::from_reader::<_, SummaryOnly>(std::io::BufReader::new(reader))
    })
    .await
    .map_err(|e| Error::Json(serde_json::Error::io(std::io::Error::other(e.to_string()))))?;
    match parsed {
        Ok(parsed) => Ok(Some(parsed.summary.to_status(location))),
        // An unreadable result is no result: the attempt is retried.
        Err(e) => {
            tracing::warn!(error = %e, "result.json is unreadable");
            Ok(None)
        }
    }
}

/// Cuts a note to the 1 KiB Events allow, on a character boundary.
fn event_note(note: &str) -> String {
    let mut cut = note.len().min(1000);
    while !note.is_char_boundary(cut) {
        cut -= 1;
    }
    note[..cut].to_owned()
}

/// A JSON merge patch of the status, conditional on `resource_version`: a
/// conflict means the status was computed from a stale cache.
async fn write_status(
    api: &Api<PdfExtraction>,
    resource: &PdfExtraction,
    resource_version: Option<String>,
    status: &pdfx_crd::PdfExtractionStatus,
) -> Result<(), Error> {
    let patch =
        serde_json::json!({"metadata": {"resourceVersion": resource_version}, "status": status});
    match api
        .patch_status(
            &resource.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Err(Error::StaleStatus),
        Err(e) => Err(e.into()),
    }
}

/// Writes the plan: status first (so that a Job is never running without an
/// attempt recorded), then the Job, then Events. The status patch carries the
/// resourceVersion it was computed from: a reconcile that started from a stale
/// cache gets a conflict and runs again instead of rolling the status back.
async fn execute(
    resource: &PdfExtraction,
    validated: &Result<decide::ValidatedExtraction, String>,
    plan: Plan,
    context: &Context,
    now: Timestamp,
) -> Result<ControllerAction, Error> {
    let namespace = resource.namespace().unwrap_or_default();
    let api: Api<PdfExtraction> = Api::namespaced(context.client.clone(), &namespace);
    let current = resource.status.clone().unwrap_or_default();
    if plan.status != current {
        write_status(&api, resource, resource.resource_version(), &plan.status).await?;
        let mut after = resource.clone();
        after.status = Some(plan.status.clone());
        if decide::holds_slot(resource) && !decide::holds_slot(&after) {
            context.free_slot();
        }
        if plan.status.phase != current.phase
            && let Some(phase) = plan.status.phase
        {
            tracing::info!(
                ?phase,
                attempt = plan.status.current_attempt,
                "phase changed"
            );
            if phase.is_terminal() {
                record_outcome(&plan, context);
                forget_progress(context, resource);
            }
        }
    }

    if let Some(name) = &plan.delete_job {
        let jobs: Api<Job> = Api::namespaced(context.client.clone(), &namespace);
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match jobs.delete(name, &params).await {
            Ok(_) => {
                tracing::info!(job = %name, "deleted the Job of an attempt whose pod never started")
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }

    let mut events = plan.events.clone();
    let mut requeue = plan.requeue;
    match &plan.action {
        Action::CreateJob { attempt, memory } => {
            // A spec accepted under earlier settings keeps its Job shape.
            let (runner, cpu) = match validated {
                Ok(v) => (v.runner.clone(), v.cpu.clone()),
                Err(_) => (
                    job::runner_options(resource, &context.config)?,
                    context.config.default_cpu.quantity().clone(),
                ),
            };
            let job = job::desired_job(resource, &runner, *attempt, memory, &cpu, &context.config)?;
            let jobs: Api<Job> = Api::namespaced(context.client.clone(), &namespace);
            match jobs.create(&PostParams::default(), &job).await {
                Ok(_) => {
                    context.metrics.jobs_created.inc();
                    if *attempt > 1 {
                        context.metrics.retries.inc();
                        let previous = current
                            .attempts
                            .iter()
                            .rev()
                            .find(|a| a.number == attempt - 1);
                        if previous.and_then(|a| a.reason)
                            == Some(pdfx_crd::FailureReason::OomKilled)
                        {
                            context.metrics.oom_retries.inc();
                        }
                    }
                }
                Err(kube::Error::Api(e)) if e.reason == "AlreadyExists" => {}
                // The API server refused the Job itself (quota, limits, admission):
                // that is the attempt's failure, decided like any other.
                Err(kube::Error::Api(e)) if (400..500).contains(&e.code) && e.code != 429 => {
                    let reason = if e.code == 422 || e.code == 400 {
                        pdfx_crd::FailureReason::InvalidSpec
                    } else {
                        pdfx_crd::FailureReason::Transient
                    };
                    let message =
                        format!("the API server refused the Job ({}): {}", e.code, e.message);
                    tracing::warn!(%message, "Job creation refused");
                    let mut updated = resource.clone();
                    updated.status = Some(plan.status.clone());
                    let latest = api.get_status(&resource.name_any()).await?;
                    updated.metadata.resource_version = latest.resource_version();
                    let observed = Observed {
                        resource: &updated,
                        job: Some(JobObservation::Failed {
                            finished: None,
                            reason,
                            message,
                        }),
                        progress: None,
                        stored_result: None,
                        result_location: None,
                        admission: Admission::Denied { running: 0 },
                        validated: validated.as_ref().map_err(String::as_str),
                        abandoned_job: None,
                        node_memory: None,
                        now,
                    };
                    let replan = decide::plan(&observed, &context.config);
                    write_status(&api, resource, updated.resource_version(), &replan.status)
                        .await?;
                    events.extend(replan.events);
                    requeue = replan.requeue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Action::DeleteResource => match api
            .delete(&resource.name_any(), &DeleteParams::default())
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        },
        Action::Nothing => {}
    }

    publish(resource, &events, context).await;
    Ok(match requeue {
        Some(after) => ControllerAction::requeue(after),
        None => ControllerAction::await_change(),
    })
}

async fn publish(resource: &PdfExtraction, events: &[decide::EventSpec], context: &Context) {
    let reference = resource.object_ref(&());
    for event in events {
        let published = context
            .recorder
            .publish(
                &KubeEvent {
                    type_: if event.warning {
                        EventType::Warning
                    } else {
                        EventType::Normal
                    },
                    reason: event.reason.as_str().into(),
                    note: Some(event_note(&event.note)),
                    action: "Reconcile".into(),
                    secondary: None,
                },
                &reference,
            )
            .await;
        if let Err(e) = published {
            tracing::warn!(error = %e, reason = %event.reason, "could not record an event");
        }
    }
}

fn record_outcome(plan: &Plan, context: &Context) {
    let status = &plan.status;
    let outcome = match &status.error {
        Some(error) => error.reason.as_str(),
        None => "Succeeded",
    };
    context.metrics.finished.with_label_values(&[outcome]).inc();
    if let (Some(start), Some(end)) = (&status.start_time, &status.completion_time) {
        let seconds = end.0.duration_since(start.0).as_secs_f64();
        context
            .metrics
            .extraction_duration
            .observe(seconds.max(0.0));
    }
    context
        .metrics
        .attempts
        .observe(status.attempts.len() as f64);
}

/// A pod still counts as running unless it finished, or its deletion has been
/// pending for longer than any grace period (a lost node never reports back).
fn still_running(pod: &Pod, now: Timestamp) -> bool {
    let finished = matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    );
    let abandoned = pod
        .metadata
        .deletion_timestamp
        .as_ref()
        .is_some_and(|t| now.as_second() - t.0.as_second() > 120);
    !finished && !abandoned
}

/// Deletes what pdfx created for the extraction: its Jobs (and their pods),
/// its page checkpoints and result objects, and the gateway's upload. Objects
/// a user provided are never touched: a `storage` source is deleted only when
/// it is a gateway upload of this very extraction.
async fn cleanup(
    resource: Arc<PdfExtraction>,
    context: &Context,
) -> Result<ControllerAction, Error> {
    let namespace = resource.namespace().unwrap_or_default();
    forget_progress(context, &resource);
    context.forget_validity(&resource);
    if let Some(uid) = resource.uid() {
        let jobs: Api<Job> = Api::namespaced(context.client.clone(), &namespace);
        let selector = format!("{EXTRACTION_UID_LABEL}={uid}");
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        for job in jobs
            .list(&ListParams::default().labels(&selector))
            .await?
            .items
        {
            match jobs.delete(&job.name_any(), &params).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        // A runner still running could write a page after its objects are
        // deleted: wait for it, through a requeue (and the pod watch), never
        // by holding this reconcile.
        let pods: Api<Pod> = Api::namespaced(context.client.clone(), &namespace);
        let now = Timestamp::now();
        let remaining = pods
            .list(&ListParams::default().labels(&selector))
            .await?
            .items
            .iter()
            .filter(|p| still_running(p, now))
            .count();
        if remaining > 0 {
            return Err(Error::PodsRunning(remaining));
        }
    }

    let mut left_behind = Vec::new();
    let (store, layout) = output_of(&resource, context).await?;
    let mut keys: Vec<String> = match store.list(&layout.pages_prefix()).await {
        Ok(objects) => objects
            .into_iter()
            .map(|o| o.key)
            .filter(|k| pdfx_crd::layout::parse_page_object(k).is_some())
            .collect(),
        Err(e) if e.is_not_found() => Vec::new(),
        Err(e) if e.is_access_denied() => {
            left_behind.push(format!("{}: {e}", layout.pages_prefix()));
            Vec::new()
        }
        Err(e) => return Err(e.into()),
    };
    keys.extend([
        layout.progress(),
        layout.result_json(),
        layout.result_txt(),
        layout.checkpoint(),
    ]);
    for key in keys {
        delete_object(&store, &key, &mut left_behind).await?;
    }
    // No runner is alive any more (checked above), so what a killed one was
    // writing can go too, also where no finished object was deleted.
    if !layout.prefix().is_empty()
        && let Err(e) = store.discard_interrupted_writes(layout.prefix()).await
    {
        left_behind.push(format!("{}: {e}", layout.prefix()));
    }
    if let Source::Storage(object) = &resource.spec.source {
        let own = ExtractionLayout::for_resource(&namespace, &resource.name_any());
        if own.is_upload(&object.key) {
            let uri = context.config.storage.join(&object.key)?;
            let (source_store, key) = store_for(&uri, context).await?;
            delete_object(&source_store, &key, &mut left_behind).await?;
        }
    }
    if !left_behind.is_empty() {
        // Retrying cannot help when access is denied; say so and let the resource go.
        let note = format!("could not delete: {}", left_behind.join("; "));
        tracing::warn!(%note, "cleanup incomplete");
        let event = decide::EventSpec {
            warning: true,
            reason: Reason::CleanupIncomplete,
            note,
        };
        publish(&resource, &[event], context).await;
    }
    tracing::info!("cleaned up the Jobs and objects of the extraction");
    // A cancelled extraction may have held a slot.
    context.free_slot();
    Ok(ControllerAction::await_change())
}

async fn delete_object(
    store: &ObjectStore,
    key: &str,
    left_behind: &mut Vec<String>,
) -> Result<(), Error> {
    match store.delete(key).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) if e.is_access_denied() => {
            left_behind.push(format!("{key}: {e}"));
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
