//! `pdfx-ocr-runner`: the extraction Job's program and a standalone CLI.

use std::io::IsTerminal;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::builder::TypedValueParser as _;
use clap::{Parser, Subcommand};
use pdfx_crd::runner::{self, RunnerOptions, TerminationMessage};
use pdfx_crd::{OcrEngine, OcrMode};
use pdfx_ocr_runner::extract::{ExtractOutcome, ExtractRequest, extract};
use pdfx_ocr_runner::ocr::tesseract::Segmentation;
use pdfx_ocr_runner::sample::{SampleKind, SampleLanguage, SampleSpec, write_sample};
use pdfx_ocr_runner::{RunnerError, pipeline};
use pdfx_runtime::args::LogArgs;
use pdfx_storage::S3Config;

#[derive(Parser, Debug)]
#[command(
    name = "pdfx-ocr-runner",
    version,
    about = "Extract the text of a PDF: text layers where pages have them, OCR elsewhere."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Extract a PDF's text into a folder or bucket prefix.
    Extract(ExtractArgs),
    /// Job mode: as `extract`, options usually from PDFX_* variables, and the
    /// outcome also written to the termination-message file for the operator.
    Job(ExtractArgs),
    /// Write a synthetic PDF with known text (for trying pdfx out, tests and benchmarks).
    Sample(SampleArgs),
    /// Internal: serve pdfium requests on stdin/stdout for a parent runner.
    #[command(hide = true)]
    PdfWorker,
}

/// A contract enum (`OcrMode`, `OcrEngine`) from its wire name, as the CRD spells it.
fn wire_value<T: serde::de::DeserializeOwned + Clone + Send + Sync + 'static>(
    names: &'static [&'static str],
) -> impl clap::builder::TypedValueParser<Value = T> {
    clap::builder::PossibleValuesParser::new(names)
        .try_map(|name: String| runner::parse_wire::<T>(&name).map_err(|e| e.to_string()))
}

