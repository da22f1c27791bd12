//! The page pipeline: one render thread (pdfium is single-threaded) feeding a
//! bounded queue of page bitmaps to N OCR worker threads, each owning its engine.
//!
//! Memory is bounded by construction: bitmaps come from a pool of `workers + 1`
//! buffers that workers hand back after OCR, so at most that many pages are in
//! memory whatever the document's length, and the document itself is reopened
//! every few pages (see [`crate::pdf::PdfFile`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded};
use pdfx_crd::OcrMode;
use pdfx_crd::result::{PageMethod, PageResult};

use crate::decide::{PageAction, RenderSize, page_action, render_size, text_layer_is_usable};
use crate::error::RunnerError;
use crate::ocr::{GrayImage, OcrEngine, OcrError};
use crate::pdf::{self, GrayImageLayout, PdfError, PdfFile};

type ResultSender = tokio::sync::mpsc::Sender<PageResult>;

/// Builds one engine; called once in each worker thread.
pub type EngineFactory = Arc<dyn Fn() -> Result<Box<dyn OcrEngine>, OcrError> + Send + Sync>;

#[derive(Clone, Debug)]
pub struct PipelineOptions {
    pub mode: OcrMode,
    pub dpi: u32,
    /// Letters or digits a text layer needs to be taken instead of OCR.
    pub min_text_chars: usize,
    /// Pixel cap of a rendered page; larger pages are downscaled.
    pub max_pixels: u64,
    pub workers: usize,
}

/// Default pixel cap: an A3 page at 300 DPI (17.4 MP) fits, a poster does not.
pub const DEFAULT_MAX_PIXELS: u64 = 25_000_000;
/// Letters or digits needed to trust a text layer.
pub const DEFAULT_MIN_TEXT_CHARS: usize = 10;

struct OcrJob {
    page: u32,
    buffer: Vec<u8>,
    layout: GrayImageLayout,
    dpi: f32,
}

/// Shared failure state: the first error wins and stops everyone.
#[derive(Default)]
struct Stop {
    flag: AtomicBool,
    error: Mutex<Option<RunnerError>>,
}

impl Stop {
    fn fail(&self, error: RunnerError) {
        if let Ok(mut slot) = self.error.lock()
            && slot.is_none()
        {
            *slot = Some(error);
        }
        self.flag.store(true, Ordering::SeqCst);
    }

    /// Stops everyone without an error (the consumer went away).
    fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    fn stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    fn take(&self) -> Option<RunnerError> {
        self.error.lock().ok().and_then(|mut e| e.take())
    }
}

/// How the pipeline reads pages: in-process ([`PdfFile`], no deadlines) or
/// through a pdfium child process ([`crate::pdf_process::PdfProcess`]).
pub trait PageSource {
    /// Decides how to read `page` and, for a usable text layer, reads it.
    fn prepare(&mut self, page: u32, options: &PipelineOptions) -> Result<Prepared, RunnerError>;
    /// Renders `page` at `size` to 8-bit gray into `buffer`.
    fn render(
        &mut self,
        page: u32,
        size: RenderSize,
        buffer: &mut Vec<u8>,
    ) -> Result<Rendered, RunnerError>;
}

/// What [`PageSource::prepare`] found.
pub enum Prepared {
    Text(PageResult),
    Ocr(RenderSize),
    /// The page could not be read; the result says why.
    Failed(PageResult),
}

/// What [`PageSource::render`] produced.
pub enum Rendered {
    Image(GrayImageLayout),
    Failed(PageResult),
}

/// In-process reading (tests, benchmarks): every pdfium call on the
/// caller's thread, without deadlines. A page pdfium reports an error on
/// becomes a failed page, as with [`crate::pdf_process::PdfProcess`].
impl PageSource for PdfFile {
    fn prepare(&mut self, page: u32, options: &PipelineOptions) -> Result<Prepared, RunnerError> {
        let prepared = self.with_page(page, |p| {
            prepare_page(
                p,
                page,
                options.mode,
                options.dpi,
                options.min_text_chars,
                options.max_pixels,
            )
        });
        match prepared {
            Ok(Ok(prepared)) => Ok(prepared),
            Ok(Err(PdfError::Page { message, .. })) | Err(PdfError::Page { message, .. }) => Ok(
                Prepared::Failed(failed_page(page, None, "PageUnreadable", message)),
            ),
            Ok(Err(e)) | Err(e) => Err(e.into()),
        }
    }

