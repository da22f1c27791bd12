//! One extraction from source to `result.json`: fetch, open, select pages, skip
//! what earlier attempts finished, run the page pipeline, checkpoint every page,
//! assemble the result.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pdfx_crd::layout::ExtractionLayout;
use pdfx_crd::result::{PageResult, Summary};
use pdfx_crd::{OcrEngine as EngineKind, OcrMode, PageRange};
use pdfx_storage::{S3Config, StorageUri, Store};

use crate::checkpoint::{Checkpoints, Fingerprint, file_sha256};
use crate::decide::{MemoryModel, choose_workers, render_size};
use crate::error::RunnerError;
use crate::ocr::OcrEngine;
use crate::ocr::http::{HttpOcr, HttpOcrConfig};
use crate::ocr::tesseract::{Segmentation, Tesseract, check_languages, tessdata_dir};
use crate::pdf::PdfFile;
use crate::pdf_process::{PdfProcess, PdfProcessConfig};
use crate::pipeline::{self, EngineFactory, PipelineOptions};
use crate::source::{self, SourceLocation};

/// How often the document is reopened to release pdfium's per-page caches.
pub const DEFAULT_REOPEN_EVERY: u32 = 16;

/// More OCR workers than this only add memory: each owns a Tesseract engine.
pub const MAX_WORKERS: usize = 64;

/// Everything one extraction needs.
#[derive(Clone, Debug)]
pub struct ExtractRequest {
    pub source: String,
    pub output: String,
    pub languages: Vec<String>,
    pub dpi: u32,
    pub mode: OcrMode,
    pub pages: Option<String>,
    pub workers: Option<usize>,
    pub engine: EngineKind,
    pub ocr_endpoint: Option<url::Url>,
    /// Non-public ranges a URL source may reach ([`crate::source`]).
    pub url_allowed_ranges: Vec<pdfx_crd::ip_range::IpRange>,
    pub ocr_timeout: Duration,
    /// Attempts per page against the OCR server, the first included.
    pub ocr_max_attempts: u32,
    pub segmentation: Option<Segmentation>,
    pub password: Option<String>,
    pub min_text_chars: usize,
    pub max_pixels: u64,
    pub reopen_every: u32,
    pub s3: S3Config,
    /// Temporary files go here (the Job's `emptyDir`); default: the system temp dir.
    pub workdir: Option<PathBuf>,
    /// The runner binary, to run pdfium in a child process under deadlines
    /// (see [`crate::pdf_process`]); `None` runs pdfium in this process,
    /// without deadlines (library use, tests).
    pub pdf_worker: Option<PathBuf>,
    /// Deadline of opening the document (exceeded: invalid input, exit 2).
    pub open_timeout: Duration,
    /// Deadline of each pdfium step of a page (exceeded twice: a failed page).
    pub page_timeout: Duration,
}

impl ExtractRequest {
    /// A request with the documented defaults.
    pub fn new(source: impl Into<String>, output: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            output: output.into(),
            languages: vec!["eng".into()],
            dpi: 300,
            mode: OcrMode::Auto,
            pages: None,
            workers: None,
            engine: EngineKind::Tesseract,
            ocr_endpoint: None,
            url_allowed_ranges: Vec::new(),
            ocr_timeout: Duration::from_secs(120),
            ocr_max_attempts: 5,
            segmentation: None,
            password: None,
            min_text_chars: pipeline::DEFAULT_MIN_TEXT_CHARS,
            max_pixels: pipeline::DEFAULT_MAX_PIXELS,
            reopen_every: DEFAULT_REOPEN_EVERY,
            s3: S3Config::default(),
            workdir: None,
            pdf_worker: None,
            open_timeout: crate::pdf_process::client::DEFAULT_OPEN_TIMEOUT,
            page_timeout: crate::pdf_process::client::DEFAULT_PAGE_TIMEOUT,
        }
    }
}

