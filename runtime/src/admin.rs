//! The admin endpoints every long-running pdfx process serves:
//!
//! - `/healthz`: the process is alive (liveness probe);
//! - `/readyz`: every named readiness check passes (readiness probe); the body
//!   lists the checks the way the Kubernetes API server's `/readyz?verbose` does;
//! - `/metrics`: the Prometheus text format of one registry.
//!
//! [`Admin::router`] can be served on its own port ([`serve`]) or merged into a
//! service's own router (the gateway serves them beside its API).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};

use crate::Shutdown;

/// Content type of the Prometheus text exposition format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("binding the admin address {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("serving the admin endpoints: {0}")]
    Serve(std::io::Error),
    #[error("registering process metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// Readiness checks and metrics of one process.
#[derive(Clone, Debug)]
pub struct Admin {
    readiness: Readiness,
    registry: Registry,
}

impl Default for Admin {
    fn default() -> Self {
        Self::new()
    }
}

impl Admin {
    /// An admin state with no checks (ready) and an empty registry.
    pub fn new() -> Self {
        Self {
            readiness: Readiness::default(),
            registry: Registry::new(),
        }
    }

    /// As [`Admin::new`], with the process's CPU, memory and file-descriptor
    /// metrics (`process_*`) registered.
    pub fn with_process_metrics() -> Result<Self, AdminError> {
        let admin = Self::new();
        #[cfg(target_os = "linux")]
        admin.registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(admin)
    }

    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// The registry `/metrics` exposes; components register their metrics here.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// `/healthz`, `/readyz` and `/metrics`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .with_state(self.clone())
    }

    /// The metrics in the Prometheus text format.
    pub fn render_metrics(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::warn!(error = %e, "encoding metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

async fn readyz(State(admin): State<Admin>) -> impl IntoResponse {
    let report = admin.readiness.report();
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, report.to_string())
}

async fn metrics(State(admin): State<Admin>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)],
        admin.render_metrics(),
    )
}

/// Binds `listen` and serves the admin endpoints until `shutdown`.
pub async fn serve(listen: SocketAddr, admin: Admin, shutdown: Shutdown) -> Result<(), AdminError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| AdminError::Bind {
            addr: listen,
            source,
        })?;
    tracing::info!(addr = %listener.local_addr().unwrap_or(listen), "admin endpoints listening");
    axum::serve(listener, admin.router())
        .with_graceful_shutdown(shutdown.wait())
        .await
        .map_err(AdminError::Serve)
}

#[derive(Clone, Debug)]
struct CheckState {
    ready: bool,
    detail: String,
}

/// Named readiness checks; the process is ready when every one passes.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    checks: Arc<Mutex<BTreeMap<String, CheckState>>>,
}

/// What `/readyz` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadinessReport {
    pub ready: bool,
    /// Every check by name: whether it passes, and why not.
    pub checks: Vec<(String, bool, String)>,
}

impl std::fmt::Display for ReadinessReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (name, ready, detail) in &self.checks {
            if *ready {
                writeln!(f, "[+]{name} ok")?;
            } else if detail.is_empty() {
                writeln!(f, "[-]{name} failed")?;
            } else {
                writeln!(f, "[-]{name} failed: {detail}")?;
            }
        }
        if self.ready {
            write!(f, "readyz check passed")
        } else {
            write!(f, "readyz check failed")
        }
    }
}

impl Readiness {
    /// Registers a check, not passing until [`ReadinessCheck::ready`] is called.
    pub fn check(&self, name: &str) -> ReadinessCheck {
        self.with(|checks| {
            checks.insert(
                name.to_owned(),
                CheckState {
                    ready: false,
                    detail: "starting".to_owned(),
                },
            );
        });
        ReadinessCheck {
            name: name.to_owned(),
            readiness: self.clone(),
        }
    }

    pub fn is_ready(&self) -> bool {
        self.with(|checks| checks.values().all(|c| c.ready))
    }

    pub fn report(&self) -> ReadinessReport {
        self.with(|checks| ReadinessReport {
            ready: checks.values().all(|c| c.ready),
            checks: checks
                .iter()
                .map(|(name, c)| (name.clone(), c.ready, c.detail.clone()))
                .collect(),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, CheckState>) -> T) -> T {
        // A panic elsewhere while holding the lock leaves plain flags behind: still usable.
        let mut checks = self.checks.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut checks)
    }
}

/// One named readiness check, set by the component that owns it.
#[derive(Clone, Debug)]
pub struct ReadinessCheck {
    name: String,
    readiness: Readiness,
}

impl ReadinessCheck {
    pub fn ready(&self) {
        self.set(true, String::new());
    }

    pub fn not_ready(&self, why: impl Into<String>) {
        self.set(false, why.into());
    }

    pub fn is_ready(&self) -> bool {
        self.readiness
            .with(|checks| checks.get(&self.name).is_some_and(|c| c.ready))
    }

    fn set(&self, ready: bool, detail: String) {
        self.readiness.with(|checks| {
            checks.insert(self.name.clone(), CheckState { ready, detail });
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get(admin: &Admin, path: &str) -> (StatusCode, String, Option<String>) {
        let response = admin
            .router()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            String::from_utf8(body.to_vec()).unwrap(),
            content_type,
        )
    }

    #[tokio::test]
    async fn readyz_waits_for_every_named_check() {
        let admin = Admin::new();
        let (status, body, _) = get(&admin, "/readyz").await;
        assert_eq!(status, StatusCode::OK, "no checks: ready");
        assert_eq!(body, "readyz check passed");

        let cache = admin.readiness().check("cache");
        let crd = admin.readiness().check("crd");
        crd.ready();
        cache.not_ready("syncing 3 of 5");
        let (status, body, _) = get(&admin, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body,
            "[-]cache failed: syncing 3 of 5\n[+]crd ok\nreadyz check failed"
        );

        cache.ready();
        assert!(cache.is_ready());
        let (status, body, _) = get(&admin, "/readyz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "[+]cache ok\n[+]crd ok\nreadyz check passed");
    }

    #[tokio::test]
    async fn healthz_and_metrics_answer() {
        let admin = Admin::with_process_metrics().unwrap();
        let counter = prometheus::IntCounter::new("pdfx_test_total", "a test counter").unwrap();
        admin
            .registry()
            .register(Box::new(counter.clone()))
            .unwrap();
        counter.inc_by(3);
        let (status, body, _) = get(&admin, "/healthz").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
        let (status, body, content_type) = get(&admin, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some(METRICS_CONTENT_TYPE));
        assert!(body.contains("pdfx_test_total 3"), "{body}");
        assert!(body.contains("process_resident_memory_bytes"), "{body}");
    }

    #[tokio::test]
    async fn serve_stops_on_shutdown_and_reports_bind_errors() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let error = serve(addr, Admin::new(), Shutdown::new())
            .await
            .unwrap_err();
        assert!(matches!(error, AdminError::Bind { .. }), "{error}");

        let shutdown = Shutdown::new();
        let free = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let server = tokio::spawn(serve(free, Admin::new(), shutdown.clone()));
        shutdown.trigger();
        let finished = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
        assert!(matches!(finished, Ok(Ok(Ok(())))), "{finished:?}");
    }
}
