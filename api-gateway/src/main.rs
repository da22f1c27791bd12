//! pdfx-gateway: the REST API in front of pdfx (docs/architecture.md, "The REST API").
//!
//! A placeholder until the gateway is built: it says so and exits non-zero,
//! so nothing mistakes it for a working API.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "usage: pdfx-gateway\n\nThe REST gateway (POST /extract/pdf, GET /extract/status/{{task_id}}) is not \
         built yet; this binary only reserves its place in the workspace."
    );
    ExitCode::from(2)
}