/// The open document: in a pdfium child process, or in this one.
enum Opened {
    Child(Box<PdfProcess>),
    InProcess(Box<PdfFile>),
}

/// What a finished extraction reports.
#[derive(Clone, Debug)]
pub struct ExtractOutcome {
    /// URI of `result.json`.
    pub location: String,
    pub summary: Summary,
    /// Pages taken from checkpoints of an earlier attempt.
    pub resumed_pages: u32,
    pub workers: usize,
}

/// Called with (pages done, pages total) as pages finish.
pub type ProgressCallback = Box<dyn FnMut(u32, u32) + Send>;

fn validate(request: &ExtractRequest) -> Result<(), RunnerError> {
    let invalid = |m: String| Err(RunnerError::InvalidOptions(m));
    if !(72..=600).contains(&request.dpi) {
        return invalid(format!("dpi {} is outside 72..600", request.dpi));
    }
    if request.languages.is_empty() {
        return invalid("no OCR language given".into());
    }
    for language in &request.languages {
        let ok = language.split('_').enumerate().all(|(i, part)| {
            !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_lowercase())
                && (i > 0 || part.len() == 3)
        });
        if !ok {
            return invalid(format!(
                "{language:?} is not a Tesseract language code (e.g. eng, kor, chi_sim)"
            ));
        }
    }
    if let Some(workers) = request.workers
        && !(1..=MAX_WORKERS).contains(&workers)
    {
        return invalid(format!(
            "workers must be between 1 and {MAX_WORKERS}, not {workers}"
        ));
    }
    if request.engine == EngineKind::Http && request.ocr_endpoint.is_none() {
        return invalid("the http engine needs an OCR endpoint (--ocr-endpoint)".into());
    }
    Ok(())
}

/// The output location as a storage URI: `s3://…`, `file://…` or a local folder.
pub fn output_uri(output: &str) -> Result<StorageUri, RunnerError> {
    let lower = output.to_ascii_lowercase();
    if lower.starts_with("s3://") || lower.starts_with("file://") {
        return StorageUri::parse(output)
            .map_err(|e| RunnerError::InvalidOptions(format!("output {output:?}: {e}")));
    }
    let path = std::path::absolute(output)
        .map_err(|e| RunnerError::io(format!("output {output:?}"), e))?;
    let mut text = path.to_string_lossy().into_owned();
    if !text.ends_with('/') {
        text.push('/');
    }
    StorageUri::from_path(std::path::Path::new(&text))
        .map_err(|e| RunnerError::InvalidOptions(format!("output {output:?}: {e}")))
}

fn engine_name(request: &ExtractRequest) -> &'static str {
    match request.engine {
        EngineKind::Tesseract => "tesseract",
        EngineKind::Http => "http",
    }
}

fn engine_factory(
    request: &ExtractRequest,
    segmentation: Segmentation,
) -> Result<EngineFactory, RunnerError> {
    match request.engine {
        EngineKind::Tesseract => {
            let tessdata = tessdata_dir();
            // A text-layer-only run never starts an engine and needs no models.
            if request.mode != OcrMode::Never {
                check_languages(&tessdata, &request.languages)?;
            }
            let languages = request.languages.clone();
            Ok(Arc::new(move || {
                Ok(
                    Box::new(Tesseract::new(&tessdata, &languages, segmentation)?)
                        as Box<dyn OcrEngine>,
                )
            }))
        }
        EngineKind::Http => {
            let endpoint = request.ocr_endpoint.clone().ok_or_else(|| {
                RunnerError::InvalidOptions("the http engine needs --ocr-endpoint".into())
            })?;
            let mut config = HttpOcrConfig::new(endpoint, request.languages.clone());
            config.timeout = request.ocr_timeout;
            config.max_attempts = request.ocr_max_attempts.max(1);
            let handle = tokio::runtime::Handle::current();
            Ok(Arc::new(move || {
                Ok(Box::new(HttpOcr::new(config.clone(), handle.clone())?) as Box<dyn OcrEngine>)
            }))
        }
    }
}

