//! `GET /api/v1/namespaces/{ns}/pods/{name}/log`: a container's captured
//! output, as the API server relays it from the kubelet: the container is
//! validated against the pod's spec (API server), then its state (kubelet),
//! then the CRI log is read with `tailLines`, `sinceSeconds`/`sinceTime`,
//! `timestamps`, `limitBytes` and `follow` applied as the kubelet applies them.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::ApiServer;
use crate::error::{ApiError, ApiResult, Cause, Subject};
use crate::executor::logs::ContainerLog;

/// How much of a log one read takes (more than the longest record).
const READ_CHUNK: usize = 1 << 20;

/// `PodLogOptions`, as far as a local kubelet can honour them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LogOptions {
    /// The container (required when the pod has several).
    pub container: Option<String>,
    /// Keep streaming until the container ends.
    pub follow: bool,
    /// The previous instance of the container.
    pub previous: bool,
    /// Only the last lines.
    pub tail_lines: Option<i64>,
    /// Only lines written since then.
    pub since: Option<DateTime<Utc>>,
    /// Prefix each line with its time.
    pub timestamps: bool,
    /// Stop after this many bytes.
    pub limit_bytes: Option<i64>,
}

fn invalid(name: &str, field: &str, reason: &str, message: String) -> ApiError {
    let subject = Subject {
        group: String::new(),
        kind: "PodLogOptions".into(),
        name: name.to_string(),
    };
    ApiError::invalid_one("PodLogOptions", subject, Cause::new(reason, message, field))
}

impl LogOptions {
    /// Parses and validates the query string (`ValidatePodLogOptions`).
    pub fn parse(query: Option<&str>, pod: &str) -> ApiResult<Self> {
        let mut o = LogOptions::default();
        let mut since_seconds: Option<i64> = None;
        let mut since_time: Option<DateTime<Utc>> = None;
        let pairs = url::form_urlencoded::parse(query.unwrap_or("").as_bytes());
        let int = |k: &str, v: &str| -> ApiResult<i64> {
            v.parse()
                .map_err(|_| ApiError::BadRequest(format!("{k}: invalid value {v:?}")))
        };
        let flag = |v: &str| matches!(v, "true" | "1" | "True" | "TRUE");
        for (k, v) in pairs {
            match &*k {
                "container" if !v.is_empty() => o.container = Some(v.into_owned()),
                "follow" => o.follow = flag(&v),
                "previous" => o.previous = flag(&v),
                "timestamps" => o.timestamps = flag(&v),
                "tailLines" => o.tail_lines = Some(int(&k, &v)?),
                "limitBytes" => o.limit_bytes = Some(int(&k, &v)?),
                "sinceSeconds" => since_seconds = Some(int(&k, &v)?),
                "sinceTime" => {
                    since_time = Some(
                        DateTime::parse_from_rfc3339(&v)
                            .map_err(|e| ApiError::BadRequest(format!("sinceTime: {e}")))?
                            .with_timezone(&Utc),
                    );
                }
                _ => {}
            }
        }
        if let Some(n) = o.tail_lines.filter(|n| *n < 0) {
            let msg = format!("Invalid value: {n}: must be greater than or equal to 0");
            return Err(invalid(pod, "tailLines", "FieldValueInvalid", msg));
        }
        if let Some(n) = o.limit_bytes.filter(|n| *n < 1) {
            let msg = format!("Invalid value: {n}: must be greater than 0");
            return Err(invalid(pod, "limitBytes", "FieldValueInvalid", msg));
        }
        o.since = match (since_seconds, since_time) {
            (Some(_), Some(_)) => {
                let msg =
                    "Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified";
                return Err(invalid(pod, "", "FieldValueForbidden", msg.into()));
            }
            (Some(n), None) if n < 1 => {
                let msg = format!("Invalid value: {n}: must be greater than 0");
                return Err(invalid(pod, "sinceSeconds", "FieldValueInvalid", msg));
            }
            (Some(n), None) => Some(Utc::now() - chrono::Duration::seconds(n)),
            (None, t) => t,
        };
        Ok(o)
    }
}