#[derive(clap::Args, Debug)]
struct ExtractArgs {
    /// The PDF: a local path, file:///path, s3://bucket/key or https://… URL.
    #[arg(env = runner::env::SOURCE)]
    source: String,
    /// Where results go: a local folder, file:///path/ or s3://bucket/prefix/.
    #[arg(long, env = runner::env::OUTPUT)]
    out: String,
    /// Tesseract languages, joined by `+` (or commas), e.g. `kor+eng`.
    #[arg(long, env = runner::env::LANGUAGES, default_value = "eng")]
    languages: String,
    /// Rendering resolution for OCR, 72 to 600.
    #[arg(long, env = runner::env::DPI, default_value_t = 300)]
    dpi: u32,
    /// auto: text layer where usable, OCR otherwise; always: OCR every page; never: text layers only.
    #[arg(long, env = runner::env::MODE, default_value = "auto", value_parser = wire_value::<OcrMode>(&runner::MODE_NAMES))]
    mode: OcrMode,
    /// Pages to extract, e.g. `1-5,9`, `10-`, `-3`. Default: all.
    #[arg(long, env = runner::env::PAGES)]
    pages: Option<String>,
    /// OCR workers. Default: from the cgroup's CPU and memory limits.
    #[arg(long, env = "PDFX_WORKERS")]
    workers: Option<usize>,
    /// OCR engine.
    #[arg(long, env = runner::env::ENGINE, default_value = "tesseract", value_parser = wire_value::<OcrEngine>(&runner::ENGINE_NAMES))]
    engine: OcrEngine,
    /// OCR server URL for `--engine http` (see the README for the contract).
    #[arg(long, env = runner::env::OCR_ENDPOINT)]
    ocr_endpoint: Option<url::Url>,
    /// Non-public address ranges (CIDRs, comma-separated) a URL source may
    /// resolve to; every other loopback, private, link-local or metadata
    /// address is refused, before connecting and after every redirect.
    #[arg(long, env = runner::env::URL_ALLOWED_RANGES, value_delimiter = ',')]
    url_allowed_ranges: Vec<String>,
    /// Timeout of one OCR server request, in seconds.
    #[arg(long, env = "PDFX_OCR_TIMEOUT_SECS", default_value_t = 120)]
    ocr_timeout_secs: u64,
    /// Attempts per page against the OCR server (429, 5xx, timeouts and
    /// connection errors are retried with exponential backoff from 0.5 s).
    #[arg(long, env = "PDFX_OCR_MAX_ATTEMPTS", default_value_t = 5)]
    ocr_max_attempts: u32,
    /// Page segmentation. Default: layout (two-column pages read column by
    /// column, lines in reading order; chosen by measurement, see the README).
    #[arg(long, env = "PDFX_SEGMENTATION", value_enum)]
    segmentation: Option<Segmentation>,
    /// File holding the password of an encrypted PDF (or set PDFX_PDF_PASSWORD).
    #[arg(long, env = "PDFX_PDF_PASSWORD_FILE")]
    password_file: Option<PathBuf>,
    /// Letters or digits a page's text layer needs to be used instead of OCR.
    #[arg(long, env = "PDFX_MIN_TEXT_CHARS", default_value_t = pipeline::DEFAULT_MIN_TEXT_CHARS)]
    min_text_chars: usize,
    /// Largest rendered page, in pixels; larger pages are downscaled.
    #[arg(long, env = "PDFX_MAX_PIXELS", default_value_t = pipeline::DEFAULT_MAX_PIXELS)]
    max_pixels: u64,
    /// Deadline of opening the PDF, in seconds; exceeded: exit 2 (invalid input).
    #[arg(long, env = "PDFX_OPEN_TIMEOUT_SECS", default_value_t = 60)]
    open_timeout_secs: u64,
    /// Deadline of each pdfium step of a page (reading, rendering), in seconds;
    /// exceeded: retried without form data, then recorded as a failed page.
    #[arg(long, env = "PDFX_PAGE_TIMEOUT_SECS", default_value_t = 60)]
    page_timeout_secs: u64,
    /// Folder for temporary files (the downloaded PDF, the result being assembled).
    #[arg(long, env = "PDFX_WORKDIR")]
    workdir: Option<PathBuf>,
    /// Where to write the one-line JSON outcome for Kubernetes (job mode:
    /// $TERMINATION_MESSAGE_PATH, else /dev/termination-log).
    #[arg(long, env = "PDFX_TERMINATION_LOG")]
    termination_log: Option<PathBuf>,
    #[command(flatten)]
    log: LogArgs,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(clap::Args, Debug)]
struct SampleArgs {
    /// The PDF to write.
    out: PathBuf,
    #[arg(long, default_value_t = 3)]
    pages: u32,
    #[arg(long, value_enum, default_value_t = SampleKind::Mixed)]
    kind: SampleKind,
    #[arg(long, value_enum, default_value_t = SampleLanguage::English)]
    language: SampleLanguage,
}

/// Tesseract reads OMP_THREAD_LIMIT once, when its OpenMP runtime loads at
/// process start; with it unset, OpenMP threads cost ~5× the CPU per page on
/// 2 cores. So the variable is set by re-executing before anything else runs.
fn ensure_single_threaded_openmp() {
    if std::env::var_os("OMP_THREAD_LIMIT").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    let error = std::process::Command::new(&exe)
        .arg0(arg0)
        .args(args)
        .env("OMP_THREAD_LIMIT", "1")
        .exec();
    eprintln!(
        "warning: could not restart with OMP_THREAD_LIMIT=1 ({error}); OCR will use more CPU than needed"
    );
}

