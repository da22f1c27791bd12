//! Plumbing every pdfx binary shares, so that the runner, the operator, the
//! emulator, the gateway and the all-in-one `pdfx` start, log, report health
//! and stop the same way (docs/architecture.md, "Shared runtime").
//!
//! - [`logging`]: one tracing set-up (`--log-format auto|text|json`, level from `RUST_LOG`);
//! - [`admin`]: `/healthz`, `/readyz` with named checks, `/metrics`;
//! - [`shutdown`]: one cancellation token that SIGTERM and Ctrl-C trigger;
//! - [`args`]: command-line groups flattened into each binary;
//! - [`quantity`]: Kubernetes resource quantities as exact numbers;
//! - [`process`]: the `main` of a service binary (TLS provider, logging, runtime, exit code).

#[cfg(feature = "admin")]
pub mod admin;
pub mod args;
pub mod logging;
pub mod process;
pub mod quantity;
pub mod shutdown;

#[cfg(feature = "admin")]
pub use admin::{Admin, Readiness, ReadinessCheck};
pub use shutdown::Shutdown;
