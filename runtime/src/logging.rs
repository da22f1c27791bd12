//! One tracing set-up for every binary: JSON lines when stderr is not a
//! terminal (what log collectors in a cluster parse), compact text otherwise,
//! the level from `RUST_LOG`. Logs always go to stderr so that a binary's
//! stdout stays free for what it prints for people or scripts.

use std::io::IsTerminal;

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// The level when `RUST_LOG` is unset: our own crates at `info`, the chatty
/// HTTP and SDK stacks only when they warn.
pub const DEFAULT_FILTER: &str = "info,kube=warn,kube_runtime=warn,aws=warn,aws_config=warn,aws_smithy_runtime=warn,hyper=warn,hyper_util=warn,reqwest=warn,h2=warn,tower=warn,rustls=warn";

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// JSON lines when stderr is not a terminal, text otherwise.
    #[default]
    Auto,
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// Whether this format writes JSON, given whether stderr is a terminal.
    pub fn is_json(self, stderr_is_terminal: bool) -> bool {
        match self {
            LogFormat::Json => true,
            LogFormat::Text => false,
            LogFormat::Auto => !stderr_is_terminal,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("RUST_LOG is not a valid filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("a logger is already installed in this process")]
    AlreadySet,
}

/// The filter from `RUST_LOG`, or [`DEFAULT_FILTER`] when it is unset or empty.
pub fn filter_from_env() -> Result<EnvFilter, LoggingError> {
    match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => Ok(EnvFilter::try_new(directives)?),
        _ => Ok(EnvFilter::new(DEFAULT_FILTER)),
    }
}

/// Installs the process-wide subscriber. Call once, from `main`; library code
/// never installs one (so that `pdfx up` can compose libraries in one process).
pub fn init(format: LogFormat) -> Result<(), LoggingError> {
    let filter = filter_from_env()?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let installed = if format.is_json(std::io::stderr().is_terminal()) {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.compact().try_init()
    };
    installed.map_err(|_| LoggingError::AlreadySet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_writes_json_only_away_from_a_terminal() {
        assert!(LogFormat::Auto.is_json(false));
        assert!(!LogFormat::Auto.is_json(true));
        assert!(LogFormat::Json.is_json(true));
        assert!(!LogFormat::Text.is_json(false));
    }

    #[test]
    fn the_default_filter_parses() {
        assert!(EnvFilter::try_new(DEFAULT_FILTER).is_ok());
    }
}
