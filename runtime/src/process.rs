//! The `main` of a pdfx service binary: the process-wide TLS provider,
//! logging from the shared flags, a multi-threaded Tokio runtime, and one
//! way of reporting the error that stopped it.

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

use crate::args::LogArgs;

/// Runs `body` to completion: its exit code, or failure after printing its error.
/// `program` names the binary in the closing log line. An error is printed
/// with `{:#}`, so an `anyhow::Error` shows its whole context chain on one
/// line.
pub fn main<F, E>(program: &str, log: &LogArgs, body: impl FnOnce() -> F) -> ExitCode
where
    F: Future<Output = Result<ExitCode, E>>,
    E: Display,
{
    // kube, the S3 client and reqwest all use rustls; the provider is chosen
    // once for the process (a second install is a no-op error, ignored).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    if let Err(e) = log.init() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(body()) {
        Ok(code) => code,
        Err(e) => {
            // Log collectors read the structured line; a person at a
            // terminal reads the plain one, once.
            if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                tracing::error!(error = format!("{e:#}"), "{program} stopped");
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
