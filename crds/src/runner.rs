//! The contract between the runner and the operator (docs/architecture.md,
//! "The runner contract"): the environment the Job gives the runner
//! ([`RunnerOptions`], [`env`]), the exit codes the Job's `podFailurePolicy`
//! matches, and the one-line termination message the operator reads from the
//! pod status.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::result::Summary;
use crate::{FailureReason, OcrEngine, OcrMode, OcrOptions};

/// Names of the variables the Job sets for the runner. The runner's command
/// line takes each as the fallback of the matching flag.
pub mod env {
    /// The PDF: `s3://bucket/key`, `file:///path` or an `https://` URL.
    pub const SOURCE: &str = "PDFX_SOURCE";
    /// Where results go: `s3://bucket/prefix/` or `file:///dir/`.
    pub const OUTPUT: &str = "PDFX_OUTPUT";
    /// Tesseract languages joined by `+`.
    pub const LANGUAGES: &str = "PDFX_LANGUAGES";
    pub const DPI: &str = "PDFX_DPI";
    /// `auto`, `always` or `never` ([`crate::OcrMode`]'s wire names).
    pub const MODE: &str = "PDFX_MODE";
    /// Page selection, `1-5,9`.
    pub const PAGES: &str = "PDFX_PAGES";
    /// `tesseract` or `http` ([`crate::OcrEngine`]'s wire names).
    pub const ENGINE: &str = "PDFX_ENGINE";
    /// The OCR server of `engine: http`.
    pub const OCR_ENDPOINT: &str = "PDFX_OCR_ENDPOINT";
    /// `auto`, `text` or `json`; Jobs always log JSON.
    pub const LOG_FORMAT: &str = "PDFX_LOG_FORMAT";
    /// Comma-separated address ranges a `url` source may resolve to although
    /// they are loopback, private or link-local ([`crate::ip_range`]).
    pub const URL_ALLOWED_RANGES: &str = "PDFX_URL_ALLOWED_RANGES";
    /// Where the kubelet-like executor wants the termination message, when the
    /// runner cannot own `/dev/termination-log` (single-machine mode).
    pub const TERMINATION_MESSAGE_PATH: &str = "TERMINATION_MESSAGE_PATH";
}

/// The wire name of a contract enum: the same serde name the CRD uses.
pub fn wire_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// Reads a contract enum from its wire name.
pub fn parse_wire<T: DeserializeOwned>(name: &str) -> Result<T, RunnerEnvError> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).map_err(|_| {
        RunnerEnvError::Invalid {
            name: std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("value"),
            value: name.to_owned(),
        }
    })
}

