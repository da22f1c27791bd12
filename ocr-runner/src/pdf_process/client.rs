//! The parent side: a [`PdfProcess`] owns one pdfium child at a time and
//! gives the page pipeline the same interface as an in-process
//! [`crate::pdf::PdfFile`], with deadlines, restarts and failed pages.

use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pdfx_crd::result::{PageError, PageMethod, PageResult};

use super::protocol::{ReadError, Request, Response, read_message, read_payload, write_message};
use crate::decide::RenderSize;
use crate::error::RunnerError;
use crate::pdf::{GrayImageLayout, PdfError, gray_stride};
use crate::pipeline::{PageSource, PipelineOptions, Prepared, Rendered, failed_page};

/// Default deadline of opening a document.
pub const DEFAULT_OPEN_TIMEOUT: Duration = Duration::from_secs(60);
/// Default deadline of each pdfium step of a page (reading it, rendering it).
pub const DEFAULT_PAGE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
pub struct PdfProcessConfig {
    /// The runner binary (it serves `pdf-worker`).
    pub program: PathBuf,
    pub path: PathBuf,
    pub password: Option<String>,
    pub reopen_every: u32,
    pub open_timeout: Duration,
    pub page_timeout: Duration,
}

struct Running {
    child: Child,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Running {
    fn stop(mut self) {
        // SIGKILL: the child may be inside a pdfium call that never returns.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What went wrong with one request.
enum CallError {
    Timeout,
    /// The child died; `killed` when by SIGKILL we did not send (the kernel's
    /// OOM killer, most likely).
    Died {
        status: String,
        killed: bool,
    },
    Pdf(PdfError),
    Protocol(String),
}

pub struct PdfProcess {
    config: PdfProcessConfig,
    running: Option<Running>,
    page_count: u32,
    /// False once a page needed a retry without form data.
    forms: bool,
}

impl PdfProcess {
    /// Starts a child and opens the document in it within the open deadline.
    pub fn open(config: PdfProcessConfig) -> Result<Self, RunnerError> {
        let mut process = Self {
            config,
            running: None,
            page_count: 0,
            forms: true,
        };
        process.page_count = process.start()?;
        Ok(process)
    }

    pub fn page_count(&self) -> u32 {
        self.page_count
    }

    fn spawn(&self) -> Result<Running, RunnerError> {
        let (ours, theirs) = UnixStream::pair()
            .map_err(|e| RunnerError::io("creating the pdfium worker's socket", e))?;
        let theirs_out = theirs
            .try_clone()
            .map_err(|e| RunnerError::io("creating the pdfium worker's socket", e))?;
        let child = Command::new(&self.config.program)
            .arg("pdf-worker")
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
            .stdout(Stdio::from(std::os::fd::OwnedFd::from(theirs_out)))
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                RunnerError::io(
                    format!(
                        "starting the pdfium worker {}",
                        self.config.program.display()
                    ),
                    e,
                )
            })?;
        let writer = ours
            .try_clone()
            .map_err(|e| RunnerError::io("cloning the pdfium worker's socket", e))?;
        Ok(Running {
            child,
            reader: BufReader::with_capacity(1 << 16, ours),
            writer,
        })
    }

    /// (Re)starts the child and opens the document; returns the page count.
    fn start(&mut self) -> Result<u32, RunnerError> {
        if let Some(old) = self.running.take() {
            old.stop();
        }
        self.running = Some(self.spawn()?);
        let request = Request::Open {
            path: self.config.path.clone(),
            password: self.config.password.clone(),
            reopen_every: self.config.reopen_every,
        };
        let deadline = Instant::now() + self.config.open_timeout;
        match self.call(&request, deadline) {
            Ok(Response::Opened { page_count }) => Ok(page_count),
            Ok(other) => Err(RunnerError::Internal(format!(
                "the pdfium worker answered {other:?} to open"
            ))),
            Err(e) => {
                if let Some(old) = self.running.take() {
                    old.stop();
                }
                Err(match e {
                    CallError::Pdf(e) => e.into(),
                    CallError::Timeout => PdfError::OpenTimeout {
                        seconds: self.config.open_timeout.as_secs_f32(),
                    }
                    .into(),
                    CallError::Died { killed: true, .. } => RunnerError::WorkerKilled(
                        "the pdfium worker was killed while opening the document (out of memory)"
                            .into(),
                    ),
                    CallError::Died { status, .. } => {
                        PdfError::Corrupt(format!("pdfium crashed opening it ({status})")).into()
                    }
                    CallError::Protocol(m) => RunnerError::Internal(m),
                })
            }
        }
    }

    fn call(&mut self, request: &Request, deadline: Instant) -> Result<Response, CallError> {
        let running = self
            .running
            .as_mut()
            .ok_or_else(|| CallError::Protocol("no pdfium worker".into()))?;
        if let Err(e) = write_message(&mut running.writer, request) {
            return Err(died(running, format!("writing a request: {e}")));
        }
        match read_message::<Response, _>(&mut running.reader, Some(deadline)) {
            Ok(Response::Error(e)) => Err(CallError::Pdf(e.into())),
            Ok(response) => Ok(response),
            Err(ReadError::Timeout) => Err(CallError::Timeout),
            Err(ReadError::Closed) => Err(died(running, String::new())),
            Err(ReadError::Io(e)) => Err(CallError::Protocol(format!(
                "reading from the pdfium worker: {e}"
            ))),
            Err(ReadError::Garbled(m)) => {
                Err(CallError::Protocol(format!("the pdfium worker said: {m}")))
            }
        }
    }

    /// Runs `step` for `page` under the page deadline; on a timeout or a crash
    /// restarts the child and retries once without form data; a second failure
    /// becomes a failed page.
    fn guarded<T>(
        &mut self,
        page: u32,
        what: &str,
        mut step: impl FnMut(&mut Self, bool, Instant) -> Result<T, CallError>,
    ) -> Result<Result<T, PageError>, RunnerError> {
        let mut last = String::new();
        for attempt in 0..2 {
            let forms = self.forms && attempt == 0;
            let deadline = Instant::now() + self.config.page_timeout;
            let failure = match step(self, forms, deadline) {
                Ok(value) => {
                    if attempt > 0 && !self.forms {
                        tracing::info!(page, "page read without form data");
                    }
                    return Ok(Ok(value));
                }
                Err(CallError::Pdf(PdfError::Page { message, .. })) => {
                    return Ok(Err(PageError {
                        reason: "PageUnreadable".into(),
                        message: format!("{what}: {message}"),
                    }));
                }
                Err(CallError::Pdf(e)) => return Err(e.into()),
                Err(CallError::Protocol(m)) => return Err(RunnerError::Internal(m)),
                Err(CallError::Died {
                    status,
                    killed: true,
                }) => {
                    return Err(RunnerError::WorkerKilled(format!(
                        "the pdfium worker was killed on page {page} ({status}; out of memory)"
                    )));
                }
                Err(CallError::Timeout) => {
                    let seconds = self.config.page_timeout.as_secs_f32();
                    tracing::warn!(page, seconds, forms, "{what} exceeded its deadline");
                    last = format!("{what} took longer than {seconds} s");
                    ("PageTimeout", forms)
                }
                Err(CallError::Died { status, .. }) => {
                    tracing::warn!(page, %status, forms, "pdfium crashed on the page");
                    last = format!("pdfium crashed during {what} ({status})");
                    ("PageCrashed", forms)
                }
            };
            // The child is stuck or gone: a new one reopens the document.
            self.start()?;
            if failure.1 {
                // Form data may be what hangs pdfium; never draw it again here.
                self.forms = false;
            }
            if attempt == 1 {
                return Ok(Err(PageError {
                    reason: failure.0.into(),
                    message: format!("{last}, with and without form data"),
                }));
            }
        }
        Ok(Err(PageError {
            reason: "PageTimeout".into(),
            message: last,
        }))
    }
}

fn died(running: &mut Running, context: String) -> CallError {
    // Wait for the exit status briefly: the socket closes as the child dies.
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        match running.child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => break None,
        }
    };
    let killed = status.and_then(|s| s.signal()) == Some(9);
    let status = status.map_or_else(|| "no exit status".to_owned(), |s| s.to_string());
    CallError::Died {
        status: if context.is_empty() {
            status
        } else {
            format!("{status}; {context}")
        },
        killed,
    }
}

