//! The controller shell in named scenarios, without a cluster or a runner: a
//! mocked API server (`tower-test`) receives each request the reconciler makes,
//! the scenario asserts it (method, path, body) and answers as the API server
//! would. Every scenario also checks that nothing else was requested.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::client::Body;
use kube::runtime::controller::Action as ControllerAction;
use kube::runtime::reflector;
use kube::{Client, Resource};
use pdfx_crd::{
    PdfExtraction, PdfExtractionSpec, PdfExtractionStatus, Phase, Source, StorageObject,
};
use pdfx_storage::{S3Config, StorageUri};
use serde_json::{Value, json};
use tower_test::mock;

use super::{Context, Error, FINALIZER, error_policy, reconcile};
use crate::config::OperatorConfig;
use crate::metrics::Metrics;

const BASE: &str = "/apis/pdfx.dev/v1alpha1/namespaces/ns/pdfextractions";
const JOBS: &str = "/apis/batch/v1/namespaces/ns/jobs";
const PODS: &str = "/api/v1/namespaces/ns/pods";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/ns/events";

/// One request as the API server received it.
struct Call {
    method: Method,
    path: String,
    query: String,
    content_type: String,
    body: Value,
}

/// The mocked API server's side of the connection.
struct FakeApiServer {
    handle: mock::Handle<Request<Body>, Response<Body>>,
}

type Responder = mock::SendResponse<Response<Body>>;

impl FakeApiServer {
    /// The next request the reconciler sends.
    async fn next(&mut self) -> (Call, Responder) {
        let (request, send) =
            tokio::time::timeout(Duration::from_secs(30), self.handle.next_request())
                .await
                .unwrap_or_else(|_| panic!("the reconciler sent no further request"))
                .unwrap_or_else(|| panic!("the client went away"));
        let (parts, body) = request.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        let call = Call {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            content_type: parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default(),
            body,
        };
        (call, send)
    }

    /// The next request, which must be `method path`.
    async fn expect(&mut self, method: Method, path: &str) -> (Call, Responder) {
        let (call, send) = self.next().await;
        assert_eq!(
            (&call.method, call.path.as_str()),
            (&method, path),
            "unexpected request (query {:?}, body {})",
            call.query,
            call.body
        );
        (call, send)
    }

    /// An Event POST; answers it and returns the Event.
    async fn expect_event(&mut self) -> Value {
        let (call, send) = self.expect(Method::POST, EVENTS).await;
        reply(send, 201, call.body.clone());
        call.body
    }

    /// The reconcile's outcome; a request it sends instead of finishing fails the scenario.
    async fn finish(
        &mut self,
        mut task: tokio::task::JoinHandle<Result<ControllerAction, Error>>,
    ) -> Result<ControllerAction, Error> {
        tokio::select! {
            outcome = &mut task => outcome.unwrap(),
            request = self.handle.next_request() => match request {
                Some((request, _)) => panic!("unexpected request {} {}", request.method(), request.uri()),
                None => task.await.unwrap(),
            },
        }
    }

    /// Nothing more is requested.
    async fn assert_idle(&mut self) {
        let more =
            tokio::time::timeout(Duration::from_millis(50), self.handle.next_request()).await;
        if let Ok(Some((request, _))) = more {
            panic!("unexpected request {} {}", request.method(), request.uri());
        }
    }
}

fn reply(send: Responder, status: u16, body: Value) {
    send.send_response(
        Response::builder()
            .status(StatusCode::from_u16(status).unwrap())
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&body).unwrap()))
            .unwrap(),
    );
}

/// A Kubernetes `Status` error body.
fn status_error(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

struct Scenario {
    context: Arc<Context>,
    api: FakeApiServer,
    _storage: tempfile::TempDir,
}

impl Scenario {
    fn new() -> Self {
        let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, "default");
        let storage = tempfile::tempdir().unwrap();
        let config = OperatorConfig::new(
            "pdfx-ocr-runner:test",
            StorageUri::from_path(storage.path()).unwrap(),
        );
        let (store, _writer) = reflector::store::<PdfExtraction>();
        let metrics = Arc::new(Metrics::new().unwrap());
        let context = Arc::new(Context::new(
            client,
            config,
            S3Config::default(),
            vec![store],
            metrics,
        ));
        Self {
            context,
            api: FakeApiServer { handle },
            _storage: storage,
        }
    }

    fn reconcile(
        &self,
        resource: &PdfExtraction,
    ) -> tokio::task::JoinHandle<Result<ControllerAction, Error>> {
        let (resource, context) = (Arc::new(resource.clone()), self.context.clone());
        tokio::spawn(reconcile(resource, context))
    }
}

