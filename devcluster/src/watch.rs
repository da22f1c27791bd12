//! Watch streams: newline-delimited JSON events, resumable from the history window,
//! with the API server's watch-cache semantics for selector-filtered watches.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::api::ApiServer;
use crate::registry::ResourceInfo;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{Event, EventType};
use crate::table::{self, Render};

/// Watch parameters from the query string.
#[derive(Debug, Clone, Default)]
pub struct WatchParams {
    /// Namespace filter (None: all namespaces).
    pub namespace: Option<String>,
    /// `resourceVersion` (None/""/"0": start with the current state).
    pub resource_version: Option<String>,
    /// Label selector.
    pub labels: LabelSelector,
    /// Field selector.
    pub fields: FieldSelector,
    /// Close after this long.
    pub timeout: Duration,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `sendInitialEvents=true` (streaming lists).
    pub send_initial_events: bool,
    /// Response rendering.
    pub render: Render,
    /// `includeObject` for Table rendering.
    pub include_object: String,
}

fn line(kind: &str, object: Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn render(ri: &ResourceInfo, p: &WatchParams, served: &Value) -> Value {
    match p.render {
        Render::Full => served.clone(),
        Render::Metadata => table::partial_metadata(served),
        Render::Table => table::table(
            ri,
            std::slice::from_ref(served),
            json!({}),
            &p.include_object,
        ),
    }
}

fn bookmark(ri: &ResourceInfo, p: &WatchParams, rv: u64, initial_end: bool) -> Bytes {
    let (api_version, kind) = match p.render {
        Render::Full => (ri.api_version(), ri.kind.clone()),
        Render::Metadata => (
            "meta.k8s.io/v1".to_string(),
            "PartialObjectMetadata".to_string(),
        ),
        Render::Table => ("meta.k8s.io/v1".to_string(), "Table".to_string()),
    };
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    line(
        "BOOKMARK",
        json!({"apiVersion": api_version, "kind": kind, "metadata": meta}),
    )
}

/// The 410 answer to a too-old resourceVersion, as an ERROR event in a 200 stream
/// (kube's watcher relists on it; an HTTP 410 would make it retry forever).
pub fn expired_line(requested: &str, oldest: u64) -> Bytes {
    line(
        "ERROR",
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": format!("too old resource version: {requested} ({oldest})"),
               "reason": "Expired", "code": 410}),
    )
}

struct Filter {
    ri: Arc<ResourceInfo>,
    p: WatchParams,
}

impl Filter {
    fn matches(&self, stored: &Value) -> Option<Value> {
        if !self.p.labels.matches(stored) {
            return None;
        }
        let served = ApiServer::to_served(&self.ri, stored);
        self.p.fields.matches(&served).then_some(served)
    }

    /// Translate a store event into what this watch sees: an object entering the
    /// selection is ADDED, one leaving it is DELETED.
    fn translate(&self, ev: &Event) -> Option<(EventType, Value)> {
        if ev.key != self.ri.storage {
            return None;
        }
        if let Some(ns) = &self.p.namespace
            && self.ri.namespaced
            && ev.ns != *ns
        {
            return None;
        }
        match ev.kind {
            EventType::Added => self.matches(&ev.obj).map(|o| (EventType::Added, o)),
            EventType::Deleted => self.matches(&ev.obj).map(|o| (EventType::Deleted, o)),
            EventType::Modified => {
                let now = self.matches(&ev.obj);
                let before = ev.prev.as_ref().and_then(|p| self.matches(p)).is_some();
                match (before, now) {
                    (true, Some(o)) => Some((EventType::Modified, o)),
                    (false, Some(o)) => Some((EventType::Added, o)),
                    (true, None) => {
                        Some((EventType::Deleted, ApiServer::to_served(&self.ri, &ev.obj)))
                    }
                    (false, None) => None,
                }
            }
        }
    }
}

/// Start a watch. Setup (history replay + subscription) happens atomically under
/// the store lock, so no event is lost or duplicated between them.
pub fn watch(
    server: &ApiServer,
    ri: Arc<ResourceInfo>,
    p: WatchParams,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + use<> {
    let filter = Filter {
        ri: ri.clone(),
        p: p.clone(),
    };
    let bookmark_every = server.0.config.bookmark_interval;
    let mut first: Vec<Bytes> = Vec::new();
    let mut expired = false;
    let (mut rx, mut last_rv, min_rv) = {
        let txn = server.0.store.txn();
        let current = txn.rv();
        let rv_param = p.resource_version.clone().unwrap_or_default();
        let rx = txn.subscribe();
        if rv_param.is_empty() || rv_param == "0" || p.send_initial_events {
            // "Get state and start at most recent": synthetic ADDED for what exists now.
            let ns = if ri.namespaced {
                p.namespace.as_deref()
            } else {
                None
            };
            for stored in txn.list(&ri.storage, ns, None) {
                if let Some(served) = filter.matches(&stored) {
                    first.push(line("ADDED", render(&ri, &p, &served)));
                }
            }
            if p.send_initial_events {
                first.push(bookmark(&ri, &p, current, true));
            }
            (rx, current, current)
        } else {
            match rv_param.parse::<u64>() {
                Ok(n) => match txn.history_since(n) {
                    Some(events) => {
                        for ev in events {
                            if let Some((kind, obj)) = filter.translate(&ev) {
                                first.push(line(kind.as_str(), render(&ri, &p, &obj)));
                            }
                        }
                        (rx, current.max(n), n)
                    }
                    None => {
                        expired = true;
                        first.push(expired_line(&rv_param, txn.state.window_start));
                        (rx, current, current)
                    }
                },
                Err(_) => {
                    expired = true;
                    first.push(line(
                        "ERROR",
                        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                               "message": format!("invalid resource version {rv_param:?}"), "reason": "BadRequest", "code": 400}),
                    ));
                    (rx, current, current)
                }
            }
        }
    };
    let deadline = tokio::time::Instant::now() + p.timeout;
    async_stream::stream! {
        for b in first {
            yield Ok(b);
        }
        if expired {
            return;
        }
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + bookmark_every, bookmark_every);
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Ok(ev) => {
                        if ev.rv <= min_rv {
                            continue;
                        }
                        last_rv = ev.rv;
                        if let Some((kind, obj)) = filter.translate(&ev) {
                            yield Ok(line(kind.as_str(), render(&filter.ri, &filter.p, &obj)));
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        // Too slow a consumer: end with 410 so the client relists.
                        yield Ok(expired_line(&last_rv.to_string(), last_rv));
                        return;
                    }
                    Err(RecvError::Closed) => return,
                },
                _ = ticker.tick(), if filter.p.bookmarks => {
                    yield Ok(bookmark(&filter.ri, &filter.p, last_rv, false));
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if filter.p.bookmarks {
                        yield Ok(bookmark(&filter.ri, &filter.p, last_rv, false));
                    }
                    return;
                }
            }
        }
    }
}