    fn render(
        &mut self,
        page: u32,
        size: RenderSize,
        buffer: &mut Vec<u8>,
    ) -> Result<Rendered, RunnerError> {
        let mut renderer = self.take_renderer();
        let rendered = self.with_page(page, |p| {
            let forms = pdf::forms_are_safe(p);
            renderer.render_gray_with_forms(p, size, buffer, forms)
        });
        self.put_renderer(renderer);
        match rendered {
            Ok(Ok(layout)) => Ok(Rendered::Image(layout)),
            Ok(Err(e)) => Ok(Rendered::Failed(failed_page(
                page,
                Some(size),
                "PageUnreadable",
                format!("rendering failed: {e:?}"),
            ))),
            Err(PdfError::Page { message, .. }) => Ok(Rendered::Failed(failed_page(
                page,
                Some(size),
                "PageUnreadable",
                message,
            ))),
            Err(e) => Err(e.into()),
        }
    }
}

/// The result of a page that could not be read.
pub fn failed_page(
    page: u32,
    size: Option<RenderSize>,
    reason: &str,
    message: String,
) -> PageResult {
    tracing::error!(page, reason, %message, "page failed");
    PageResult {
        page,
        method: PageMethod::Failed,
        text: String::new(),
        confidence: None,
        width_px: size.map_or(0, |s| s.width),
        height_px: size.map_or(0, |s| s.height),
        words: Vec::new(),
        error: Some(pdfx_crd::result::PageError {
            reason: reason.into(),
            message,
        }),
    }
}