fn extraction() -> PdfExtraction {
    let mut r = PdfExtraction::new(
        "doc",
        PdfExtractionSpec {
            source: Source::Storage(StorageObject {
                key: "extractions/ns/doc/source.pdf".into(),
            }),
            output: None,
            ocr: Default::default(),
            resources: None,
            ttl_seconds_after_finished: None,
        },
    );
    let meta = r.meta_mut();
    meta.namespace = Some("ns".into());
    meta.uid = Some("uid-1".into());
    meta.generation = Some(1);
    meta.resource_version = Some("7".into());
    meta.creation_timestamp = Some(Time(Timestamp::from_second(1_800_000_000).unwrap()));
    r
}

fn finalized() -> PdfExtraction {
    let mut r = extraction();
    r.meta_mut().finalizers = Some(vec![FINALIZER.into()]);
    r
}

/// The resource after the API server applied a status merge patch.
fn with_status(mut r: PdfExtraction, status: &Value, resource_version: &str) -> PdfExtraction {
    r.status = Some(serde_json::from_value::<PdfExtractionStatus>(status.clone()).unwrap());
    r.meta_mut().resource_version = Some(resource_version.into());
    r
}

/// The Job the operator created, as the API server reports it running.
fn running_job(created: &Value) -> Value {
    let mut job = created.clone();
    job["metadata"]["uid"] = json!("job-uid-1");
    job["metadata"]["resourceVersion"] = json!("9");
    job["status"] = json!({"active": 1, "ready": 1, "startTime": "2027-01-15T08:00:00Z"});
    job
}

fn running_pod() -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "doc-1-abcde", "namespace": "ns",
                        "labels": {"batch.kubernetes.io/controller-uid": "job-uid-1"}},
           "spec": {"containers": [{"name": "runner", "image": "pdfx-ocr-runner:test"}]},
           "status": {"phase": "Running",
                      "containerStatuses": [{"name": "runner", "image": "pdfx-ocr-runner:test", "imageID": "",
                                             "ready": true, "restartCount": 0,
                                             "state": {"running": {"startedAt": "2027-01-15T08:00:01Z"}}}]}})
}

fn list(items: Vec<Value>, kind: &str) -> Value {
    json!({"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": "10"}, "items": items})
}

/// First reconcile of a resource that already has its finalizer: the status
/// write (conditional on the resourceVersion it was computed from), then the
/// Job, then the Events. Returns the written status and the created Job.
async fn first_attempt_starts(s: &mut Scenario, resource: &PdfExtraction) -> (Value, Value) {
    let (call, send) = s
        .api
        .expect(Method::PATCH, &format!("{BASE}/doc/status"))
        .await;
    assert_eq!(call.content_type, "application/merge-patch+json");
    assert_eq!(call.body["metadata"]["resourceVersion"], "7");
    let status = call.body["status"].clone();
    assert_eq!(status["phase"], "Running");
    assert_eq!(status["attempts"][0]["jobName"], "doc-1");
    assert_eq!(status["attempts"][0]["memoryLimit"], "1Gi");
    reply(
        send,
        200,
        serde_json::to_value(with_status(resource.clone(), &status, "8")).unwrap(),
    );

    let (call, send) = s.api.expect(Method::POST, JOBS).await;
    let job = call.body.clone();
    assert_eq!(job["metadata"]["name"], "doc-1");
    assert_eq!(job["metadata"]["ownerReferences"][0]["uid"], "uid-1");
    reply(send, 201, job.clone());

    let reasons = [s.api.expect_event().await, s.api.expect_event().await]
        .map(|e| e["reason"].as_str().unwrap().to_owned());
    assert_eq!(reasons, ["Accepted", "Started"]);
    (status, job)
}

#[tokio::test]
async fn finalizer_is_added_before_anything_else() {
    let mut s = Scenario::new();
    let task = s.reconcile(&extraction());
    let (call, send) = s.api.expect(Method::PATCH, &format!("{BASE}/doc")).await;
    assert_eq!(call.content_type, "application/json-patch+json");
    assert_eq!(
        call.body,
        json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
               {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}])
    );
    reply(send, 200, serde_json::to_value(finalized()).unwrap());
    assert_eq!(
        s.api.finish(task).await.unwrap(),
        ControllerAction::await_change()
    );
    s.api.assert_idle().await;
}