/// The API server's `validateContainer`: the named container, or the only one.
fn container_name(pod: &Value, name: &str, asked: Option<&str>) -> ApiResult<String> {
    let names = |key: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/{key}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect()
    };
    let containers = names("containers");
    match asked {
        Some(c) => {
            let all = [
                names("initContainers"),
                containers,
                names("ephemeralContainers"),
            ];
            if all.iter().flatten().any(|n| n == c) {
                Ok(c.to_string())
            } else {
                Err(ApiError::BadRequest(format!(
                    "container {c} is not valid for pod {name}"
                )))
            }
        }
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None if containers.is_empty() => Err(ApiError::BadRequest(format!(
            "a container name must be specified for pod {name}"
        ))),
        None => {
            let mut all = names("initContainers");
            all.extend(containers);
            all.extend(names("ephemeralContainers"));
            Err(ApiError::BadRequest(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                all.join(" ")
            )))
        }
    }
}

/// The kubelet's `validateContainerLogStatus`: whether the container has a
/// log to give, by its status.
fn check_status(pod: &Value, name: &str, container: &str, previous: bool) -> ApiResult<()> {
    let status = [
        "containerStatuses",
        "initContainerStatuses",
        "ephemeralContainerStatuses",
    ]
    .iter()
    .filter_map(|k| {
        pod.pointer(&format!("/status/{k}"))
            .and_then(Value::as_array)
    })
    .flatten()
    .find(|s| s["name"].as_str() == Some(container));
    let fail = |what: &str| {
        Err(ApiError::BadRequest(format!(
            "container {container:?} in pod {name:?} {what}"
        )))
    };
    let Some(status) = status else {
        // Bound, and the kubelet has not reported the container yet: it is
        // being created (a kubelet's first status says so).
        return fail("is waiting to start: ContainerCreating");
    };
    let id = |state: &Value| state["containerID"].as_str().is_some_and(|s| !s.is_empty());
    let last = &status["lastState"]["terminated"];
    let state = &status["state"];
    if previous {
        return if last.is_object() && id(last) {
            Ok(())
        } else {
            Err(ApiError::BadRequest(format!(
                "previous terminated container {container:?} in pod {name:?} not found"
            )))
        };
    }
    if state["running"].is_object() {
        return Ok(());
    }
    if state["terminated"].is_object() {
        return if id(&state["terminated"]) || (last.is_object() && id(last)) {
            Ok(())
        } else {
            fail("is terminated")
        };
    }
    if last.is_object() {
        return if id(last) {
            Ok(())
        } else {
            fail("is terminated")
        };
    }
    match state["waiting"]["reason"].as_str() {
        Some("ErrImagePull") => fail("is waiting to start: image can't be pulled"),
        Some("ImagePullBackOff") => fail("is waiting to start: trying and failing to pull image"),
        Some(reason) if state["waiting"].is_object() => {
            fail(&format!("is waiting to start: {reason}"))
        }
        _ if state["waiting"].is_object() => fail("is waiting to start: "),
        _ => fail("is waiting to start - no logs yet"),
    }
}

/// Turns CRI records into the kubelet's output.
struct Formatter {
    timestamps: bool,
    since: Option<DateTime<Utc>>,
    remaining: Option<u64>,
}

impl Formatter {
    /// Appends one record's output to `out`; false once `limitBytes` is reached.
    fn record(&mut self, record: &[u8], out: &mut Vec<u8>) -> bool {
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        let mut fields = record.splitn(4, |b| *b == b' ');
        let (Some(ts), Some(_stream), Some(tag)) = (fields.next(), fields.next(), fields.next())
        else {
            return true;
        };
        let text = fields.next().unwrap_or_default();
        if let Some(since) = self.since {
            let at = std::str::from_utf8(ts)
                .ok()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
            if at.is_some_and(|at| at < since) {
                return true;
            }
        }
        let start = out.len();
        if self.timestamps {
            out.extend_from_slice(ts);
            out.push(b' ');
        }
        out.extend_from_slice(text);
        if tag == b"F" {
            out.push(b'\n');
        }
        let Some(left) = self.remaining.as_mut() else {
            return true;
        };
        let wrote = (out.len() - start) as u64;
        if wrote >= *left {
            out.truncate(start + *left as usize);
            *left = 0;
            return false;
        }
        *left -= wrote;
        true
    }
}

