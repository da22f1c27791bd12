//! pdfium in a child process, under deadlines.
//!
//! pdfium is not thread-safe and has no way to interrupt a call: a page whose
//! form data sends it into an endless loop holds the library's lock forever,
//! and a thread stuck in it can be neither stopped nor abandoned safely (every
//! later pdfium call would wait on the same lock, and its memory stays
//! allocated). A process can be killed. So every pdfium call of an extraction
//! runs in a child process (the runner binary itself, `pdf-worker`), which the
//! parent talks to over a socket pair with a read deadline on every answer:
//!
//! - opening the document has `open_timeout`; exceeding it ends the extraction
//!   as invalid input (exit 2: retrying would hang again);
//! - each page's work (reading its text layer, rendering it) has
//!   `page_timeout`; when it is exceeded, or the child crashes, the child is
//!   killed, a new one reopens the document, and the page is tried once more
//!   without form data; if that fails too, the page is recorded as failed with
//!   its reason and the extraction goes on with the next page;
//! - form data is only drawn when it is safe: never once a page needed the
//!   retry without it, and never on a page whose widgets belong to an
//!   unnamed field (the shape of the form that hangs pdfium's form filler).
//!
//! Rendered pages come back as raw 8-bit gray rows, read straight into the
//! pipeline's page buffers (a page at 300 DPI crosses the socket in a few
//! milliseconds against about a second of OCR).

pub mod client;
pub mod protocol;
pub mod server;

pub use client::{PdfProcess, PdfProcessConfig};
