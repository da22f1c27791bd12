//! pdfx-gateway: the REST API in front of pdfx (docs/architecture.md, "The REST API").
//!
//! `POST /extract/pdf` streams an upload into storage and creates a
//! `PdfExtraction` for it; `GET /extract/status/{task_id}` answers from a watch
//! cache (never the API server) with the body of `pdfx_crd::rest::task_status`;
//! results are streamed from storage. `pdfx-gateway` and `pdfx up` both call
//! [`run_with_listener`]; tests use [`router`] with an [`AppState`].

pub mod auth;
pub mod cache;
pub mod config;
pub mod console;
pub mod error;
pub mod extraction;
pub mod lang;
pub mod metrics;
pub mod openapi;
pub mod options;
pub mod routes;
pub mod state;
pub mod sweep;
pub mod upload;

use std::net::SocketAddr;
use std::time::Duration;

use pdfx_runtime::{Admin, Shutdown};
use pdfx_storage::{S3Config, Store};

pub use config::{ConfigError, GatewayArgs, GatewayConfig};
pub use routes::router;
pub use state::AppState;

use crate::auth::Keys;
use crate::cache::TaskCache;
use crate::config::AuthConfig;
use crate::metrics::Metrics;

/// How often storage is probed for `/readyz` and the fast 503.
pub const STORAGE_PROBE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("opening storage: {0}")]
    Storage(#[from] pdfx_storage::StorageError),
    #[error("registering metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("loading API keys: {0}")]
    Keys(String),
    #[error("listening on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("serving the API: {0}")]
    Serve(std::io::Error),
}

/// Binds `listen`, then [`run_with_listener`].
pub async fn run(
    listen: SocketAddr,
    client: kube::Client,
    config: GatewayConfig,
    s3: S3Config,
    admin: &Admin,
    shutdown: Shutdown,
) -> Result<(), GatewayError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| GatewayError::Bind {
            addr: listen,
            source,
        })?;
    run_with_listener(listener, client, config, s3, admin, shutdown).await
}

/// Serves the API and the admin endpoints (`/healthz`, `/readyz`, `/metrics`)
/// on `listener` until `shutdown`. Readiness checks: `pdfextraction-cache`
/// (the watch has listed everything), `storage` (the last probe answered),
/// and `api-keys-secret` when keys come from a Secret.
pub async fn run_with_listener(
    listener: tokio::net::TcpListener,
    client: kube::Client,
    config: GatewayConfig,
    s3: S3Config,
    admin: &Admin,
    shutdown: Shutdown,
) -> Result<(), GatewayError> {
    let (store, base) = Store::from_uri(&config.storage, &s3).await?;
    let metrics = Metrics::registered_in(admin.registry())?;
    let (cache, writer) = TaskCache::new(admin.readiness().check("pdfextraction-cache"));
    let keys = Keys::new(&config.auth);
    let mut tasks = tokio::task::JoinSet::new();
    if let AuthConfig::Keys { file, secret } = &config.auth {
        if let Some(path) = file {
            let n = keys.load_file(path).await.map_err(GatewayError::Keys)?;
            tracing::info!(path = %path.display(), keys = n, "API keys loaded");
            tasks.spawn(keys.clone().watch_file(path.clone(), shutdown.clone()));
        }
        if let Some((namespace, name)) = secret {
            let ready = admin.readiness().check("api-keys-secret");
            tasks.spawn(keys.clone().watch_secret(
                client.clone(),
                namespace.clone(),
                name.clone(),
                ready,
                shutdown.clone(),
            ));
        }
    }
    let state = AppState::new(state::Parts {
        config,
        client: client.clone(),
        store,
        base,
        cache,
        keys,
        metrics,
        shutdown: shutdown.clone(),
    });
    tasks.spawn(writer.run(client, shutdown.clone()));
    tasks.spawn(probe_storage(
        state.clone(),
        admin.readiness().check("storage"),
        shutdown.clone(),
    ));
    tasks.spawn(sweep::run(state.clone(), shutdown.clone()));

    let app = router(state).merge(admin.router());
    let addr = listener.local_addr().map_err(GatewayError::Serve)?;
    tracing::info!(%addr, "gateway listening");
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.wait())
        .await
        .map_err(GatewayError::Serve);
    shutdown.trigger();
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    served
}

/// Probes storage every [`STORAGE_PROBE`] by listing an empty prefix: cheap,
/// and it fails on a missing bucket or a server that is down.
async fn probe_storage(
    state: AppState,
    ready: pdfx_runtime::admin::ReadinessCheck,
    shutdown: Shutdown,
) {
    let probe_prefix = state.storage_key("pdfx-gateway-probe/");
    loop {
        let listed = tokio::time::timeout(STORAGE_PROBE, state.store().list(&probe_prefix)).await;
        match listed {
            Ok(Ok(_)) => {
                state.set_storage_ok(true);
                ready.ready();
            }
            Ok(Err(e)) if e.is_not_found() && matches!(state.store(), Store::Local(_)) => {
                state.set_storage_ok(true);
                ready.ready();
            }
            Ok(Err(e)) => {
                state.set_storage_ok(false);
                ready.not_ready(format!("storage: {e}"));
            }
            Err(_) => {
                state.set_storage_ok(false);
                ready.not_ready("storage: the probe timed out");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(STORAGE_PROBE) => {}
            () = shutdown.wait() => return,
        }
    }
}