fn read_password(args: &ExtractArgs) -> Result<Option<String>, RunnerError> {
    if let Some(path) = &args.password_file {
        // A missing or unreadable password file is a configuration error that
        // no retry fixes.
        let text = std::fs::read_to_string(path).map_err(|e| {
            RunnerError::InvalidOptions(format!(
                "reading the password file {}: {e}",
                path.display()
            ))
        })?;
        return Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()));
    }
    Ok(std::env::var("PDFX_PDF_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty()))
}

/// The part of the arguments that is the operator's contract with the runner.
fn options_from(args: &ExtractArgs) -> RunnerOptions {
    RunnerOptions {
        source: args.source.clone(),
        output: args.out.clone(),
        languages: runner::split_languages(&args.languages),
        dpi: args.dpi,
        mode: args.mode,
        pages: args.pages.clone().filter(|p| !p.trim().is_empty()),
        engine: args.engine,
        ocr_endpoint: args.ocr_endpoint.as_ref().map(url::Url::to_string),
        url_allowed_ranges: args
            .url_allowed_ranges
            .iter()
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .collect(),
    }
}

fn request_from(args: &ExtractArgs) -> Result<ExtractRequest, RunnerError> {
    let options = options_from(args);
    let mut request = ExtractRequest::new(options.source, options.output);
    request.languages = options.languages;
    request.dpi = options.dpi;
    request.mode = options.mode;
    request.pages = options.pages;
    request.workers = args.workers;
    request.engine = options.engine;
    request.ocr_endpoint = args.ocr_endpoint.clone();
    request.url_allowed_ranges = options
        .url_allowed_ranges
        .iter()
        .map(|r| r.parse::<pdfx_crd::ip_range::IpRange>())
        .collect::<Result<_, _>>()
        .map_err(|e| RunnerError::InvalidOptions(format!("--url-allowed-ranges: {e}")))?;
    request.ocr_timeout = Duration::from_secs(args.ocr_timeout_secs.max(1));
    request.ocr_max_attempts = args.ocr_max_attempts;
    request.segmentation = args.segmentation;
    request.password = read_password(args)?;
    request.min_text_chars = args.min_text_chars;
    request.max_pixels = args.max_pixels;
    request.workdir = args.workdir.clone();
    request.open_timeout = Duration::from_secs(args.open_timeout_secs.max(1));
    request.page_timeout = Duration::from_secs(args.page_timeout_secs.max(1));
    request.pdf_worker = Some(std::env::current_exe().map_err(|e| {
        RunnerError::io(
            "finding the runner binary (it runs pdfium in a child process)",
            e,
        )
    })?);
    request.s3 = S3Config::from_env().map_err(|e| RunnerError::InvalidOptions(e.to_string()))?;
    Ok(request)
}

fn progress_reporter(show_bar: bool) -> Box<dyn FnMut(u32, u32) + Send> {
    if show_bar {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} pages  {per_sec}  eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        return Box::new(move |done, total| {
            bar.set_length(u64::from(total));
            bar.set_position(u64::from(done));
            if done == total {
                bar.finish_and_clear();
            }
        });
    }
    let mut last_log: Option<Instant> = None;
    Box::new(move |done, total| {
        if done == total || last_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
            tracing::info!(pages_done = done, pages_total = total, "progress");
            last_log = Some(Instant::now());
        }
    })
}

fn write_termination(path: Option<&PathBuf>, message: &TerminationMessage) {
    if let Some(path) = path
        && let Err(e) = std::fs::write(path, message.to_line())
    {
        eprintln!(
            "warning: could not write the termination message to {}: {e}",
            path.display()
        );
    }
}