#[tokio::test]
async fn status_is_patched_only_when_it_changed() {
    let mut s = Scenario::new();
    let resource = finalized();
    let task = s.reconcile(&resource);
    let (status, job) = first_attempt_starts(&mut s, &resource).await;
    assert_eq!(
        s.api.finish(task).await.unwrap(),
        ControllerAction::requeue(Duration::from_secs(2))
    );
    s.api.assert_idle().await;

    // The Job runs: the Running condition changes once, so the status is written once.
    let mut resource = with_status(resource, &status, "8");
    let task = s.reconcile(&resource);
    let (_, send) = s.api.expect(Method::GET, &format!("{JOBS}/doc-1")).await;
    reply(send, 200, running_job(&job));
    let (call, send) = s.api.expect(Method::GET, PODS).await;
    assert!(
        call.query
            .contains("labelSelector=batch.kubernetes.io%2Fcontroller-uid%3Djob-uid-1"),
        "{}",
        call.query
    );
    reply(send, 200, list(vec![running_pod()], "PodList"));
    let (call, send) = s
        .api
        .expect(Method::PATCH, &format!("{BASE}/doc/status"))
        .await;
    assert_eq!(call.body["metadata"]["resourceVersion"], "8");
    let running = call.body["status"].clone();
    reply(
        send,
        200,
        serde_json::to_value(with_status(resource.clone(), &running, "11")).unwrap(),
    );
    s.api.finish(task).await.unwrap();
    s.api.assert_idle().await;

    // Nothing changed since: the same observation writes nothing.
    resource = with_status(resource, &running, "11");
    let task = s.reconcile(&resource);
    let (_, send) = s.api.expect(Method::GET, &format!("{JOBS}/doc-1")).await;
    reply(send, 200, running_job(&job));
    let (_, send) = s.api.expect(Method::GET, PODS).await;
    reply(send, 200, list(vec![running_pod()], "PodList"));
    assert_eq!(
        s.api.finish(task).await.unwrap(),
        ControllerAction::requeue(Duration::from_secs(2))
    );
    s.api.assert_idle().await;
}

#[tokio::test]
async fn a_conflict_on_the_status_requeues_quickly_and_creates_nothing() {
    let mut s = Scenario::new();
    let resource = finalized();
    let task = s.reconcile(&resource);
    let (_, send) = s
        .api
        .expect(Method::PATCH, &format!("{BASE}/doc/status"))
        .await;
    reply(
        send,
        409,
        status_error(
            409,
            "Conflict",
            "the object has been modified; please apply your changes to the latest version and try again",
        ),
    );
    let error = s.api.finish(task).await.unwrap_err();
    assert_eq!(
        error.kind(),
        pdfx_crd::reasons::ReconcileErrorKind::StaleStatus
    );
    let action = error_policy(Arc::new(resource), &error, s.context.clone());
    assert_eq!(
        action,
        ControllerAction::requeue(Duration::from_millis(200))
    );
    // No Job, and no Warning Event for an expected conflict.
    s.api.assert_idle().await;
}

#[tokio::test]
async fn a_job_refused_with_422_fails_the_extraction_as_invalid_spec() {
    let mut s = Scenario::new();
    let resource = finalized();
    let task = s.reconcile(&resource);
    let (call, send) = s
        .api
        .expect(Method::PATCH, &format!("{BASE}/doc/status"))
        .await;
    let status = call.body["status"].clone();
    let stored = with_status(resource.clone(), &status, "8");
    reply(send, 200, serde_json::to_value(&stored).unwrap());

    let (_, send) = s.api.expect(Method::POST, JOBS).await;
    reply(
        send,
        422,
        status_error(
            422,
            "Invalid",
            "Job.batch \"doc-1\" is invalid: spec.template.spec.containers[0].resources.limits: exceeds quota",
        ),
    );
    let (_, send) = s
        .api
        .expect(Method::GET, &format!("{BASE}/doc/status"))
        .await;
    reply(send, 200, serde_json::to_value(&stored).unwrap());
    let (call, send) = s
        .api
        .expect(Method::PATCH, &format!("{BASE}/doc/status"))
        .await;
    assert_eq!(call.body["metadata"]["resourceVersion"], "8");
    let failed = &call.body["status"];
    assert_eq!(failed["phase"], "Failed");
    assert_eq!(failed["error"]["reason"], "InvalidSpec");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exceeds quota"),
        "{failed}"
    );
    assert_eq!(failed["attempts"][0]["outcome"], "Failed");
    reply(
        send,
        200,
        serde_json::to_value(with_status(stored, failed, "9")).unwrap(),
    );

    let events = [
        s.api.expect_event().await,
        s.api.expect_event().await,
        s.api.expect_event().await,
    ];
    let reasons = events.each_ref().map(|e| e["reason"].as_str().unwrap());
    assert_eq!(reasons, ["Accepted", "Started", "InvalidSpec"]);
    assert_eq!(events[2]["type"], "Warning");
    s.api.finish(task).await.unwrap();
    s.api.assert_idle().await;
}

