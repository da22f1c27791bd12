//! pdfx-ocr-runner: the program every extraction Job runs, also usable as a CLI.
//!
//! The source PDF is fetched to a local file, pages are read one at a time with
//! pdfium (text layer where usable, otherwise rendered and OCR'd by a pool of
//! engine-owning workers), every finished page is checkpointed to storage, and
//! the result is assembled from the checkpoints at the end.

pub mod checkpoint;
pub mod decide;
pub mod error;
pub mod extract;
pub mod limits;
pub mod metrics;
pub mod ocr;
pub mod pdf;
pub mod pdf_process;
pub mod pipeline;
pub mod sample;
pub mod scans;
pub mod source;
pub mod url_guard;

pub use error::RunnerError;