fn records(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split_inclusive(|b| *b == b'\n')
}

/// The output: the (tailed) log up to now, then, when following, whatever
/// comes until the container ends or the pod goes.
fn output(
    log: Arc<ContainerLog>,
    opts: LogOptions,
) -> impl futures::Stream<Item = Result<Bytes, Infallible>> {
    async_stream::stream! {
        let mut fmt = Formatter {
            timestamps: opts.timestamps,
            since: opts.since,
            remaining: opts.limit_bytes.map(|n| n.max(0) as u64),
        };
        let mut changes = log.subscribe();
        changes.borrow_and_update();
        // What is there now: tailLines applies to it before sinceTime, as the
        // kubelet seeks to the tail and then filters.
        let mut pos = log.start();
        let mut tail: VecDeque<Vec<u8>> = VecDeque::new();
        let keep = opts.tail_lines.map(|n| n.max(0) as usize);
        let mut end = None;
        loop {
            let chunk = match log.read(pos, READ_CHUNK) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "reading a pod log failed");
                    return;
                }
            };
            let end_now = *end.get_or_insert(chunk.end);
            pos = chunk.start + chunk.bytes.len() as u64;
            for r in records(&chunk.bytes) {
                tail.push_back(r.to_vec());
                if keep.is_some_and(|k| tail.len() > k) {
                    tail.pop_front();
                }
            }
            if chunk.bytes.is_empty() || pos >= end_now {
                break;
            }
        }
        let mut out = Vec::new();
        let mut open = true;
        for r in &tail {
            if !fmt.record(r, &mut out) {
                open = false;
                break;
            }
        }
        drop(tail);
        if !out.is_empty() {
            yield Ok(Bytes::from(std::mem::take(&mut out)));
        }
        while open && opts.follow {
            let chunk = match log.read(pos, READ_CHUNK) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "reading a pod log failed");
                    return;
                }
            };
            pos = chunk.start + chunk.bytes.len() as u64;
            for r in records(&chunk.bytes) {
                if !fmt.record(r, &mut out) {
                    open = false;
                    break;
                }
            }
            if !out.is_empty() {
                yield Ok(Bytes::from(std::mem::take(&mut out)));
            }
            if chunk.bytes.is_empty() && (chunk.finished || changes.changed().await.is_err()) {
                break;
            }
        }
    }
}

fn text_response(body: Body) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::OK;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

/// Serves a pod's log.
pub async fn serve(
    server: &ApiServer,
    pods: &crate::registry::ResourceInfo,
    ns: &str,
    name: &str,
    query: Option<&str>,
) -> ApiResult<Response> {
    let opts = LogOptions::parse(query, name)?;
    let pod = server.get(pods, ns, name)?;
    let container = container_name(&pod, name, opts.container.as_deref())?;
    // A pod no node has taken has no log yet: the API server answers empty.
    if pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Ok(text_response(Body::empty()));
    }
    check_status(&pod, name, &container, opts.previous)?;
    let uid = super::meta_str(&pod, "uid").unwrap_or_default();
    let log = server
        .0
        .pod_logs
        .get()
        .and_then(|store| store.get(uid, &container));
    // `previous` with a terminated predecessor: the executor never restarts a
    // container in place, so there is none to read.
    let Some(log) = log.filter(|_| !opts.previous) else {
        return Ok(text_response(Body::empty()));
    };
    Ok(text_response(Body::from_stream(output(log, opts))))
}

#[cfg(test)]
#[path = "log_tests.rs"]
mod tests;
