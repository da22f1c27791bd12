//! `pdfx-devcluster`: a Kubernetes API emulator and local Job executor.
//!
//! The emulator speaks the Kubernetes REST protocol over HTTP (axum), generic over
//! resources stored as JSON by group/resource/namespace/name, persisted to a data
//! directory, and faithful enough for the unmodified kube client, watcher,
//! reflector, Controller and finalizer helper, and for `kubectl`. See
//! `/work/shared/kube-api-emulator-protocol.md` for the protocol checklist and the
//! README for the known differences from a real API server.

pub mod api;
pub mod builtins;
pub mod crd;
pub mod discovery;
pub mod error;
pub mod executor;
pub mod gc;
pub mod http;
pub mod k8s_schema;
pub mod patch;
pub mod persist;
pub mod protobuf;
pub mod registry;
pub mod schema;
pub mod selectors;
pub mod ssa;
pub mod stats;
pub mod store;
pub mod table;
pub mod watch;

use std::net::SocketAddr;

pub use api::{ApiServer, Config};
pub use crd::install_pdfx_crd;
pub use error::{ApiError, ApiResult};
pub use http::router;

/// A running emulator: the HTTP listener, its connections and the garbage collector.
/// Dropping it (or [`Running::shutdown`]) stops everything, connections included,
/// which is what a restart test needs.
#[derive(Debug)]
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// The server state.
    pub server: ApiServer,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop the listener, every open connection (watches included) and the GC.
    pub fn shutdown(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }

    /// Attach another background task to this server's lifetime (e.g. the executor).
    pub fn attach(&mut self, task: tokio::task::JoinHandle<()>) {
        self.tasks.push(task);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Serve `server` on `addr` (e.g. `127.0.0.1:0`) and start its garbage collector.
pub async fn start(server: ApiServer, addr: &str) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = router(server.clone());
    let accept = tokio::spawn(async move {
        // Connection tasks live in this set, so aborting the accept task closes them all.
        let mut conns = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, _) = match accepted {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let svc = hyper_util::service::TowerToHyperService::new(app.clone());
                    conns.spawn(async move {
                        let io = hyper_util::rt::TokioIo::new(stream);
                        if let Err(e) = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                    });
                }
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    });
    let gc = tokio::spawn(server.clone().run_gc());
    tracing::info!(addr = %local, "devcluster API server listening");
    Ok(Running {
        addr: local,
        server,
        tasks: vec![accept, gc],
    })
}

/// A kubeconfig pointing at `url` without authentication.
pub fn kubeconfig(url: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: devcluster\n  cluster:\n    server: {url}\ncontexts:\n- name: devcluster\n  context:\n    cluster: devcluster\n    user: devcluster\n    namespace: default\ncurrent-context: devcluster\nusers:\n- name: devcluster\n  user: {{}}\npreferences: {{}}\n"
    )
}