fn run_extract(args: ExtractArgs, job_mode: bool) -> ExitCode {
    if let Err(e) = args.log.init() {
        eprintln!("warning: {e}");
    }
    // In job mode the kubelet reads /dev/termination-log; a local executor that
    // cannot give each pod its own names the file in TERMINATION_MESSAGE_PATH.
    let termination = args.termination_log.clone().or_else(|| {
        job_mode.then(|| {
            std::env::var_os(runner::env::TERMINATION_MESSAGE_PATH)
                .filter(|p| !p.is_empty())
                .map_or_else(|| PathBuf::from("/dev/termination-log"), PathBuf::from)
        })
    });
    let show_bar = !args.quiet && !job_mode && std::io::stderr().is_terminal();
    let span = tracing::info_span!("extract", source = %pdfx_ocr_runner::source::redact(&args.source), output = %args.out);
    let outcome: Result<ExtractOutcome, RunnerError> = (|| {
        let request = request_from(&args)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| RunnerError::io("starting the async runtime", e))?;
        let _entered = span.enter();
        runtime.block_on(extract(&request, progress_reporter(show_bar)))
    })();
    match outcome {
        Ok(outcome) => {
            let s = &outcome.summary;
            tracing::info!(
                pages = s.pages,
                ocr_pages = s.ocr_pages,
                text_layer_pages = s.text_layer_pages,
                resumed_pages = outcome.resumed_pages,
                duration_ms = s.duration_ms,
                location = %outcome.location,
                "extraction finished"
            );
            println!(
                "{} page(s): {} from text layers, {} by OCR{} -> {}",
                s.pages,
                s.text_layer_pages,
                s.ocr_pages,
                s.mean_confidence
                    .map(|c| format!(" (mean confidence {c:.2})"))
                    .unwrap_or_default(),
                outcome.location
            );
            write_termination(
                termination.as_ref(),
                &TerminationMessage::Succeeded {
                    location: outcome.location,
                    summary: outcome.summary,
                },
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            let reason = error.reason();
            let message = error.one_line();
            tracing::error!(%reason, error = %message, "extraction failed");
            eprintln!("error: {reason}: {message}");
            write_termination(
                termination.as_ref(),
                &TerminationMessage::Failed { reason, message },
            );
            ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(1))
        }
    }
}

fn run_sample(args: SampleArgs) -> ExitCode {
    let spec = SampleSpec::new(args.pages, args.kind, args.language);
    match write_sample(&args.out, &spec) {
        Ok(()) => {
            println!(
                "wrote {} ({} {:?} page(s), {:?})",
                args.out.display(),
                args.pages,
                args.kind,
                args.language
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: writing the sample: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    ensure_single_threaded_openmp();
    // reqwest and the S3 client both use rustls; name the provider once for the process.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    match cli.command {
        Command::Extract(args) => run_extract(args, false),
        Command::Job(args) => run_extract(args, true),
        Command::Sample(args) => run_sample(args),
        Command::PdfWorker => {
            ExitCode::from(u8::try_from(pdfx_ocr_runner::pdf_process::server::serve()).unwrap_or(1))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The operator's environment for a Job, read through this command line:
    /// every variable the contract names is the fallback of one argument, and
    /// giving each value to that argument yields the same options.
    #[test]
    fn the_job_environment_round_trips_through_the_command_line() {
        let expected = RunnerOptions {
            source: "s3://bucket/extractions/ns/a/source.pdf".into(),
            output: "s3://bucket/extractions/ns/a/".into(),
            languages: vec!["kor".into(), "eng".into()],
            dpi: 450,
            mode: OcrMode::Never,
            pages: Some("2-4,9".into()),
            engine: OcrEngine::Http,
            ocr_endpoint: Some("http://ocr.example:8000/v1".into()),
            url_allowed_ranges: vec!["10.1.0.0/16".into()],
        };
        let command = Cli::command();
        let job = command
            .get_subcommands()
            .find(|c| c.get_name() == "job")
            .unwrap();
        let mut argv = vec!["pdfx-ocr-runner".to_owned(), "job".to_owned()];
        let mut positional = None;
        for (name, value) in expected.to_env() {
            let arg = job
                .get_arguments()
                .find(|a| a.get_env().and_then(|e| e.to_str()) == Some(name))
                .unwrap_or_else(|| panic!("no argument reads {name}"));
            match arg.get_long() {
                Some(long) => argv.extend([format!("--{long}"), value]),
                None => positional = Some(value),
            }
        }
        argv.push(positional.unwrap());
        let Command::Job(args) = Cli::try_parse_from(argv).unwrap().command else {
            panic!("not the job command")
        };
        assert_eq!(options_from(&args), expected);
    }
}