/// Every wire name of [`OcrMode`], for command-line help and validation.
pub const MODE_NAMES: [&str; 3] = ["auto", "always", "never"];
/// Every wire name of [`OcrEngine`].
pub const ENGINE_NAMES: [&str; 2] = ["tesseract", "http"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunnerEnvError {
    #[error("{0} is not set")]
    Missing(&'static str),
    #[error("{value:?} is not a valid {name}")]
    Invalid { name: &'static str, value: String },
}

/// What one attempt's Job asks of the runner: everything the operator decides
/// from the resource, carried as environment variables ([`env`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunnerOptions {
    pub source: String,
    pub output: String,
    /// Tesseract language codes, in order.
    pub languages: Vec<String>,
    pub dpi: u32,
    pub mode: OcrMode,
    pub pages: Option<String>,
    pub engine: OcrEngine,
    /// Required with `engine: http`.
    pub ocr_endpoint: Option<String>,
    /// Non-public address ranges a `url` source may still reach (CIDRs).
    pub url_allowed_ranges: Vec<String>,
}

impl RunnerOptions {
    /// The options for a resource's `spec.ocr`, read from `source` into `output`.
    pub fn new(source: String, output: String, ocr: &OcrOptions) -> Self {
        Self {
            source,
            output,
            languages: ocr.languages.clone(),
            dpi: ocr.dpi,
            mode: ocr.mode,
            pages: ocr.pages.clone().filter(|p| !p.trim().is_empty()),
            engine: ocr.engine,
            ocr_endpoint: None,
            url_allowed_ranges: Vec::new(),
        }
    }

    /// The variables, in a stable order. Jobs log JSON: it is what log
    /// collectors read.
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let mut vars = vec![
            (env::SOURCE, self.source.clone()),
            (env::OUTPUT, self.output.clone()),
            (env::LANGUAGES, join_languages(&self.languages)),
            (env::DPI, self.dpi.to_string()),
            (env::MODE, wire_name(&self.mode)),
            (env::LOG_FORMAT, "json".to_owned()),
        ];
        if let Some(pages) = &self.pages {
            vars.push((env::PAGES, pages.clone()));
        }
        vars.push((env::ENGINE, wire_name(&self.engine)));
        if let Some(endpoint) = &self.ocr_endpoint {
            vars.push((env::OCR_ENDPOINT, endpoint.clone()));
        }
        if !self.url_allowed_ranges.is_empty() {
            vars.push((env::URL_ALLOWED_RANGES, self.url_allowed_ranges.join(",")));
        }
        vars
    }

    /// The options from variables (`lookup` is `std::env::var(..).ok()` in a
    /// process); unset optional variables take the CRD's defaults.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, RunnerEnvError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let defaults = OcrOptions::default();
        let dpi = match get(env::DPI) {
            Some(text) => text.trim().parse().map_err(|_| RunnerEnvError::Invalid {
                name: env::DPI,
                value: text.clone(),
            })?,
            None => defaults.dpi,
        };
        Ok(Self {
            source: get(env::SOURCE).ok_or(RunnerEnvError::Missing(env::SOURCE))?,
            output: get(env::OUTPUT).ok_or(RunnerEnvError::Missing(env::OUTPUT))?,
            languages: get(env::LANGUAGES)
                .map(|l| split_languages(&l))
                .unwrap_or(defaults.languages),
            dpi,
            mode: get(env::MODE)
                .map(|m| parse_wire(m.trim()))
                .transpose()?
                .unwrap_or(defaults.mode),
            pages: get(env::PAGES),
            engine: get(env::ENGINE)
                .map(|e| parse_wire(e.trim()))
                .transpose()?
                .unwrap_or(defaults.engine),
            ocr_endpoint: get(env::OCR_ENDPOINT),
            url_allowed_ranges: get(env::URL_ALLOWED_RANGES)
                .map(|ranges| {
                    ranges
                        .split(',')
                        .map(str::trim)
                        .filter(|r| !r.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// Languages as the runner's flag takes them: `kor+eng`.
pub fn join_languages(languages: &[String]) -> String {
    languages.join("+")
}

/// Splits `kor+eng` (or `kor,eng`) into codes, dropping empty parts.
pub fn split_languages(text: &str) -> Vec<String> {
    text.split(['+', ','])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The extraction succeeded.
pub const EXIT_SUCCESS: i32 = 0;
/// A failure that may not happen again: retry.
pub const EXIT_TRANSIENT: i32 = 1;
/// The input can never be extracted (not a PDF, encrypted, no pages, bad range): fail at once.
pub const EXIT_INVALID_INPUT: i32 = 2;
/// The source is missing or access was denied: fail at once.
pub const EXIT_SOURCE_UNAVAILABLE: i32 = 3;

/// Kubernetes keeps at most this many bytes of a termination message.
pub const TERMINATION_MESSAGE_LIMIT: usize = 4096;

/// The exit code that carries a failure reason to the Job's `podFailurePolicy`.
pub fn exit_code_for(reason: FailureReason) -> i32 {
    match reason {
        FailureReason::InvalidPdf
        | FailureReason::EncryptedPdf
        | FailureReason::NoPages
        | FailureReason::PageRangeOutOfBounds
        | FailureReason::InvalidSpec => EXIT_INVALID_INPUT,
        FailureReason::SourceNotFound | FailureReason::AccessDenied => EXIT_SOURCE_UNAVAILABLE,
        FailureReason::OomKilled
        | FailureReason::DeadlineExceeded
        | FailureReason::Unschedulable
        | FailureReason::ImagePullFailed
        | FailureReason::StartTimeout
        | FailureReason::RetriesExhausted
        | FailureReason::Transient => EXIT_TRANSIENT,
    }
}

/// What the runner writes to the termination-message path: one line of JSON.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "outcome", rename_all = "camelCase")]
pub enum TerminationMessage {
    #[serde(rename_all = "camelCase")]
    Succeeded {
        /// URI of `result.json`.
        location: String,
        summary: Summary,
    },
    #[serde(rename_all = "camelCase")]
    Failed {
        reason: FailureReason,
        message: String,
    },
}

impl TerminationMessage {
    /// One line of JSON within Kubernetes' size limit; an overlong failure
    /// message is shortened rather than lost.
    pub fn to_line(&self) -> String {
        let line = serde_json::to_string(self).unwrap_or_default();
        if line.len() <= TERMINATION_MESSAGE_LIMIT {
            return line;
        }
        match self {
            TerminationMessage::Failed { reason, message } => {
                // Escaping can multiply a character's size, so halve until it fits.
                let mut budget = TERMINATION_MESSAGE_LIMIT / 2;
                loop {
                    let mut cut = budget.min(message.len());
                    while !message.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    let short = TerminationMessage::Failed {
                        reason: *reason,
                        message: format!("{}…", &message[..cut]),
                    };
                    let line = serde_json::to_string(&short).unwrap_or_default();
                    if line.len() <= TERMINATION_MESSAGE_LIMIT || budget == 0 {
                        return line;
                    }
                    budget /= 2;
                }
            }
            TerminationMessage::Succeeded { .. } => line,
        }
    }

    /// Reads a termination message; `None` when the pod left none or garbage
    /// (the operator then falls back to the exit code).
    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_str(text.trim()).ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&'static str, String)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn every_field_round_trips_through_the_environment() {
        let full = RunnerOptions {
            source: "s3://bucket/extractions/ns/a/source.pdf".into(),
            output: "s3://bucket/extractions/ns/a/".into(),
            languages: vec!["kor".into(), "eng".into()],
            dpi: 450,
            mode: OcrMode::Always,
            pages: Some("1-5,9".into()),
            engine: OcrEngine::Http,
            ocr_endpoint: Some("http://ocr:8000/v1".into()),
            url_allowed_ranges: vec!["10.20.0.0/16".into(), "fd00::/8".into()],
        };
        let vars = full.to_env();
        assert_eq!(RunnerOptions::from_env(lookup(&vars)), Ok(full.clone()));
        let names: Vec<&str> = vars.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            names,
            [
                env::SOURCE,
                env::OUTPUT,
                env::LANGUAGES,
                env::DPI,
                env::MODE,
                env::LOG_FORMAT,
                env::PAGES,
                env::ENGINE,
                env::OCR_ENDPOINT,
                env::URL_ALLOWED_RANGES
            ]
        );
        assert_eq!(vars[2].1, "kor+eng");
        assert_eq!(vars[4].1, "always");
        assert_eq!(vars[7].1, "http");

        for mode in [OcrMode::Auto, OcrMode::Always, OcrMode::Never] {
            for engine in [OcrEngine::Tesseract, OcrEngine::Http] {
                let options = RunnerOptions {
                    mode,
                    engine,
                    pages: None,
                    ocr_endpoint: None,
                    ..full.clone()
                };
                assert_eq!(
                    RunnerOptions::from_env(lookup(&options.to_env())),
                    Ok(options)
                );
            }
        }
    }

    #[test]
    fn wire_names_are_the_crd_names() {
        assert_eq!(
            [OcrMode::Auto, OcrMode::Always, OcrMode::Never].map(|m| wire_name(&m)),
            MODE_NAMES
        );
        assert_eq!(
            [OcrEngine::Tesseract, OcrEngine::Http].map(|e| wire_name(&e)),
            ENGINE_NAMES
        );
        assert_eq!(parse_wire::<OcrMode>("never"), Ok(OcrMode::Never));
        assert_eq!(
            parse_wire::<OcrEngine>("Tesseract"),
            Err(RunnerEnvError::Invalid {
                name: "OcrEngine",
                value: "Tesseract".into()
            })
        );
    }

    #[test]
    fn defaults_and_bad_values_from_the_environment() {
        let minimal = [
            (env::SOURCE, "file:///in.pdf".to_owned()),
            (env::OUTPUT, "file:///out/".to_owned()),
        ];
        let options = RunnerOptions::from_env(lookup(&minimal)).unwrap();
        assert_eq!(
            options,
            RunnerOptions::new(
                "file:///in.pdf".into(),
                "file:///out/".into(),
                &OcrOptions::default()
            )
        );
        assert_eq!(
            RunnerOptions::from_env(lookup(&minimal[..1])),
            Err(RunnerEnvError::Missing(env::OUTPUT))
        );
        let bad_dpi = [
            minimal[0].clone(),
            minimal[1].clone(),
            (env::DPI, "lots".to_owned()),
        ];
        assert!(matches!(
            RunnerOptions::from_env(lookup(&bad_dpi)),
            Err(RunnerEnvError::Invalid { name: env::DPI, .. })
        ));
        assert_eq!(split_languages(" kor + eng,,jpn "), ["kor", "eng", "jpn"]);
    }

    #[test]
    fn exit_codes_follow_the_design() {
        assert_eq!(exit_code_for(FailureReason::InvalidPdf), 2);
        assert_eq!(exit_code_for(FailureReason::EncryptedPdf), 2);
        assert_eq!(exit_code_for(FailureReason::PageRangeOutOfBounds), 2);
        assert_eq!(exit_code_for(FailureReason::SourceNotFound), 3);
        assert_eq!(exit_code_for(FailureReason::AccessDenied), 3);
        assert_eq!(exit_code_for(FailureReason::Transient), 1);
    }

    #[test]
    fn termination_messages_round_trip_on_one_line() {
        let failed = TerminationMessage::Failed {
            reason: FailureReason::EncryptedPdf,
            message: "needs a password".into(),
        };
        let line = failed.to_line();
        assert_eq!(
            line,
            r#"{"outcome":"failed","reason":"EncryptedPdf","message":"needs a password"}"#
        );
        assert_eq!(
            TerminationMessage::parse(&format!("{line}\n")),
            Some(failed)
        );
        let ok = TerminationMessage::Succeeded {
            location: "s3://b/k/result.json".into(),
            summary: Summary {
                pages: 3,
                ..Summary::default()
            },
        };
        assert_eq!(TerminationMessage::parse(&ok.to_line()), Some(ok));
        assert_eq!(TerminationMessage::parse("Error: boom"), None);
    }

    #[test]
    fn overlong_messages_are_shortened_to_fit() {
        let failed = TerminationMessage::Failed {
            reason: FailureReason::InvalidPdf,
            message: "가".repeat(10_000),
        };
        let line = failed.to_line();
        assert!(line.len() <= TERMINATION_MESSAGE_LIMIT, "{}", line.len());
        assert!(matches!(
            TerminationMessage::parse(&line),
            Some(TerminationMessage::Failed {
                reason: FailureReason::InvalidPdf,
                ..
            })
        ));
    }
}
