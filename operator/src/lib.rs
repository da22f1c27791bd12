//! pdfx-operator: reconciles `PdfExtraction` resources into Jobs.
//!
//! The decisions (which Job, which status, whether to retry, whom to admit)
//! are pure functions in [`decide`], [`job`] and [`observe`]; the controller
//! shell around them only reads and writes.

pub mod config;
pub mod controller;
pub mod decide;
pub mod job;
pub mod leader;
pub mod metrics;
pub mod observe;
mod run;

pub use run::{RunError, run};