/// Reads `pages` of `pdf` and sends each finished page to `results`, in
/// completion order. Blocks until every page is done, an error occurs, or the
/// receiver of `results` is dropped (then it stops early without error).
pub fn run<S: PageSource + ?Sized>(
    pdf: &mut S,
    pages: &[u32],
    options: &PipelineOptions,
    factory: EngineFactory,
    results: tokio::sync::mpsc::Sender<PageResult>,
) -> Result<(), RunnerError> {
    let workers = options.workers.max(1);
    let stop = Arc::new(Stop::default());
    let (work_tx, work_rx) = bounded::<OcrJob>(1);
    let (pool_tx, pool_rx) = bounded::<Vec<u8>>(workers + 1);
    for _ in 0..=workers {
        // Cannot fail: the pool has room for exactly these buffers.
        let _ = pool_tx.send(Vec::new());
    }

    let mut handles = Vec::new();
    // Workers start only when a page needs OCR: a born-digital document never
    // pays for loading Tesseract's models.
    let mut spawn_workers = || -> Result<(), RunnerError> {
        for index in 0..workers {
            let (rx, pool, out, stop, factory) = (
                work_rx.clone(),
                pool_tx.clone(),
                results.clone(),
                stop.clone(),
                factory.clone(),
            );
            let handle = std::thread::Builder::new()
                .name(format!("ocr-{index}"))
                .spawn(move || worker(rx, pool, out, &stop, &factory))
                .map_err(|e| RunnerError::Internal(format!("starting an OCR worker: {e}")))?;
            handles.push(handle);
        }
        Ok(())
    };
    let mut workers_started = false;

    let render_result = (|| -> Result<(), RunnerError> {
        for &page in pages {
            if stop.stopped() || results.is_closed() {
                break;
            }
            match pdf.prepare(page, options)? {
                Prepared::Text(result) | Prepared::Failed(result) => {
                    if results.blocking_send(result).is_err() {
                        break;
                    }
                }
                Prepared::Ocr(size) => {
                    if !workers_started {
                        spawn_workers()?;
                        workers_started = true;
                    }
                    let Some(mut buffer) = take_buffer(&pool_rx, &stop, &results) else {
                        break;
                    };
                    let layout = match pdf.render(page, size, &mut buffer)? {
                        Rendered::Image(layout) => layout,
                        Rendered::Failed(result) => {
                            // The buffer goes back: no worker will return it.
                            let _ = pool_tx.send(buffer);
                            if results.blocking_send(result).is_err() {
                                break;
                            }
                            continue;
                        }
                    };
                    if !send_job(
                        &work_tx,
                        OcrJob {
                            page,
                            buffer,
                            layout,
                            dpi: size.dpi,
                        },
                        &stop,
                        &results,
                    ) {
                        break;
                    }
                }
            }
        }
        Ok(())
    })();

    drop(work_tx);
    for handle in handles {
        if handle.join().is_err() {
            stop.fail(RunnerError::Internal("an OCR worker panicked".into()));
        }
    }
    render_result?;
    match stop.take() {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Decides how to read a page and, for text-layer pages, reads it.
pub fn prepare_page(
    page: &pdfium_render::prelude::PdfPage<'_>,
    number: u32,
    mode: OcrMode,
    dpi: u32,
    min_text_chars: usize,
    max_pixels: u64,
) -> Result<Prepared, PdfError> {
    let (width_pt, height_pt) = pdf::page_size_points(page);
    let size = render_size(width_pt, height_pt, dpi, max_pixels);
    let text = match mode {
        OcrMode::Always => String::new(),
        OcrMode::Auto | OcrMode::Never => pdf::page_text(page).map_err(|e| PdfError::Page {
            page: number,
            message: format!("reading text: {e:?}"),
        })?,
    };
    let usable = mode != OcrMode::Always && text_layer_is_usable(&text, min_text_chars);
    Ok(match page_action(mode, usable) {
        PageAction::TextLayer => Prepared::Text(PageResult {
            page: number,
            method: PageMethod::TextLayer,
            text: text_layer_text(&text),
            confidence: None,
            width_px: size.width,
            height_px: size.height,
            words: Vec::new(),
            error: None,
        }),
        PageAction::Ocr => Prepared::Ocr(size),
    })
}

/// A text layer's text with trailing spaces and trailing blank lines removed,
/// so that it compares equal to the text that was typeset.
fn text_layer_text(text: &str) -> String {
    crate::ocr::tidy_text(text)
}

/// Queues a job, giving up when the pipeline stops (all workers may be gone).
fn send_job(work: &Sender<OcrJob>, mut job: OcrJob, stop: &Stop, results: &ResultSender) -> bool {
    loop {
        match work.send_timeout(job, Duration::from_millis(200)) {
            Ok(()) => return true,
            Err(crossbeam_channel::SendTimeoutError::Timeout(back))
                if !stop.stopped() && !results.is_closed() =>
            {
                job = back
            }
            Err(_) => return false,
        }
    }
}

fn take_buffer(pool: &Receiver<Vec<u8>>, stop: &Stop, results: &ResultSender) -> Option<Vec<u8>> {
    loop {
        match pool.recv_timeout(Duration::from_millis(200)) {
            Ok(buffer) => return Some(buffer),
            Err(RecvTimeoutError::Timeout) if !stop.stopped() && !results.is_closed() => continue,
            Err(_) => return None,
        }
    }
}

/// Stops the pipeline with an error if a worker unwinds, so that the render
/// thread never waits for a buffer or a queue slot a dead worker will not free.
struct PanicGuard<'a>(&'a Stop);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0
                .fail(RunnerError::Internal("an OCR worker panicked".into()));
        }
    }
}

fn worker(
    jobs: Receiver<OcrJob>,
    pool: Sender<Vec<u8>>,
    results: tokio::sync::mpsc::Sender<PageResult>,
    stop: &Stop,
    factory: &EngineFactory,
) {
    let _guard = PanicGuard(stop);
    let mut engine = match factory() {
        Ok(engine) => engine,
        Err(e) => {
            stop.fail(e.into());
            return;
        }
    };
    for job in jobs.iter() {
        if stop.stopped() {
            break;
        }
        let image = GrayImage {
            pixels: &job.buffer,
            width: job.layout.width,
            height: job.layout.height,
            stride: job.layout.stride,
            dpi: job.dpi,
        };
        let outcome = engine.recognize(&image);
        let OcrJob {
            page,
            buffer,
            layout,
            ..
        } = job;
        let _ = pool.send(buffer);
        match outcome {
            Ok(output) => {
                let result = PageResult {
                    page,
                    method: PageMethod::Ocr,
                    text: output.text,
                    confidence: output.confidence,
                    width_px: layout.width,
                    height_px: layout.height,
                    words: output.words,
                    error: None,
                };
                if results.blocking_send(result).is_err() {
                    // The consumer is gone (it failed to store a page): stop the renderer too.
                    stop.cancel();
                    break;
                }
            }
            Err(e) => {
                tracing::error!(page, error = %e, "OCR failed");
                stop.fail(e.into());
                break;
            }
        }
    }
}
