//! Graceful shutdown: one token that SIGTERM (what Kubernetes sends a pod) and
//! Ctrl-C trigger, handed to every part of a process. Composed binaries
//! (`pdfx up`) share one, so a signal stops every part in order.

use std::future::Future;

use tokio_util::sync::CancellationToken;

/// A cloneable shutdown signal.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    /// A shutdown that only [`Shutdown::trigger`] starts.
    pub fn new() -> Self {
        Self::default()
    }

    /// A shutdown that also starts on SIGTERM or Ctrl-C. Needs a Tokio runtime.
    pub fn on_signals() -> Self {
        let shutdown = Self::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            let signal = signal().await;
            tracing::info!(signal, "shutting down");
            trigger.trigger();
        });
        shutdown
    }

    /// Starts the shutdown; every waiter wakes.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once the shutdown has started.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        self.token.clone().cancelled_owned()
    }

    /// A child that stops with this one and can also be stopped on its own.
    pub fn child(&self) -> Self {
        Self {
            token: self.token.child_token(),
        }
    }

    /// The underlying token, for APIs that take one.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }
}

/// Waits for SIGTERM or Ctrl-C (SIGINT) and names the one that came.
pub async fn signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops this process");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_trigger_wakes_every_waiter_and_children() {
        let shutdown = Shutdown::new();
        let child = shutdown.child();
        let waiters = [shutdown.wait(), shutdown.clone().wait(), child.wait()];
        assert!(!child.is_triggered());
        shutdown.trigger();
        for waiter in waiters {
            tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
                .await
                .map_err(|_| "a waiter did not wake")
                .unwrap_or_else(|e| panic!("{e}"));
        }
        assert!(child.is_triggered());
    }

    #[tokio::test]
    async fn a_child_stops_alone() {
        let shutdown = Shutdown::new();
        let child = shutdown.child();
        child.trigger();
        assert!(child.is_triggered());
        assert!(!shutdown.is_triggered());
    }
}
