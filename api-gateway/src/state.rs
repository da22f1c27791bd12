//! What every handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use kube::{Api, Client};
use pdfx_crd::PdfExtraction;
use pdfx_runtime::Shutdown;
use pdfx_storage::Store;

use crate::auth::Keys;
use crate::cache::TaskCache;
use crate::config::GatewayConfig;
use crate::metrics::Metrics;

/// The gateway's shared state: cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    config: GatewayConfig,
    client: Client,
    store: Store,
    /// Key prefix of the storage URL within `store`.
    base: String,
    cache: TaskCache,
    keys: Keys,
    metrics: Metrics,
    storage_ok: AtomicBool,
    shutdown: Shutdown,
}

/// The parts an [`AppState`] is made of.
pub struct Parts {
    pub config: GatewayConfig,
    pub client: Client,
    pub store: Store,
    pub base: String,
    pub cache: TaskCache,
    pub keys: Keys,
    pub metrics: Metrics,
    pub shutdown: Shutdown,
}

impl AppState {
    pub fn new(parts: Parts) -> Self {
        Self(Arc::new(Inner {
            config: parts.config,
            client: parts.client,
            store: parts.store,
            base: parts.base,
            cache: parts.cache,
            keys: parts.keys,
            metrics: parts.metrics,
            storage_ok: AtomicBool::new(true),
            shutdown: parts.shutdown,
        }))
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.0.config
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The full key of `relative` (a key relative to the storage URL).
    pub fn storage_key(&self, relative: &str) -> String {
        pdfx_storage::key::join(&self.0.base, relative)
    }

    /// The key relative to the storage URL of a full key, if it lies under it.
    pub fn relative_key<'a>(&self, full: &'a str) -> Option<&'a str> {
        if self.0.base.is_empty() {
            return Some(full);
        }
        let base = self.0.base.trim_end_matches('/');
        full.strip_prefix(base)?.strip_prefix('/')
    }

    /// The storage prefix under which all of `relative` lies.
    pub fn base(&self) -> &str {
        &self.0.base
    }

    pub fn cache(&self) -> &TaskCache {
        &self.0.cache
    }

    pub fn keys(&self) -> &Keys {
        &self.0.keys
    }

    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    pub fn client(&self) -> &Client {
        &self.0.client
    }

    pub fn extractions(&self, namespace: &str) -> Api<PdfExtraction> {
        Api::namespaced(self.0.client.clone(), namespace)
    }

    pub fn shutdown(&self) -> &Shutdown {
        &self.0.shutdown
    }

    /// Whether the last storage probe succeeded.
    pub fn storage_ok(&self) -> bool {
        self.0.storage_ok.load(Ordering::Relaxed)
    }

    pub fn set_storage_ok(&self, ok: bool) {
        self.0.storage_ok.store(ok, Ordering::Relaxed);
    }
}
