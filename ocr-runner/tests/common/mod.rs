//! Helpers shared by the runner's integration tests: generated documents, the
//! real binary, and reading what it wrote.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use pdfx_crd::result::ResultDocument;
use pdfx_crd::runner::TerminationMessage;
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage, SampleSpec, write_sample};

pub const RUNNER: &str = env!("CARGO_BIN_EXE_pdfx-ocr-runner");

pub fn sample(
    dir: &Path,
    name: &str,
    pages: u32,
    kind: SampleKind,
    language: SampleLanguage,
) -> PathBuf {
    let path = dir.join(name);
    write_sample(&path, &SampleSpec::new(pages, kind, language)).unwrap();
    path
}

/// The runner as a child process, as a Job runs it.
pub fn runner() -> Command {
    let mut command = Command::new(RUNNER);
    command
        .env("RUST_LOG", "warn")
        .env("PDFX_LOG_FORMAT", "text");
    command
}

pub struct Run {
    pub output: Output,
    pub termination: Option<TerminationMessage>,
    pub elapsed: Duration,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
}

/// Runs `extract SOURCE --out OUT ARGS…` with a termination log and collects everything.
pub fn extract(source: &Path, out: &Path, args: &[&str]) -> Run {
    let termination = out.with_extension("termination");
    let _ = std::fs::remove_file(&termination);
    let started = Instant::now();
    let output = runner()
        .arg("extract")
        .arg(source)
        .arg("--out")
        .arg(out)
        .arg("--termination-log")
        .arg(&termination)
        .args(args)
        .output()
        .unwrap();
    let termination = std::fs::read_to_string(&termination)
        .ok()
        .and_then(|t| TerminationMessage::parse(&t));
    Run {
        output,
        termination,
        elapsed: started.elapsed(),
    }
}

pub fn result(out: &Path) -> ResultDocument {
    serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap()
}