/// Runs one extraction. `on_progress` sees every finished page.
pub async fn extract(
    request: &ExtractRequest,
    mut on_progress: ProgressCallback,
) -> Result<ExtractOutcome, RunnerError> {
    let started = Instant::now();
    validate(request)?;
    let selection = PageRange::parse_optional(request.pages.as_deref())?;
    let segmentation = request
        .segmentation
        .unwrap_or_else(|| Segmentation::default_for(&request.languages));
    let factory = engine_factory(request, segmentation)?;
    let output = output_uri(&request.output)?;
    let location = SourceLocation::parse(&request.source)?;

    let workdir = match &request.workdir {
        Some(dir) => tempfile::Builder::new().prefix("pdfx-").tempdir_in(dir),
        None => tempfile::Builder::new().prefix("pdfx-").tempdir(),
    }
    .map_err(|e| RunnerError::io("creating a work directory", e))?;
    let source_path = source::fetch(
        &location,
        &request.s3,
        &request.url_allowed_ranges,
        workdir.path(),
    )
    .await?;

    let (password, reopen_every) = (request.password.clone(), request.reopen_every);
    let path = source_path.clone();
    let process_config = request.pdf_worker.clone().map(|program| PdfProcessConfig {
        program,
        path: source_path.clone(),
        password: request.password.clone(),
        reopen_every,
        open_timeout: request.open_timeout,
        page_timeout: request.page_timeout,
    });
    // The child that opened the document serves the pipeline too.
    let (opened, page_count, (sha256, bytes)) = blocking(move || {
        let (opened, count) = match process_config {
            Some(config) => {
                let process = PdfProcess::open(config)?;
                let count = process.page_count();
                (Opened::Child(Box::new(process)), count)
            }
            None => {
                let file = PdfFile::open(&path, password.as_deref(), reopen_every)?;
                let count = file.page_count();
                (Opened::InProcess(Box::new(file)), count)
            }
        };
        Ok((opened, count, file_sha256(&path)?))
    })
    .await?;
    let selected: Vec<u32> = selection.resolve(page_count)?.iter().collect();
    let total = selected.len() as u32;

    let (store, prefix) = Store::from_uri(&output, &request.s3).await?;
    let layout = ExtractionLayout::new(&prefix);
    let mut checkpoints = Checkpoints::new(store, layout);
    let fingerprint = Fingerprint {
        version: 1,
        source_sha256: sha256,
        source_bytes: bytes,
        languages: request.languages.clone(),
        dpi: request.dpi,
        mode: format!("{:?}", request.mode),
        engine: engine_name(request).into(),
        segmentation: format!("{segmentation:?}"),
        min_text_chars: request.min_text_chars,
        max_pixels: request.max_pixels,
    };
    checkpoints.prepare(&fingerprint).await?;
    let done = checkpoints.done_pages().await?;
    let todo: Vec<u32> = selected
        .iter()
        .copied()
        .filter(|p| !done.contains(p))
        .collect();
    let resumed = total - todo.len() as u32;
    let workers = request.workers.unwrap_or_else(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        // Sized for pages up to A3 at the requested resolution, or the pixel cap.
        let a3_pixels = render_size(842.0, 1191.0, request.dpi, request.max_pixels);
        let pixels = u64::from(a3_pixels.width) * u64::from(a3_pixels.height);
        choose_workers(
            crate::limits::current(),
            cores,
            MemoryModel::for_pixels(pixels),
        )
    });
    tracing::info!(
        pages = total,
        resumed,
        todo = todo.len(),
        workers,
        "extracting"
    );

    let mut finished = resumed;
    checkpoints.write_progress(finished, total, true).await?;
    on_progress(finished, total);

    if !todo.is_empty() {
        let options = PipelineOptions {
            mode: request.mode,
            dpi: request.dpi,
            min_text_chars: request.min_text_chars,
            max_pixels: request.max_pixels,
            workers,
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel::<PageResult>(workers * 2 + 2);
        let pipeline = tokio::task::spawn_blocking(move || match opened {
            Opened::Child(mut process) => {
                pipeline::run(&mut *process, &todo, &options, factory, tx)
            }
            Opened::InProcess(mut file) => pipeline::run(&mut *file, &todo, &options, factory, tx),
        });
        let mut consumed: Result<(), RunnerError> = Ok(());
        // A page finished within a second of the last progress write is written
        // at the next tick, so progress never lags behind a slow page.
        let interval = crate::checkpoint::PROGRESS_INTERVAL;
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut unwritten = false;
        let mut writes = futures::stream::FuturesUnordered::new();
        let mut receiving = true;
        while receiving || !writes.is_empty() {
            tokio::select! {
                page = rx.recv(), if receiving && writes.len() < crate::checkpoint::PARALLEL_IO => {
                    match page {
                        Some(page) => {
                            tracing::debug!(page = page.page, method = ?page.method, "page done");
                            writes.push(checkpoints.page_writer(page));
                        }
                        None => receiving = false,
                    }
                }
                Some(written) = futures::StreamExt::next(&mut writes), if !writes.is_empty() => {
                    if let Err(e) = written {
                        consumed = Err(e);
                        break;
                    }
                    finished += 1;
                    on_progress(finished, total);
                    match checkpoints.write_progress(finished, total, false).await {
                        Ok(wrote) => unwritten = !wrote,
                        Err(e) => {
                            consumed = Err(e);
                            break;
                        }
                    }
                }
                _ = tick.tick(), if unwritten => {
                    if let Err(e) = checkpoints.write_progress(finished, total, true).await {
                        consumed = Err(e);
                        break;
                    }
                    unwritten = false;
                }
            }
        }
        // Dropping the receiver stops the pipeline if writing failed.
        drop(rx);
        let ran = pipeline
            .await
            .map_err(|e| RunnerError::Internal(format!("the page pipeline crashed: {e}")))?;
        consumed?;
        ran?;
        checkpoints.write_progress(finished, total, true).await?;
    }

    let base = Summary {
        languages: request.languages.clone(),
        engine: engine_name(request).into(),
        ..Summary::default()
    };
    let summary = checkpoints
        .assemble(&selected, base, started, workdir.path())
        .await?;
    let location = checkpoints
        .store()
        .uri_for(&checkpoints.layout().result_json())?
        .to_string();
    Ok(ExtractOutcome {
        location,
        summary,
        resumed_pages: resumed,
        workers,
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RunnerError> + Send + 'static,
) -> Result<T, RunnerError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RunnerError::Internal(format!("a worker thread crashed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_validated_before_any_work() {
        let mut request = ExtractRequest::new("a.pdf", "out");
        assert!(validate(&request).is_ok());
        request.dpi = 1200;
        assert!(matches!(
            validate(&request),
            Err(RunnerError::InvalidOptions(_))
        ));
        request.dpi = 300;
        request.languages = vec!["Korean".into()];
        assert!(matches!(
            validate(&request),
            Err(RunnerError::InvalidOptions(_))
        ));
        request.languages = vec!["chi_sim".into(), "kor".into()];
        assert!(validate(&request).is_ok());
        request.engine = EngineKind::Http;
        assert!(matches!(
            validate(&request),
            Err(RunnerError::InvalidOptions(_))
        ));
    }

    #[test]
    fn local_outputs_become_file_uris_ending_in_a_slash() {
        let uri = output_uri("/tmp/out dir").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(uri.key(), "tmp/out dir/");
        assert!(matches!(
            output_uri("s3://bucket/prefix/"),
            Ok(StorageUri::S3 { .. })
        ));
        assert!(output_uri("s3://").is_err());
    }
}
