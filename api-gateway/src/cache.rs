//! Every `PdfExtraction`, as a watch sees it: status polls, lists and quota
//! checks read here and never ask the API server.
//!
//! Read-your-writes: a resource the gateway has just created is kept in
//! `recent` until the watch delivers it, so a poll right after the 202 never
//! answers 404. Every watch event bumps a counter that long polls wait on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use pdfx_crd::PdfExtraction;
use pdfx_runtime::Shutdown;
use pdfx_runtime::admin::ReadinessCheck;
use tokio::sync::watch;

/// How long a created resource is kept locally when the watch never shows it
/// (it was deleted at once, or the watch is down).
const RECENT_TTL: Duration = Duration::from_secs(300);

type Key = (String, String);

#[derive(Clone)]
pub struct TaskCache {
    store: Store<PdfExtraction>,
    inner: Arc<Inner>,
}

struct Inner {
    recent: Mutex<HashMap<Key, (Arc<PdfExtraction>, Instant)>>,
    changes: watch::Sender<u64>,
    /// Whether the API server answered last time (false after a watch error
    /// until a probe or the watch succeeds).
    healthy: AtomicBool,
    /// Whether the first full list has arrived.
    synced: AtomicBool,
    ready: ReadinessCheck,
}

/// The half that feeds the cache; run it with [`CacheWriter::run`].
pub struct CacheWriter {
    writer: reflector::store::Writer<PdfExtraction>,
    inner: Arc<Inner>,
}

impl TaskCache {
    /// A cache whose readiness check `ready` passes once the first list arrived.
    pub fn new(ready: ReadinessCheck) -> (TaskCache, CacheWriter) {
        let (store, writer) = reflector::store();
        ready.not_ready("waiting for the first list of PdfExtractions");
        let inner = Arc::new(Inner {
            recent: Mutex::new(HashMap::new()),
            changes: watch::channel(0).0,
            healthy: AtomicBool::new(false),
            synced: AtomicBool::new(false),
            ready,
        });
        (
            TaskCache {
                store,
                inner: inner.clone(),
            },
            CacheWriter { writer, inner },
        )
    }

    /// The task `name` of tenant `namespace`, if it exists (or was just created here).
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<PdfExtraction>> {
        let key = ObjectRef::new(name).within(namespace);
        if let Some(found) = self.store.get(&key) {
            return Some(found);
        }
        let recent = self
            .inner
            .recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        recent
            .get(&(namespace.to_owned(), name.to_owned()))
            .filter(|(_, at)| at.elapsed() < RECENT_TTL)
            .map(|(r, _)| r.clone())
    }

    /// Every task of one tenant (cached and just created).
    pub fn tenant_tasks(&self, namespace: &str) -> Vec<Arc<PdfExtraction>> {
        let mut tasks: Vec<_> = self
            .store
            .state_filter(|r| r.metadata.namespace.as_deref() == Some(namespace));
        let recent = self
            .inner
            .recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for ((ns, name), (r, at)) in recent.iter() {
            if ns == namespace
                && at.elapsed() < RECENT_TTL
                && self.store.get(&ObjectRef::new(name).within(ns)).is_none()
            {
                tasks.push(r.clone());
            }
        }
        tasks
    }

    /// Every cached resource (for the sweep).
    pub fn all(&self) -> Vec<Arc<PdfExtraction>> {
        self.store.state()
    }

    /// Remembers a resource the gateway created, until the watch shows it.
    pub fn remember_created(&self, resource: PdfExtraction) {
        let key = (
            resource.namespace().unwrap_or_default(),
            resource.name_any(),
        );
        let mut recent = self
            .inner
            .recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        recent.retain(|_, (_, at)| at.elapsed() < RECENT_TTL);
        recent.insert(key, (Arc::new(resource), Instant::now()));
        drop(recent);
        self.inner.changes.send_modify(|n| *n += 1);
    }

    /// Forgets a resource the gateway deleted.
    pub fn forget(&self, namespace: &str, name: &str) {
        self.inner
            .recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(namespace.to_owned(), name.to_owned()));
    }

    /// Changes whenever the watch delivers anything.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Whether the API server answered the last call or watch.
    pub fn is_healthy(&self) -> bool {
        self.inner.healthy.load(Ordering::Relaxed)
    }

    /// Records that an API call failed, so that the next submission is refused
    /// before its body is read unless a probe succeeds.
    pub fn mark_unhealthy(&self) {
        self.inner.healthy.store(false, Ordering::Relaxed);
    }

    /// Records that the API server answered (a probe or a request succeeded).
    pub fn mark_healthy(&self) {
        if !self.inner.healthy.swap(true, Ordering::Relaxed)
            && self.inner.synced.load(Ordering::Relaxed)
        {
            self.inner.ready.ready();
        }
    }

    /// Resolves once the first full list has arrived.
    pub async fn wait_synced(&self) {
        let _ = self.store.wait_until_ready().await;
    }
}

impl CacheWriter {
    /// Watches every PdfExtraction until `shutdown`, keeping the cache current.
    pub async fn run(self, client: Client, shutdown: Shutdown) {
        let CacheWriter { writer, inner } = self;
        let ready = &inner.ready;
        let api: Api<PdfExtraction> = Api::all(client);
        let events = reflector::reflector(
            writer,
            watcher(api, watcher::Config::default()).default_backoff(),
        );
        let mut events = std::pin::pin!(events);
        loop {
            let event = tokio::select! {
                event = events.next() => event,
                () = shutdown.wait() => return,
            };
            let Some(event) = event else { return };
            match event {
                Ok(watcher::Event::Apply(r) | watcher::Event::InitApply(r))
                | Ok(watcher::Event::Delete(r)) => {
                    inner.healthy.store(true, Ordering::Relaxed);
                    let key = (r.namespace().unwrap_or_default(), r.name_any());
                    inner
                        .recent
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&key);
                }
                Ok(watcher::Event::Init) => {}
                Ok(watcher::Event::InitDone) => {
                    inner.healthy.store(true, Ordering::Relaxed);
                    inner.synced.store(true, Ordering::Relaxed);
                    ready.ready();
                    tracing::info!("PdfExtraction cache synced");
                }
                Err(e) => {
                    if inner.healthy.swap(false, Ordering::Relaxed) {
                        tracing::warn!(error = %e, "the PdfExtraction watch failed; retrying");
                    } else {
                        tracing::debug!(error = %e, "the PdfExtraction watch failed again");
                    }
                    ready.not_ready(format!("the PdfExtraction watch failed: {e}"));
                }
            }
            inner.changes.send_modify(|n| *n += 1);
        }
    }
}
