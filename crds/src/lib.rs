//! The `PdfExtraction` API (`pdfx.dev/v1alpha1`) and every contract the parts of
//! pdfx share: the resource types and their generated CRD, status helpers, the
//! REST view of a status, page ranges, the object-storage layout of an extraction
//! and the runner's result and exit-code contract.
//!
//! The gateway, the operator, the runner and the CLI all depend on this crate so
//! that none of them redefines a field, a key or a mapping.

pub mod conditions;
pub mod crd;
pub mod ip_range;
pub mod layout;
pub mod pages;
pub mod reasons;
pub mod rest;
pub mod result;
pub mod runner;
pub mod types;

pub use pages::{PageRange, PageRangeError};
pub use types::*;