impl PageSource for PdfProcess {
    fn prepare(&mut self, page: u32, options: &PipelineOptions) -> Result<Prepared, RunnerError> {
        let request = Request::Prepare {
            page,
            mode: options.mode,
            dpi: options.dpi,
            min_text_chars: options.min_text_chars,
            max_pixels: options.max_pixels,
        };
        let outcome = self.guarded(page, "reading the page", |s, _forms, deadline| {
            s.call(&request, deadline)
        })?;
        Ok(match outcome {
            Ok(Response::Text {
                text,
                width,
                height,
            }) => Prepared::Text(PageResult {
                page,
                method: PageMethod::TextLayer,
                text,
                confidence: None,
                width_px: width,
                height_px: height,
                words: Vec::new(),
                error: None,
            }),
            Ok(Response::NeedsOcr { width, height, dpi }) => {
                Prepared::Ocr(RenderSize { width, height, dpi })
            }
            Ok(other) => {
                return Err(RunnerError::Internal(format!(
                    "the pdfium worker answered {other:?} to prepare"
                )));
            }
            Err(error) => Prepared::Failed(failed_page(page, None, &error.reason, error.message)),
        })
    }

    fn render(
        &mut self,
        page: u32,
        size: RenderSize,
        buffer: &mut Vec<u8>,
    ) -> Result<Rendered, RunnerError> {
        let outcome = self.guarded(page, "rendering the page", |s, forms, deadline| {
            let request = Request::Render {
                page,
                width: size.width,
                height: size.height,
                forms,
            };
            match s.call(&request, deadline)? {
                Response::Image {
                    width,
                    height,
                    stride,
                    ..
                } => {
                    if width != size.width
                        || height != size.height
                        || stride != gray_stride(width)
                    {
                        return Err(CallError::Protocol(format!(
                            "the pdfium worker rendered {width}x{height} (stride {stride}), not {}x{}",
                            size.width, size.height
                        )));
                    }
                    buffer.clear();
                    buffer.resize(stride as usize * height as usize, 0xff);
                    let running = s
                        .running
                        .as_mut()
                        .ok_or_else(|| CallError::Protocol("no pdfium worker".into()))?;
                    match read_payload(&mut running.reader, buffer, Some(deadline)) {
                        Ok(()) => Ok(GrayImageLayout {
                            width,
                            height,
                            stride,
                        }),
                        Err(ReadError::Timeout) => Err(CallError::Timeout),
                        Err(ReadError::Closed) => Err(died(running, String::new())),
                        Err(e) => Err(CallError::Protocol(format!(
                            "reading a page image: {e:?}"
                        ))),
                    }
                }
                other => Err(CallError::Protocol(format!(
                    "the pdfium worker answered {other:?} to render"
                ))),
            }
        })?;
        Ok(match outcome {
            Ok(layout) => Rendered::Image(layout),
            Err(error) => {
                Rendered::Failed(failed_page(page, Some(size), &error.reason, error.message))
            }
        })
    }
}

impl Drop for PdfProcess {
    fn drop(&mut self) {
        if let Some(mut running) = self.running.take() {
            // Closing the socket ends an idle child; kill covers a busy one.
            let _ = running.writer.flush();
            running.stop();
        }
    }
}