#[tokio::test]
async fn cleanup_waits_for_running_pods_through_requeues_not_by_blocking() {
    let mut s = Scenario::new();
    let mut resource = finalized();
    resource.meta_mut().deletion_timestamp = Some(Time(Timestamp::now()));
    resource.status = Some(PdfExtractionStatus {
        phase: Some(Phase::Running),
        ..PdfExtractionStatus::default()
    });
    let job = json!({"apiVersion": "batch/v1", "kind": "Job",
                     "metadata": {"name": "doc-1", "namespace": "ns", "uid": "job-uid-1"},
                     "spec": {"template": {"spec": {"containers": []}}}});

    let clock = tokio::time::Instant::now();
    let task = s.reconcile(&resource);
    let (call, send) = s.api.expect(Method::GET, JOBS).await;
    assert!(
        call.query
            .contains("labelSelector=pdfx.dev%2Fextraction-uid%3Duid-1"),
        "{}",
        call.query
    );
    reply(send, 200, list(vec![job.clone()], "JobList"));
    let (call, send) = s.api.expect(Method::DELETE, &format!("{JOBS}/doc-1")).await;
    assert_eq!(call.body["propagationPolicy"], "Background");
    reply(send, 200, job.clone());
    let (call, send) = s.api.expect(Method::GET, PODS).await;
    assert!(
        call.query
            .contains("labelSelector=pdfx.dev%2Fextraction-uid%3Duid-1"),
        "{}",
        call.query
    );
    reply(send, 200, list(vec![running_pod()], "PodList"));
    let error = s.api.finish(task).await.unwrap_err();
    assert!(
        clock.elapsed() < Duration::from_secs(5),
        "cleanup held the reconcile"
    );
    assert_eq!(
        error.kind(),
        pdfx_crd::reasons::ReconcileErrorKind::WaitingForRunner
    );
    assert_eq!(
        error_policy(Arc::new(resource.clone()), &error, s.context.clone()),
        ControllerAction::requeue(Duration::from_secs(1))
    );
    s.api.assert_idle().await;

    // The pod has stopped: objects go, then the finalizer.
    let task = s.reconcile(&resource);
    let (_, send) = s.api.expect(Method::GET, JOBS).await;
    reply(send, 200, list(vec![], "JobList"));
    let mut stopped = running_pod();
    stopped["status"]["phase"] = json!("Succeeded");
    let (_, send) = s.api.expect(Method::GET, PODS).await;
    reply(send, 200, list(vec![stopped], "PodList"));
    let (call, send) = s.api.expect(Method::PATCH, &format!("{BASE}/doc")).await;
    assert_eq!(
        call.body,
        json!([{"op": "test", "path": "/metadata/finalizers/0", "value": FINALIZER},
               {"op": "remove", "path": "/metadata/finalizers/0"}])
    );
    reply(send, 200, serde_json::to_value(extraction()).unwrap());
    assert_eq!(
        s.api.finish(task).await.unwrap(),
        ControllerAction::await_change()
    );
    s.api.assert_idle().await;
}

#[tokio::test]
async fn unexpected_errors_become_warning_events_with_their_category() {
    let mut s = Scenario::new();
    let resource = finalized();
    let task = s.reconcile(&resource);
    let (_, send) = s
        .api
        .expect(Method::PATCH, &format!("{BASE}/doc/status"))
        .await;
    reply(
        send,
        500,
        status_error(500, "InternalError", "etcd is unavailable"),
    );
    let error = s.api.finish(task).await.unwrap_err();
    assert_eq!(error.kind().as_str(), "KubeApiError");
    assert_eq!(
        error_policy(Arc::new(resource), &error, s.context.clone()),
        ControllerAction::requeue(Duration::from_secs(5))
    );
    let event = s.api.expect_event().await;
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["reason"], "KubeApiError");
    assert!(
        event["note"]
            .as_str()
            .unwrap()
            .contains("etcd is unavailable"),
        "{event}"
    );
    s.api.assert_idle().await;
    let metrics = s.context.metrics.render();
    assert!(
        metrics.contains("pdfx_operator_reconcile_errors_total{kind=\"KubeApiError\"} 1"),
        "{metrics}"
    );
}
